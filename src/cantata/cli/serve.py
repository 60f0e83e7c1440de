"""`cantata serve`: the REST API under uvicorn, on the workspace's store and model.

On DuckDB the serving process owns the store file: run one worker, with `--all` to have the
same process serve the tracking app and do the scheduler's and the dispatcher's work. On
PostgreSQL any number of workers and other processes share the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import typer
from fastapi import FastAPI

from cantata.canvas.alert_notices import alert_notifier
from cantata.cli.common import (
    WorkspaceOption,
    err_console,
    reports_errors,
    serve_in_workers,
    workspace,
)
from cantata.errors import ConfigError
from cantata.store import open_store
from cantata.tracking.app import redact_callback_keys
from cantata.workspace import Workspace

log = logging.getLogger("cantata.serve")


def workspace_api() -> FastAPI:
    """The API of the workspace in $CANTATA_WORKSPACE; each worker process opens its store."""
    from cantata.server.app import api_app

    ws = Workspace.open()  # $CANTATA_WORKSPACE, set by serve_in_workers
    url, root = ws.settings.store_url, ws.root
    return api_app(
        lambda: open_store(url, base=root),
        ws.model,
        on_alert=alert_notifier(ws.settings.raw),
        quarantine_dir=ws.settings.quarantine_path,
    )


@reports_errors
def serve(
    ws_path: WorkspaceOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8030,
    workers: Annotated[
        int, typer.Option(help="Worker processes (PostgreSQL stores only).", min=1)
    ] = 1,
    everything: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Also serve the tracking app (opens, clicks, unsubscribes, callbacks) and run "
            "the scheduler and the dispatcher in this process: one process does it all, as a "
            "DuckDB store needs.",
        ),
    ] = False,
    idle: Annotated[
        float, typer.Option(help="With --all: seconds the worker waits when nothing is due.")
    ] = 1.0,
) -> None:
    """Serve the REST API (OpenAPI at /openapi.json, docs at /docs); requests carry
    `Authorization: Bearer TOKEN` from `cantata token create`."""
    import uvicorn

    from cantata.server.app import api_app

    with workspace(ws_path) as ws:
        ws.apply_model()  # the tables the model needs, once, before serving
        if workers > 1 and everything:
            raise ConfigError("--all runs in one process: leave --workers at 1")
        if workers > 1:
            serve_in_workers(
                ws, "cantata.cli.serve:workspace_api", host=host, port=port, workers=workers
            )
            return
        # One process: it owns the store (the only way for DuckDB) and serves from it.
        app = api_app(
            ws.store,
            ws.model,
            on_alert=alert_notifier(ws.settings.raw),
            quarantine_dir=ws.settings.quarantine_path,
        )
        if everything:
            with_everything(app, ws, idle)
            redact_callback_keys()
        uvicorn.run(app, host=host, port=port)


def with_everything(app: FastAPI, ws: Workspace, idle: float = 1.0) -> None:
    """Add the tracking app (its paths — /o, /c, /u, /callbacks, /bounces — beside the API's)
    when `[tracking]` is set, and the background work (scheduler and dispatcher) for the life
    of the server."""
    from cantata.server.worker import work
    from cantata.tracking.app import tracking_app
    from cantata.tracking.settings import tracking_settings

    if "tracking" in ws.settings.raw:
        conf = tracking_settings(ws.settings.raw)
        tracking = tracking_app(
            ws.store,
            conf.secret,
            callback_secret=conf.callback_secret,
            group_max=conf.group_max,
            group_window=conf.group_window,
        )
        app.mount("/", tracking)
    else:  # messages then go out without tracked links, as `cantata dispatch` sends them
        err_console.print(
            "note: no \\[tracking] in cantata.toml: opens, clicks and unsubscribes are not "
            "tracked (set secret and base_url to this server's address)"
        )

    async def supervised(stop: asyncio.Event) -> None:
        # A failed round (the store unreachable a moment, a provider misconfigured) is logged
        # and retried: the API and tracking go on serving meanwhile.
        while not stop.is_set():
            try:
                await work(ws, stop=stop, schedule=True, idle=idle)
            except Exception:
                log.exception("background work failed; retrying in %.0f s", idle * 10)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=idle * 10)

    @asynccontextmanager
    async def working(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(supervised(stop))
        try:
            yield
        finally:
            stop.set()
            await task

    app.router.lifespan_context = working
