"""Audiences over the REST API on every engine: counts equal the CLI's for the same rule in
text and JSON form, saving makes versions, errors carry the CLI's messages."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.cli import run as cli
from tests.integration.api_fixtures import NOW, Api, api, cli_json, serving, workspace_root

__all__ = ["api", "workspace_root"]  # fixtures

RULE = (
    'count(bookings where status = "confirmed" and check_in between today() and today() + 14d) >= 1'
)
JSON_RULE = {"field": "tier", "op": "in", "value": ["gold", "platinum"]}
AS_OF = NOW.replace(tzinfo=None).isoformat()


def test_counts_equal_the_clis(workspace_root: Path) -> None:
    ws = str(workspace_root)
    by_cli = cli_json("audience", "count", "-e", "customer", "-r", RULE, "--now", AS_OF, "-w", ws)
    gold_cli = cli_json(
        "audience",
        "count",
        "-e",
        "customer",
        "-r",
        '{"field": "tier", "op": "in", "value": ["gold", "platinum"]}',
        "-w",
        ws,
    )
    with serving(workspace_root) as api:
        text = api.ok(
            "POST", "/audiences/count", json={"entity": "customer", "rule": RULE}, role="viewer"
        )
        gold = api.ok(
            "POST",
            "/audiences/count",
            json={"entity": "customer", "rule": JSON_RULE},
            role="viewer",
        )
        later = api.ok(
            "POST",
            "/audiences/count",
            json={"entity": "customer", "rule": RULE, "now": "2026-07-01T00:00:00"},
            role="viewer",
        )
    assert text == {"entity": "customer", "count": by_cli["count"]}
    assert by_cli["count"] == 3  # customers 1, 3 and 8 check in within two weeks
    assert gold["count"] == gold_cli["count"] == 4
    assert later["count"] == 1  # only customer 3's July stay is ahead then


def test_rule_errors_carry_the_clis_messages(api: Api) -> None:
    unknown = api.call(
        "POST", "/audiences/count", json={"entity": "custmer", "rule": RULE}, role="viewer"
    )
    assert unknown.status_code == 400
    assert unknown.json() == {
        "error": "unknown entity 'custmer' (did you mean 'customer'?)",
        "where": None,
    }
    bad_field = api.call(
        "POST",
        "/audiences/count",
        json={"entity": "customer", "rule": "tierr = 'gold'"},
        role="viewer",
    )
    assert bad_field.status_code == 422
    body = bad_field.json()
    assert "tier" in body["error"] and body["problems"][0]["path"] == "field"
    syntax = api.call(
        "POST", "/audiences/count", json={"entity": "customer", "rule": "tier = "}, role="viewer"
    )
    assert syntax.status_code == 422


def test_save_list_and_versions(api: Api) -> None:
    body = {"entity": "customer", "rule": JSON_RULE}
    assert api.call("PUT", "/audiences/gold", json=body, role="viewer").status_code == 403
    first = api.ok("PUT", "/audiences/gold", 201, json=body, role="editor")
    assert (first["name"], first["version"], first["size"], first["mode"]) == (
        "gold",
        1,
        4,
        "replace",
    )
    second = api.ok(
        "PUT",
        "/audiences/gold",
        201,
        json={**body, "rule": "tier = 'basic'", "append": True},
        role="editor",
    )
    assert (second["version"], second["size"], second["mode"]) == (2, 7, "append")
    listed = {a["name"]: a for a in api.ok("GET", "/audiences", role="viewer")}
    assert listed["gold"]["version"] == 2 and listed["vips"]["version"] == 2
    assert [v["size"] for v in api.ok("GET", "/audiences/gold", role="viewer")] == [4, 7]
    assert [v["version"] for v in api.ok("GET", "/audiences/gold?latest=true", role="viewer")] == [
        2
    ]
    # A saved audience is usable in rules at once.
    member = api.ok(
        "POST",
        "/audiences/count",
        json={"entity": "customer", "rule": "in_audience('gold')"},
        role="viewer",
    )
    assert member["count"] == 7
    missing = api.call("GET", "/audiences/golden", role="viewer")
    assert missing.status_code == 404
    assert missing.json()["error"].startswith("no saved audience 'golden' (did you mean 'gold'")


def test_text_with_nul_is_a_clear_error_on_every_engine(api: Api) -> None:
    # Found by fuzzing: PostgreSQL cut the rule's SQL at the NUL (a syntax error, a 500).
    rule = {"entity": "hotel", "rule": "city = 'Ber\x00lin'"}
    counted = api.call("POST", "/audiences/count", json=rule, role="viewer")
    assert counted.status_code == 422, counted.text
    assert counted.json()["problems"] == [
        {"path": "value", "message": "'Ber\\x00lin' contains a NUL character (\\x00)"}
    ]
    contains = {"entity": "hotel", "rule": {"field": "city", "op": "contains", "value": "\x00"}}
    assert api.call("POST", "/audiences/count", json=contains, role="viewer").status_code == 422
    # a name with NUL: PostgreSQL refused the parameter (a 500); now a 400 on both engines
    saved = api.call(
        "PUT", "/audiences/a%00b", json={"entity": "customer", "rule": "tier = 'gold'"}
    )
    assert saved.status_code == 400
    assert (
        saved.json()["error"]
        == "'a\\x00b' contains a NUL character (\\x00), which text cannot hold"
    )
    assert api.call("GET", "/audiences/a%00b", role="viewer").status_code == 400


def test_times_past_year_9999_are_rule_errors(api: Api) -> None:
    # Found by fuzzing: these overflowed Python's dates while building the SQL (a 500).
    for rule in ("check_in > today() + 99999999d", "check_in > today() - 9999999999999999999d"):
        found = api.call("POST", "/audiences/count", json={"entity": "booking", "rule": rule})
        assert found.status_code == 422, found.text
        assert "falls outside the years 1 to 9999" in found.json()["error"]
    late = {"entity": "customer", "rule": "tier = 'gold'", "now": "9999-12-31T23:59:59-10:00"}
    found = api.call("POST", "/audiences/count", json=late, role="viewer")
    assert found.status_code == 422 and found.json()["where"] == "now"


def test_the_code_view_and_the_model_equal_the_clis(workspace_root: Path) -> None:
    ws = str(workspace_root)
    by_cli = cli("audience", "sql", "-e", "customer", "-r", RULE, "--now", AS_OF, "-w", ws)
    model_cli = cli_json("model", "show", "-w", ws)
    with serving(workspace_root) as api:
        body = {"entity": "customer", "rule": RULE, "now": AS_OF, "dialect": "duckdb"}
        code = api.ok("POST", "/audiences/sql", json=body, role="viewer")
        spark = api.ok("POST", "/audiences/sql", json={**body, "dialect": "spark"}, role="viewer")
        model = api.ok("GET", "/model", role="viewer")
        bad = api.call("POST", "/audiences/sql", json={**body, "dialect": "oracle"}, role="viewer")
    assert code["sql"] == by_cli.strip() and '"bookings"."check_in"' in code["sql"]
    assert "`bookings`.`check_in`" in spark["sql"]  # Spark SQL quotes with backticks
    assert model == model_cli
    assert model["booking"]["fields"]["nights"] == "integer"
    assert model["customer"]["links"]["bookings"] == {"to": "booking", "to_many": True}
    assert bad.status_code == 422
