"""The API as users reach it: tokens from the CLI, a real uvicorn server, the OpenAPI document
listing every route, and `cantata serve` refusing what a DuckDB store cannot do."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi.routing import APIRoute

from cantata.server import (
    audiences,
    campaigns,
    ingest_routes,
    model_routes,
    reports,
    runs,
    templates,
    token_routes,
)
from cantata.server.app import api_app
from cantata.workspace import Workspace, init_workspace
from tests.e2e.cli import fails, run
from tests.integration.api_fixtures import Api, Clock, api, cli_json, workspace_root

__all__ = ["api", "workspace_root"]  # fixtures

# Every route, so that a route dropped by mistake fails here too.
ROUTES = {
    ("GET", "/health"),
    ("GET", "/campaigns"),
    ("POST", "/campaigns/validate"),
    ("POST", "/campaigns/test"),
    ("GET", "/campaigns/{name}"),
    ("GET", "/campaigns/{name}/versions/{number}"),
    ("PUT", "/campaigns/{name}/draft"),
    ("POST", "/campaigns/{name}/publish"),
    ("POST", "/campaigns/{name}/pause"),
    ("POST", "/campaigns/{name}/resume"),
    ("POST", "/campaigns/{name}/stop"),
    ("POST", "/campaigns/{name}/close"),
    ("POST", "/campaigns/{name}/archive"),
    ("GET", "/campaigns/{name}/schedule-preview"),
    ("GET", "/campaigns/{name}/runs"),
    ("POST", "/campaigns/{name}/runs"),
    ("GET", "/campaigns/{name}/report"),
    ("GET", "/runs/{run_id}"),
    ("GET", "/runs/{run_id}/transitions/{transition}/rows"),
    ("POST", "/runs/{run_id}/pause"),
    ("POST", "/runs/{run_id}/resume"),
    ("POST", "/runs/{run_id}/stop"),
    ("POST", "/runs/{run_id}/confirm"),
    ("GET", "/audiences"),
    ("POST", "/audiences/count"),
    ("GET", "/audiences/{name}"),
    ("PUT", "/audiences/{name}"),
    ("POST", "/audiences/sql"),
    ("GET", "/model"),
    ("POST", "/entities/{entity}/rows"),
    ("GET", "/templates"),
    ("GET", "/templates/{name}"),
    ("PUT", "/templates/{name}"),
    ("GET", "/tokens"),
    ("POST", "/tokens"),
    ("DELETE", "/tokens/{name}"),
}


def test_the_openapi_document_lists_every_route(api: Api) -> None:
    document = api.ok("GET", "/openapi.json", role=None)
    listed = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    routers = [
        m.router
        for m in (
            campaigns,
            runs,
            audiences,
            reports,
            templates,
            model_routes,
            ingest_routes,
            token_routes,
        )
    ]
    served = {
        (m, r.path)
        for r in [*api.app.routes, *(r for router in routers for r in router.routes)]
        if isinstance(r, APIRoute) and r.include_in_schema
        for m in r.methods
    }
    assert listed == served == ROUTES
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    validate = document["paths"]["/campaigns/validate"]["post"]
    assert "application/yaml" in validate["requestBody"]["content"]
    start = document["paths"]["/campaigns/{name}/runs"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in start["parameters"])
    docs = api.call("GET", "/docs", role=None)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


@contextmanager
def uvicorn_server(root: Path) -> Iterator[str]:
    """The workspace's API under uvicorn on a port the OS picks; the socket is bound before
    the server starts, so requests wait in the backlog instead of the test waiting."""
    with Workspace.open(root) as ws:
        app = api_app(ws.store, ws.model, now=Clock())
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        host, port = sock.getsockname()
        srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            yield f"http://{host}:{port}"
        finally:
            srv.should_exit = True
            thread.join(timeout=10)
            sock.close()


def test_cli_tokens_through_a_real_server(workspace_root: Path) -> None:
    ws = str(workspace_root)
    ops = cli_json("token", "create", "ops", "--role", "publisher", "-w", ws)
    old = cli_json("token", "create", "old", "--role", "admin", "-w", ws)
    assert ops["role"] == "publisher" and ops["token"].startswith("cantata_")
    assert "revoked old" in run("token", "revoke", "old", "-w", ws)
    listed = {t["name"]: t for t in cli_json("token", "list", "-w", ws)}
    assert listed["old"]["revoked_at"] is not None and listed["ops"]["revoked_at"] is None
    assert all("token" not in t for t in listed.values())  # never the secret again
    assert "a token named 'ops' exists already" in fails(
        "token", "create", "ops", "--role", "viewer", "-w", ws
    )
    with uvicorn_server(workspace_root) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/health").json()["status"] == "ok"
        assert client.get("/campaigns").status_code == 401
        bearer = {"Authorization": f"Bearer {ops['token']}"}
        assert client.get("/campaigns", headers=bearer).json() == []
        revoked = client.get("/campaigns", headers={"Authorization": f"Bearer {old['token']}"})
        assert revoked.status_code == 401
        counted = client.post(
            "/audiences/count",
            headers=bearer,
            json={"entity": "customer", "rule": "tier = 'gold'"},
        )
        assert counted.json() == {"entity": "customer", "count": 3}


def test_serve_refuses_workers_on_duckdb(tmp_path: Path) -> None:
    init_workspace(tmp_path)  # a DuckDB store: one owner process
    out = fails("serve", "-w", str(tmp_path), "--workers", "2")
    assert "--workers > 1 needs a PostgreSQL store" in out
