"""`cantata serve`: the REST API under uvicorn, on the workspace's store and model.

On DuckDB the serving process owns the store file: run one worker, and stop the server before
another process (`cantata dispatch`, `cantata scheduler`) opens the store. On PostgreSQL any
number of workers and other processes share the store.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from fastapi import FastAPI

from cantata.cli.common import WorkspaceOption, reports_errors, workspace
from cantata.errors import ConfigError
from cantata.store import open_store
from cantata.workspace import Workspace

# With several workers uvicorn imports the app in each process: the workspace goes by env.
WORKSPACE_ENV = "CANTATA_WORKSPACE"


def workspace_api() -> FastAPI:
    """The API of the workspace in $CANTATA_WORKSPACE; each worker process opens its store."""
    from cantata.server.app import api_app

    ws = Workspace.open(Path(os.environ[WORKSPACE_ENV]) if WORKSPACE_ENV in os.environ else None)
    url, root = ws.settings.store_url, ws.root
    return api_app(lambda: open_store(url, base=root), ws.model)


@reports_errors
def serve(
    ws_path: WorkspaceOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8030,
    workers: Annotated[
        int, typer.Option(help="Worker processes (PostgreSQL stores only).", min=1)
    ] = 1,
) -> None:
    """Serve the REST API (OpenAPI at /openapi.json, docs at /docs); requests carry
    `Authorization: Bearer TOKEN` from `cantata token create`."""
    import uvicorn

    from cantata.server.app import api_app

    with workspace(ws_path) as ws:
        ws.apply_model()  # the tables the model needs, once, before serving
        if workers > 1:
            if ws.store.dialect != "postgres":
                raise ConfigError(
                    "--workers > 1 needs a PostgreSQL store: a DuckDB file has one owner "
                    "process (run one worker)",
                    where="[store] url",
                )
            os.environ[WORKSPACE_ENV] = str(ws.root)
            ws.close()
            uvicorn.run(
                "cantata.cli.serve:workspace_api",
                factory=True,
                host=host,
                port=port,
                workers=workers,
            )
            return
        # One process: it owns the store (the only way for DuckDB) and serves from it.
        uvicorn.run(api_app(ws.store, ws.model), host=host, port=port)
