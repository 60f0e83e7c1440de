"""Bearer tokens and roles on every engine: 401 without a live token, 403 below the role a
route needs, roles cumulative; tokens kept as hashes and managed by admins."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from tests.integration.api_fixtures import NOW, STAYS, Api, api, workspace_root

__all__ = ["api", "workspace_root"]  # fixtures


def test_health_needs_no_token(api: Api) -> None:
    assert api.ok("GET", "/health", role=None)["status"] == "ok"


def test_no_token_malformed_or_unknown_is_401_with_a_json_error(api: Api) -> None:
    response = api.call("GET", "/campaigns", role=None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["where"] == "Authorization" and "missing bearer token" in body["error"]
    for wrong in ("nonsense", api.tokens["admin"][:-2] + "xx", "cantata_000000000000_" + "a" * 43):
        response = api.call(
            "GET", "/campaigns", role=None, headers={"Authorization": f"Bearer {wrong}"}
        )
        assert response.status_code == 401
        assert response.json() == {"error": "invalid or revoked token", "where": "Authorization"}


def test_a_revoked_token_is_401_and_only_hashes_are_stored(api: Api) -> None:
    assert api.ok("GET", "/campaigns", role="viewer") == []
    secret = api.tokens["viewer"]
    stored = api.store.fetchall("SELECT secret_hash FROM cantata_api_token")
    assert (hashlib.sha256(secret.encode()).hexdigest(),) in stored
    assert all(
        secret not in str(row) for row in api.store.fetchall("SELECT * FROM cantata_api_token")
    )
    api.clock.now = NOW + timedelta(hours=1)
    revoked = api.ok("DELETE", "/tokens/viewer-token")
    assert revoked["revoked_at"] == (NOW + timedelta(hours=1)).isoformat()
    assert api.call("GET", "/campaigns", role="viewer").status_code == 401
    listed = {t["name"]: t for t in api.ok("GET", "/tokens")}
    assert listed["viewer-token"]["last_used_at"] == NOW.isoformat()  # the request before
    assert listed["admin-token"]["revoked_at"] is None


def test_roles_are_cumulative(api: Api) -> None:
    body = STAYS.read_text()
    # viewer reads, but cannot validate, save drafts or publish
    assert api.call("GET", "/campaigns", role="viewer").status_code == 200
    refused = api.call("POST", "/campaigns/validate", role="viewer", content=body)
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "token 'viewer-token' is a viewer; this needs the editor role or above",
        "where": "Authorization",
    }
    assert (
        api.call(
            "POST", "/campaigns/upcoming_stays/publish", role="viewer", content=body
        ).status_code
        == 403
    )
    # editor validates and saves drafts, but cannot publish or start
    assert api.call("POST", "/campaigns/validate", role="editor", content=body).status_code == 200
    assert (
        api.call("PUT", "/campaigns/upcoming_stays/draft", role="editor", content=body).status_code
        == 200
    )
    assert api.call("POST", "/campaigns/upcoming_stays/publish", role="editor").status_code == 403
    # publisher publishes (the saved draft) and starts
    published = api.ok("POST", "/campaigns/upcoming_stays/publish", role="publisher")
    assert (published["version"], published["status"], published["state"]) == (
        1,
        "published",
        "live",
    )
    assert api.call("POST", "/campaigns/upcoming_stays/runs", role="editor").status_code == 403
    assert api.call("POST", "/campaigns/upcoming_stays/runs", role="publisher").status_code == 201
    # only admins manage tokens
    assert api.call("GET", "/tokens", role="publisher").status_code == 403
    created = api.ok("POST", "/tokens", 201, json={"name": "ci", "role": "editor"})
    assert created["role"] == "editor" and created["token"].startswith("cantata_")
    api.tokens["ci"] = created["token"]
    assert api.call("POST", "/campaigns/validate", role="ci", content=body).status_code == 200
    assert api.call("POST", "/campaigns/upcoming_stays/runs", role="ci").status_code == 403


def test_token_errors_name_the_problem(api: Api) -> None:
    bad_role = api.call("POST", "/tokens", json={"name": "x", "role": "root"})
    assert bad_role.status_code == 400
    assert bad_role.json() == {
        "error": "unknown role 'root' (valid: admin, editor, publisher, viewer)",
        "where": "--role",
    }
    again = api.call("POST", "/tokens", json={"name": "admin-token", "role": "admin"})
    assert again.status_code == 400 and "exists already" in again.json()["error"]
    missing = api.call("DELETE", "/tokens/nobody")
    assert missing.status_code == 404 and missing.json()["error"].startswith("no token 'nobody'")
    shape = api.call("POST", "/tokens", json={"name": "x"})
    assert shape.status_code == 422 and shape.json()["where"] == "body.role"


def test_the_document_declares_the_error_answers(api: Api) -> None:
    # Found by fuzzing: no route declared its 401/403/404/409, and the 422 it declared was
    # FastAPI's shape, not the {"error", "where", "problems"} the API answers.
    doc = api.ok("GET", "/openapi.json", role=None)
    error = {"$ref": "#/components/schemas/ErrorBody"}

    def declared(path: str, method: str) -> dict[str, object]:
        answers = doc["paths"][path][method]["responses"]
        return {
            code: answers[code]["content"]["application/json"]["schema"]
            for code in answers
            if code >= "400"
        }

    assert declared("/campaigns", "get") == dict.fromkeys(["400", "401", "403", "422"], error)
    assert set(declared("/runs/{run_id}/pause", "post")) == {
        "400",
        "401",
        "403",
        "404",
        "409",
        "422",
    }
    assert set(declared("/tokens/{name}", "delete")) == {"400", "401", "403", "404", "422"}
    assert "responses" not in doc["paths"]["/health"]["get"] or set(
        doc["paths"]["/health"]["get"]["responses"]
    ) == {"200"}
    assert set(doc["components"]["schemas"]["ErrorBody"]["required"]) == {"error", "where"}


def test_a_body_beyond_the_limit_is_refused_before_anything_reads_it(api: Api) -> None:
    huge = b'{"entity": "customer", "rule": "' + b"x" * (6 * 1024 * 1024) + b'"}'
    headers = {"Content-Type": "application/json"}
    refused = api.call("POST", "/audiences/count", content=huge, headers=headers, role="viewer")
    assert (refused.status_code, refused.text) == (413, "Content Too Large")
    # Without a token nothing is read at all: FastAPI would parse the JSON before the check.
    anonymous = api.call("POST", "/audiences/count", content=huge, headers=headers, role=None)
    assert anonymous.status_code == 401 and "missing bearer token" in anonymous.json()["error"]
    broken = api.call("POST", "/audiences/count", content=b"{bad", headers=headers, role=None)
    assert broken.status_code == 401  # not a 422 "JSON decode error" for a caller without token
    forged = api.call(
        "POST",
        "/audiences/count",
        content=b"{bad",
        headers={**headers, "Authorization": "Bearer not-a-cantata-token"},
        role=None,
    )
    assert forged.status_code == 401 and forged.json()["error"] == "invalid or revoked token"
    assert forged.headers["www-authenticate"] == "Bearer"
    assert api.call("GET", "/health", role=None).status_code == 200
