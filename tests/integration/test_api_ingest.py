"""Ingestion over the REST API on every engine: a file's rows land as `cantata ingest` lands
them (upserts, rejects to quarantine), files beyond the 5 MB of other bodies are taken, and
the roles and the server's quarantine folder are checked."""

from __future__ import annotations

from pathlib import Path

from cantata.server.app import api_app
from tests.integration.api_fixtures import Api, api, workspace_root

__all__ = ["api", "workspace_root"]  # fixtures

HEADER = "customer_id,email,first_name,tier,time_zone,updated_at\n"


def test_a_file_is_ingested_with_rejects_quarantined(api: Api, workspace_root: Path) -> None:
    rows = HEADER + (
        "9001,new1@example.com,Nina,gold,Europe/Paris,2026-05-01T00:00:00Z\n"
        "9002,new2@example.com,Omar,basic,Europe/Paris,2026-05-01T00:00:00Z\n"
        "not-a-number,bad@example.com,Bad,basic,Europe/Paris,2026-05-01T00:00:00Z\n"
    )
    url = "/entities/customer/rows?format=csv&name=spring.csv"
    assert api.call("POST", url, content=rows, role="viewer").status_code == 403
    done = api.ok("POST", url, content=rows, role="editor")
    assert (done["read"], done["upserted"], done["rejected"]) == (3, 2, 1)
    assert "spring" in done["quarantine"] and Path(done["quarantine"]).is_file()
    assert api.store.scalar("SELECT first_name FROM customer WHERE customer_id = 9002") == "Omar"
    unknown = api.call("POST", "/entities/custmer/rows?format=csv", content=rows, role="editor")
    assert unknown.status_code == 400 and "did you mean 'customer'" in unknown.json()["error"]


def test_a_file_larger_than_other_bodies_is_taken(api: Api) -> None:
    lines = [
        f"{10_000 + i},big{i}@example.com,Name{i},basic,Europe/Paris,2026-05-01T00:00:00Z\n"
        for i in range(80_000)
    ]
    body = (HEADER + "".join(lines)).encode()
    assert len(body) > 5 * 1024 * 1024  # the cap of every other route
    done = api.ok("POST", "/entities/customer/rows?format=csv", content=body, role="editor")
    assert (done["read"], done["upserted"], done["rejected"]) == (80_000, 80_000, 0)


def test_a_server_without_a_workspace_does_not_ingest(api: Api) -> None:
    bare = Api(api_app(api.store, api.app.state.service.model), api.store, api.clock, api.tokens)
    refused = bare.call("POST", "/entities/customer/rows?format=csv", content=HEADER, role="editor")
    assert refused.status_code == 409 and "quarantine folder" in refused.json()["error"]
