"""`cantata demo`: the main job, end to end on the embedded store."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from cantata.cli.common import console, reports_errors
from cantata.demo.journey import CAMPAIGN, run_journey
from cantata.generate.travel import generate_travel
from cantata.ingest import ingest_file
from cantata.profile.consent import import_consent
from cantata.workspace import Workspace, init_workspace

ENTITY_ORDER = ("customer", "hotel", "booking", "flight")


@reports_errors
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to create the demo workspace.")
    ] = Path("demo-workspace"),
    customers: Annotated[int, typer.Option(help="Number of customers to generate.")] = 50_000,
    store: Annotated[
        str, typer.Option(help="Store URL (default: DuckDB file in the workspace).")
    ] = "duckdb:///cantata.duckdb",
) -> None:
    """Create a travel-company workspace, generate and ingest its data, run a multi-step
    campaign end to end against local SMTP and SMS servers, and print its report."""
    if directory.exists():
        shutil.rmtree(directory)
    init_workspace(directory, store_url=store)
    console.rule("[bold]cantata demo")
    console.print(f"workspace: {directory.resolve()}")
    data = directory / "data"
    started = time.perf_counter()
    files = generate_travel(data, customers=customers, seed=7, dirty=True)
    console.print(
        f"generated {customers:,} customers and their data in {time.perf_counter() - started:.1f}s"
    )
    with Workspace.open(directory) as ws:
        ws.apply_model()
        for name in ENTITY_ORDER:
            t0 = time.perf_counter()
            result = ingest_file(
                ws.store,
                ws.model,
                name,
                getattr(files, name),
                quarantine_dir=ws.settings.quarantine_path,
            )
            console.print(
                f"  ingest {name:<9} read {result.read:>9,}  upserted {result.upserted:>9,}  "
                f"deleted {result.deleted:>5,}  skipped {result.skipped:>5,}  rejected "
                f"{result.rejected:>5,}  ({time.perf_counter() - t0:.2f}s)"
            )
        consent = import_consent(ws.store, files.consent)
        console.print(f"  consent   applied {consent.applied:,} records")
    from cantata.cli.model import show

    show(ws_path=directory, as_json=False)
    _run_campaign(directory)


def _run_campaign(directory: Path) -> None:
    """The multi-step campaign, live on a fast-forwarded clock, then its report."""
    from cantata.cli.delivery import report

    console.rule(f"[bold]campaign {CAMPAIGN}: live run on a fast-forwarded clock")
    # 08:00 UTC today: morning in Europe, night in the Americas (quiet hours defer those).
    start = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
    with Workspace.open(directory) as ws:
        result = run_journey(
            ws, start, lambda s: console.print(f"  {s.at:%a %H:%M} UTC  {escape(s.text)}")
        )
    console.print(
        f"  the local SMTP server received {result.emails:,} emails, the SMS endpoint "
        f"{result.sms:,} messages"
    )
    report(name=CAMPAIGN, ws_path=directory, as_json=False, as_csv=False)
    folder = escape(str(directory))
    console.print(
        "\nExplore it in the browser — the canvas, the runs, audiences, this report:\n"
        f"  cantata token create me --role admin -w {folder}\n"
        f"  cantata serve --all -w {folder}      # then open http://127.0.0.1:8030/ui/\n"
        "(in the source tree, `make ui` builds the UI once)",
        highlight=False,
    )
