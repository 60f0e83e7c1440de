"""Campaigns and runs over the REST API on every engine, against what the CLI gives on the
same workspace: validation problems, test-run counts, drafts, publishing, idempotent starts,
the moves on runs and campaigns, rows on a transition, the schedule and the report."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cantata.canvas.runtime import Runner
from cantata.delivery.activities import queue_pending
from cantata.delivery.rules import load_rules
from cantata.model import parse_model
from cantata.workspace import starter_model
from tests.integration.api_fixtures import (
    NOW,
    STAYS,
    Api,
    api,
    cli_json,
    serving,
    workspace_root,
)

__all__ = ["api", "workspace_root"]  # fixtures

BROKEN = (
    "name: broken\n"
    "nodes:\n"
    "  - id: stays\n"
    "    type: build_audience\n"
    "    settings: {entity: booking, rule: 'nightz > 2'}\n"
    "  - id: seg\n"
    "    type: split\n"
    "    settings: {subsets: [{name: a}]}\n"
    "edges:\n"
    "  - {from: stays, to: seg}\n"
    "  - {from: seg.b, to: stays}\n"
)


def test_validate_lists_every_problem_with_node_ids_and_paths(api: Api) -> None:
    valid = api.ok("POST", "/campaigns/validate", content=STAYS.read_text(), role="editor")
    assert valid == {"campaign": "upcoming_stays", "valid": True, "activities": 7, "transitions": 6}
    response = api.call("POST", "/campaigns/validate", content=BROKEN, role="editor")
    assert response.status_code == 422
    body = response.json()
    problems = {(p["node"], p["path"], p["line"]) for p in body["problems"]}
    assert ("stays", "nodes.stays.settings.rule.field", 5) in problems
    assert (None, "edges[1].from", 11) in problems
    assert "body:5: nodes.stays.settings.rule" in body["error"]  # the CLI's message
    rule = next(p for p in body["problems"] if p["node"] == "stays")
    assert "nights" in rule["message"]
    # JSON works as YAML does
    as_json = api.call(
        "POST",
        "/campaigns/validate",
        json={"name": "j", "nodes": [{"id": "a", "type": "nope"}]},
        role="editor",
    )
    assert as_json.status_code == 422
    assert {
        "path": "nodes.a.type",
        "node": "a",
        "line": 1,
        "message": "unknown activity type 'nope'",
    } in as_json.json()["problems"]
    empty = api.call("POST", "/campaigns/validate", content=b"", role="editor")
    assert empty.status_code == 422 and empty.json()["where"] == "body"


def test_test_run_counts_equal_the_clis(workspace_root: Path) -> None:
    ws = str(workspace_root)
    expected = cli_json("campaign", "test", str(STAYS), "--now", NOW.isoformat(), "-w", ws)
    with serving(workspace_root) as api:
        got = api.ok("POST", "/campaigns/test", 201, content=STAYS.read_text(), role="editor")
        assert got["run"]["status"] == "completed" and got["run"]["test_mode"]
        assert got["run"]["id"] == expected["run"]["id"] + 1
        assert got["activities"] == expected["activities"]
        assert got["transitions"] == expected["transitions"]
        rows = {t["from"]: t["rows"] for t in got["transitions"]}
        assert rows["stays.out"] == 6 and rows["customers.out"] == 3  # the sample's stays
        # A variable given as the CLI's --var, and an unknown one refused by name.
        run = api.ok(
            "POST",
            "/campaigns/test",
            201,
            content=STAYS.read_text(),
            params={"var": "offer_code=SPRING"},
            role="editor",
        )["run"]
        assert run["variables"] == {"offer_code": "SPRING"}
        unknown = api.call(
            "POST",
            "/campaigns/test",
            content=STAYS.read_text(),
            params={"var": "nope=1"},
            role="editor",
        )
        assert unknown.status_code == 422
        assert unknown.json()["problems"][0]["path"] == "variables.nope"
        # Rows on a transition, as `cantata campaign rows` shows them.
        preview = api.ok(
            "GET",
            f"/runs/{got['run']['id']}/transitions/customers/rows",
            params={"limit": 2},
            role="viewer",
        )
    cli_rows = cli_json(
        "campaign", "rows", str(got["run"]["id"]), "customers", "--limit", "2", "-w", ws
    )
    assert preview["rows"] == cli_rows and len(cli_rows) == 2
    assert preview["columns"][0] == "customer_id"


def test_publish_then_start_twice_with_one_key_makes_one_run(api: Api) -> None:
    text = STAYS.read_text()
    draft = api.ok("PUT", "/campaigns/upcoming_stays/draft", content=text, role="editor")
    assert (draft["version"], draft["status"]) == (1, "draft")
    wrong = api.call("PUT", "/campaigns/other/draft", content=text, role="editor")
    assert wrong.status_code == 422
    assert wrong.json()["error"] == "the body defines campaign 'upcoming_stays', not 'other'"
    assert api.ok("GET", "/campaigns", role="viewer")[0]["state"] == "draft"
    not_live = api.call("POST", "/campaigns/upcoming_stays/runs", role="publisher")
    assert not_live.status_code == 409
    assert (
        not_live.json()["error"]
        == "campaign 'upcoming_stays' has no published version: publish it first"
    )
    api.ok("POST", "/campaigns/upcoming_stays/publish", content=text, role="publisher")

    first = api.call(
        "POST",
        "/campaigns/upcoming_stays/runs",
        json={"variables": {"offer_code": "JUNE"}},
        headers={"Idempotency-Key": "2026-06-01"},
        role="publisher",
    )
    again = api.call(
        "POST",
        "/campaigns/upcoming_stays/runs",
        json={"variables": {"offer_code": "JUNE"}},
        headers={"Idempotency-Key": "2026-06-01"},
        role="publisher",
    )
    assert (first.status_code, again.status_code) == (201, 200)
    run = first.json()["run"]
    assert again.json()["run"]["id"] == run["id"]
    assert (run["version"], run["idempotency_key"], run["variables"]) == (
        1,
        "2026-06-01",
        {"offer_code": "JUNE"},
    )
    assert (
        api.store.scalar("SELECT count(*) FROM cantata_run WHERE campaign = 'upcoming_stays'") == 1
    )

    status = api.ok("GET", "/campaigns/upcoming_stays", role="viewer")
    assert (status["state"], status["published_version"]) == ("live", 1)
    assert [r["id"] for r in status["runs"]] == [run["id"]]
    assert [v["version"] for v in status["versions"]] == [1]
    # 08:00 Paris daily: the next fire times after 06:00 UTC on June 1st
    assert status["next_fire_times"][:2] == [
        "2026-06-02T06:00:00+00:00",
        "2026-06-03T06:00:00+00:00",
    ]
    listed = api.ok("GET", "/campaigns/upcoming_stays/runs", role="viewer")
    assert [r["id"] for r in listed] == [run["id"]]


def test_pause_resume_stop_a_run_and_close_archive_the_campaign(api: Api) -> None:
    api.ok("POST", "/campaigns/upcoming_stays/publish", content=STAYS.read_text(), role="publisher")
    started = api.ok("POST", "/campaigns/upcoming_stays/runs", 201, role="publisher")["run"]
    run_id = started["id"]
    # The channel activities wait for the dispatcher: the run waits.
    assert started["status"] == "waiting"
    found = api.ok("GET", f"/runs/{run_id}", role="viewer")
    nodes = {a["node"]: a for a in found["activities"]}
    assert nodes["stays"]["status"] == "done" and nodes["stays"]["counts"] == {"out": 6}
    assert nodes["email_gold"]["status"] == "pending_delivery"
    assert nodes["stays"]["elapsed_ms"] is not None and nodes["stays"]["error"] is None
    assert {t["from"]: t["rows"] for t in found["transitions"]}["customers.out"] == 3

    assert api.ok("POST", f"/runs/{run_id}/pause")["status"] == "paused"
    twice = api.call("POST", f"/runs/{run_id}/pause")
    assert twice.status_code == 409
    assert twice.json()["error"] == f"run {run_id} is paused; only a running or waiting run pauses"
    api.clock.now = NOW + timedelta(minutes=5)
    assert api.ok("POST", f"/runs/{run_id}/resume")["run"]["status"] == "waiting"
    stopped = api.ok("POST", f"/runs/{run_id}/stop")
    assert (
        stopped["status"] == "stopped"
        and stopped["finished_at"] == (NOW + timedelta(minutes=5)).isoformat()
    )
    assert api.call("POST", f"/runs/{run_id}/resume").status_code == 409
    missing = api.call("GET", "/runs/999")
    assert missing.status_code == 404 and missing.json()["error"].startswith("no run 999")

    assert api.ok("POST", "/campaigns/upcoming_stays/pause")["state"] == "paused"
    assert api.ok("POST", "/campaigns/upcoming_stays/close")["state"] == "closed"
    refused = api.call("POST", "/campaigns/upcoming_stays/resume")
    assert refused.status_code == 409
    assert refused.json()["error"] == (
        "cannot resume campaign 'upcoming_stays': it is closed (only paused)"
    )
    assert api.ok("POST", "/campaigns/upcoming_stays/archive")["state"] == "archived"
    unknown = api.call("POST", "/campaigns/nope/archive")
    assert unknown.status_code == 404 and "no campaign 'nope'" in unknown.json()["error"]


def test_schedule_preview_and_versions(api: Api) -> None:
    api.ok("PUT", "/campaigns/upcoming_stays/draft", content=STAYS.read_text(), role="editor")
    preview = api.ok(
        "GET",
        "/campaigns/upcoming_stays/schedule-preview",
        params={"count": 2, "after": "2026-10-24T12:00:00Z"},
        role="viewer",
    )
    # Paris leaves summer time on October 25th: 08:00 local is 06:00 then 07:00 UTC.
    assert preview["fire_times"] == [
        {"utc": "2026-10-25T07:00:00+00:00", "local": "2026-10-25T08:00:00+01:00"},
        {"utc": "2026-10-26T07:00:00+00:00", "local": "2026-10-26T08:00:00+01:00"},
    ]
    assert preview["version"] == 1
    version = api.ok("GET", "/campaigns/upcoming_stays/versions/1", role="viewer")
    assert version["status"] == "draft" and version["definition"]["name"] == "upcoming_stays"


def test_report_counts_queued_messages(api: Api) -> None:
    api.ok("POST", "/campaigns/upcoming_stays/publish", content=STAYS.read_text(), role="publisher")
    run_id = api.ok("POST", "/campaigns/upcoming_stays/runs", 201, role="publisher")["run"]["id"]
    assert api.ok("GET", "/campaigns/upcoming_stays/report", role="viewer") == {
        "campaign": "upcoming_stays",
        "activities": [],
    }
    model = parse_model(starter_model())
    queue_pending(api.store, Runner(api.store, model), load_rules({}), NOW)  # the dispatcher's
    report = api.ok("GET", "/campaigns/upcoming_stays/report", role="viewer")
    assert report["campaign"] == "upcoming_stays"
    by_activity = {a["activity"]: a for a in report["activities"]}
    assert set(by_activity) <= {"email_gold", "sms_others"} and by_activity
    for a in report["activities"]:
        assert a["run"] == run_id
        assert a["targeted"] == a["excluded_total"] + a["pending"] + a["sent"] + a["failed"]
        for key in ("excluded", "delivery_rate", "open_rate", "click_rate", "opened", "clicked"):
            assert key in a
    found = api.ok("GET", f"/runs/{run_id}", role="viewer")
    targeted = {t["from"]: t["rows"] for t in found["transitions"]}
    if "email_gold" in by_activity:
        assert by_activity["email_gold"]["targeted"] == targeted["segments.gold"]


def test_a_name_with_nul_is_a_400_on_every_engine(api: Api) -> None:
    # Found by fuzzing: PostgreSQL refused the parameter, a 500 on every route naming one.
    for method, url in [
        ("GET", "/campaigns/a%00b"),
        ("GET", "/campaigns/a%00b/runs"),
        ("GET", "/campaigns/a%00b/report"),
        ("POST", "/campaigns/a%00b/pause"),
        ("DELETE", "/tokens/a%00b"),
        ("GET", "/templates/a%00b"),
    ]:
        response = api.call(method, url)
        assert response.status_code == 400, (url, response.text)
        assert response.json() == {
            "error": "'a\\x00b' contains a NUL character (\\x00), which text cannot hold",
            "where": None,
        }


def test_confirm_tells_an_unknown_run_from_one_with_nothing_to_confirm(api: Api) -> None:
    # Found by fuzzing: both were a 400 saying nothing awaits confirmation.
    missing = api.call("POST", "/runs/999/confirm", role="publisher")
    assert missing.status_code == 404 and missing.json()["error"].startswith("no run 999")
    api.ok("POST", "/campaigns/upcoming_stays/publish", content=STAYS.read_text(), role="publisher")
    run_id = api.ok("POST", "/campaigns/upcoming_stays/runs", 201, role="publisher")["run"]["id"]
    idle = api.call("POST", f"/runs/{run_id}/confirm", role="publisher")
    assert idle.status_code == 409
    assert idle.json()["error"] == f"run {run_id} has no channel activity awaiting confirmation"
