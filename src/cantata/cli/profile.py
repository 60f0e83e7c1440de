"""`cantata consent import` and `cantata suppression add | import | list`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cantata.cli.common import (
    JsonOption,
    WorkspaceOption,
    console,
    print_json,
    reports_errors,
    workspace,
)
from cantata.profile.consent import import_consent
from cantata.profile.suppression import (
    REASONS,
    add_suppression,
    import_suppressions,
    list_suppressions,
)

consent_app = typer.Typer(help="Consent per recipient, channel and purpose.", no_args_is_help=True)
suppression_app = typer.Typer(help="Addresses never to contact.", no_args_is_help=True)


@consent_app.command("import")
@reports_errors
def consent_import(
    file: Path, ws_path: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """Import consent records (recipient, channel, status[, purpose, source, updated_at])."""
    with workspace(ws_path) as ws:
        result = import_consent(ws.store, file)
    if as_json:
        print_json(result.as_json())
        return
    console.print(
        f"consent ← {file.name}: read {result.read:,}, applied {result.applied:,}, "
        f"skipped (older) {result.skipped:,}, rejected {result.rejected:,}"
    )
    for line, reason in result.rejects[:20]:
        console.print(f"  line {line}: {reason}")


@suppression_app.command("add")
@reports_errors
def suppression_add(
    address: str,
    channel: Annotated[str, typer.Option(help="email, sms, push...")] = "email",
    reason: Annotated[str, typer.Option(help=", ".join(REASONS))] = "manual",
    ws_path: WorkspaceOption = None,
) -> None:
    """Suppress one address."""
    with workspace(ws_path) as ws:
        added = add_suppression(ws.store, address, channel, reason, source="cli")
    console.print("suppressed" if added else "already suppressed")


@suppression_app.command("import")
@reports_errors
def suppression_import(
    file: Path,
    channel: Annotated[str | None, typer.Option(help="Channel when the file has none.")] = None,
    ws_path: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import a CSV with address[, channel, reason]."""
    with workspace(ws_path) as ws:
        read, added, rejects = import_suppressions(ws.store, file, default_channel=channel)
    if as_json:
        print_json({"read": read, "added": added, "rejected": len(rejects)})
        return
    console.print(
        f"suppression ← {file.name}: read {read:,}, added {added:,}, rejected {len(rejects):,}"
    )
    for line, why in rejects[:20]:
        console.print(f"  line {line}: {why}")


@suppression_app.command("list")
@reports_errors
def suppression_list(
    channel: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option()] = 100,
    ws_path: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """List suppressed addresses, newest first."""
    with workspace(ws_path) as ws:
        rows = list_suppressions(ws.store, channel=channel, limit=limit)
    if as_json:
        print_json([r.__dict__ for r in rows])
        return
    table = Table("address", "channel", "reason", "since", "source")
    for r in rows:
        table.add_row(r.address, r.channel, r.reason, r.since.isoformat(" "), r.source or "")
    console.print(table)
