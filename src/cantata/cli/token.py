"""`cantata token create | list | revoke`: the REST API's bearer tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cantata.cli.common import (
    JsonOption,
    WorkspaceOption,
    console,
    err_console,
    print_json,
    reports_errors,
    workspace,
)
from cantata.server.tokens import ROLES, create_token, list_tokens, revoke_token

app = typer.Typer(help="API tokens for `cantata serve`.", no_args_is_help=True)


@app.command("create")
@reports_errors
def create(
    name: Annotated[str, typer.Argument(help="A name for the token (who or what uses it).")],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLES)}.")],
    ws_path: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a token with a role and print it once (only its hash is kept)."""
    with workspace(ws_path) as ws:
        token, text = create_token(ws.store, name, role, now=datetime.now(UTC))
    if as_json:
        print_json({**token.as_json(), "token": text})
        return
    err_console.print(
        f"token {escape(token.name)} ({token.role}) — shown once, keep it now:", highlight=False
    )
    console.print(text, highlight=False, soft_wrap=True)


@app.command("list")
@reports_errors
def list_(ws_path: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Tokens: name, role, created, last used, revoked."""
    with workspace(ws_path) as ws:
        found = list_tokens(ws.store)
    if as_json:
        print_json([t.as_json() for t in found])
        return
    if not found:
        console.print("no token: `cantata token create NAME --role ROLE`")
        return
    table = Table("name", "role", "created (UTC)", "last used", "revoked")
    for t in found:
        table.add_row(
            escape(t.name),
            t.role,
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "",
            f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "",
        )
    console.print(table)


@app.command("revoke")
@reports_errors
def revoke(name: str, ws_path: WorkspaceOption = None) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    with workspace(ws_path) as ws:
        token = revoke_token(ws.store, name, now=datetime.now(UTC))
    assert token.revoked_at is not None
    console.print(f"revoked {escape(token.name)} at {token.revoked_at:%Y-%m-%d %H:%M} UTC")
