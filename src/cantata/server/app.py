"""The REST API app: `api_app(store, model, now=...)`. OpenAPI at /openapi.json, docs at /docs.

Routes are thin: each calls the library functions the CLI calls. Store work runs in the
threadpool, one request at a time per process (a store holds one connection; on DuckDB the
serving process owns the file).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from cantata import __version__
from cantata.canvas.runtime.flow import AlertRaised
from cantata.model import Model
from cantata.server import (
    audiences,
    campaigns,
    errors,
    ingest_routes,
    model_routes,
    reports,
    runs,
    templates,
    token_routes,
)
from cantata.server.auth import TokenFirst
from cantata.server.bodies import MAX_UPLOAD
from cantata.server.service import Clock, Service
from cantata.store.access import StoreAccess
from cantata.store.base import Store


def utc_now() -> datetime:
    return datetime.now(UTC)


def api_app(
    store: Store | Callable[[], Store],
    model: Model,
    *,
    now: Clock = utc_now,
    on_alert: Callable[[AlertRaised], None] | None = None,
    quarantine_dir: Path | None = None,
) -> FastAPI:
    """The API over a store (or a factory opening one per process) and a model whose tables
    exist (`apply_model` ran); `now` is the clock every route reads; `on_alert` notifies the
    alerts of the runs it advances; `quarantine_dir` takes ingestion's rejected rows."""
    app = FastAPI(
        title="cantata",
        version=__version__,
        description="Campaigns, runs and audiences over HTTP. Authenticate with "
        "`Authorization: Bearer TOKEN` (`cantata token create NAME --role ROLE`).",
        # The largest body any route takes (a file to ingest); each router bounds its own.
        max_body_size=MAX_UPLOAD,
    )
    app.state.service = Service(StoreAccess(store), model, now, on_alert, quarantine_dir)
    errors.install(app)

    @app.get("/health", tags=["health"], summary="Liveness (no token needed)")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    routes = (campaigns, reports, runs, audiences, templates, model_routes, ingest_routes)
    for module in (*routes, token_routes):
        app.include_router(module.router)
    prefixes = {m.router.prefix for m in (*routes, token_routes) if m.router.prefix}
    app.add_middleware(TokenFirst, prefixes=sorted(prefixes))
    _mount_ui(app)
    return app


UI = Path(__file__).parent / "static" / "ui"  # `make ui` builds the canvas editor here


def _mount_ui(app: FastAPI) -> None:
    """The web UI at /ui/ when it is built; else a page saying how to build it."""
    if (UI / "index.html").is_file():
        app.mount("/ui", StaticFiles(directory=UI, html=True), name="ui")
        return

    @app.get("/ui", include_in_schema=False)
    @app.get("/ui/{rest:path}", include_in_schema=False)
    def unbuilt(rest: str = "") -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><title>cantata</title><p>The web UI is not built: run "
            "<code>make ui</code> (Node.js 20 or later), then restart <code>cantata serve</code>.",
            status_code=404,
        )
