"""`cantata tracking serve`: the tracking app (opens, clicks, unsubscribes, callbacks,
bounces) under uvicorn, on the workspace's store and `[tracking]` settings."""

from __future__ import annotations

from typing import Annotated

import typer
from starlette.applications import Starlette

from cantata.cli.common import (
    WorkspaceOption,
    err_console,
    reports_errors,
    serve_in_workers,
    workspace,
)
from cantata.store import open_store
from cantata.tracking.app import redact_callback_keys, tracking_app
from cantata.tracking.settings import tracking_settings
from cantata.workspace import Workspace

app = typer.Typer(
    help="The tracking server: opens, clicks, unsubscribes, bounces.", no_args_is_help=True
)


def workspace_app() -> Starlette:
    """The app of the workspace in $CANTATA_WORKSPACE; each worker process opens its store."""
    ws = Workspace.open()  # $CANTATA_WORKSPACE, set by serve_in_workers
    conf = tracking_settings(ws.settings.raw)
    url, root = ws.settings.store_url, ws.root
    return tracking_app(
        lambda: open_store(url, base=root),
        conf.secret,
        callback_secret=conf.callback_secret,
        group_max=conf.group_max,
        group_window=conf.group_window,
    )


@app.command("serve")
@reports_errors
def serve(
    ws_path: WorkspaceOption = None,
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to listen on (default [tracking] host, else 127.0.0.1).",
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Port (default [tracking] port, else 8025).", show_default=False),
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Worker processes (PostgreSQL stores only).", min=1)
    ] = 1,
) -> None:
    """Serve the tracking app: open pixel, click redirects, unsubscribe, callbacks, DSNs."""
    import uvicorn

    with workspace(ws_path) as ws:
        conf = tracking_settings(ws.settings.raw)
        bind_host, bind_port = host or conf.host, port or conf.port
        if conf.callback_secret is None:
            err_console.print(
                "note: \\[tracking] callback_secret is not set: provider callbacks and "
                "/bounces are refused"
            )
        if workers > 1:
            serve_in_workers(
                ws,
                "cantata.cli.tracking:workspace_app",
                host=bind_host,
                port=bind_port,
                workers=workers,
            )
            return
        # One process: it owns the store (the only way for DuckDB) and serves from it.
        the_app = tracking_app(
            ws.store,
            conf.secret,
            callback_secret=conf.callback_secret,
            group_max=conf.group_max,
            group_window=conf.group_window,
        )
        redact_callback_keys()
        uvicorn.run(the_app, host=bind_host, port=bind_port)
