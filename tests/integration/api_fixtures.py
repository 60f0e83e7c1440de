"""The REST API under test: a workspace on each engine holding the sample travel data of the
canvas tests, a token per role, and requests through httpx's ASGI transport with a clock the
test moves."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cantata.server.app import api_app
from cantata.server.tokens import ROLES, create_token
from cantata.store import Store
from cantata.workspace import Workspace, init_workspace
from tests.conftest import drop_schema, store_url
from tests.e2e.cli import run as cli
from tests.integration.test_canvas_activities import load_sample

EXAMPLES = Path(__file__).parents[2] / "examples"
STAYS = EXAMPLES / "upcoming_stays.yaml"
NOW = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)  # 08:00 in Paris: the campaign's fire time


@dataclass
class Clock:
    """The time every route reads; tests move it."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Api:
    app: FastAPI
    store: Store
    clock: Clock
    tokens: dict[str, str] = field(default_factory=dict)  # role → token

    def call(
        self, method: str, url: str, *, role: str | None = "admin", **kwargs: Any
    ) -> httpx.Response:
        """One request as a token of `role` (None: no Authorization header)."""
        headers = dict(kwargs.pop("headers", {}))
        if role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                return await client.request(method, url, headers=headers, **kwargs)

        return asyncio.run(go())

    def ok(self, method: str, url: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.call(method, url, **kwargs)
        assert response.status_code == status, response.text
        return response.json()


@pytest.fixture
def workspace_root(engine: str, tmp_path: Path) -> Iterator[Path]:
    """A workspace (cantata.toml + the starter model) whose store holds the sample data."""
    url, schema = store_url(engine, tmp_path)
    root = tmp_path / "ws"
    init_workspace(root, store_url=url if engine == "postgres" else "duckdb:///cantata.duckdb")
    with Workspace.open(root) as ws:
        load_sample(ws.store, ws.model)
    try:
        yield root
    finally:
        if schema:
            drop_schema(schema)


@contextmanager
def serving(root: Path) -> Iterator[Api]:
    """The API over the workspace's store, with a token of every role."""
    clock = Clock()
    with Workspace.open(root) as ws:
        app = api_app(ws.store, ws.model, now=clock, quarantine_dir=ws.settings.quarantine_path)
        api = Api(app, ws.store, clock)
        for role in ROLES:
            _, api.tokens[role] = create_token(ws.store, f"{role}-token", role, now=NOW)
        yield api


@pytest.fixture
def api(workspace_root: Path) -> Iterator[Api]:
    with serving(workspace_root) as found:
        yield found


def cli_json(*args: str) -> Any:
    """`cantata ... --json` in-process, parsed."""
    return json.loads(cli(*args, "--json"))
