"""The campaign commands end to end on each engine, over a small generated travel company."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from cantata.generate.travel import generate_travel
from cantata.workspace import Workspace
from tests.conftest import drop_schema, store_url
from tests.e2e.cli import fails, run

EXAMPLES = Path(__file__).parents[2] / "examples"
STAYS = str(EXAMPLES / "upcoming_stays.yaml")
NOW = "2026-06-01T06:00:00Z"


@pytest.fixture
def ws(engine: str, tmp_path: Path) -> Iterator[str]:
    url, schema = store_url(engine, tmp_path)
    root = tmp_path / "ws"
    run("init", str(root), "--store", url if engine == "postgres" else "duckdb:///cantata.duckdb")
    data = tmp_path / "data"
    generate_travel(data, customers=400, seed=9, today=date(2026, 6, 1))  # stays around NOW
    for entity in ("customer", "hotel", "booking"):
        run("ingest", entity, str(data / f"{entity}.csv"), "-w", str(root))
    yield str(root)
    if schema:
        drop_schema(schema)


def scalar(ws: str, sql: str) -> int:
    with Workspace.open(Path(ws)) as w:
        return int(w.store.scalar(sql))


def test_validate_reports_every_problem_with_node_and_line(ws: str, tmp_path: Path) -> None:
    assert "7 activities, 6 transitions, valid" in run("campaign", "validate", STAYS, "-w", ws)
    broken = tmp_path / "broken.yaml"
    broken.write_text(
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
    out = fails("campaign", "validate", str(broken), "-w", ws)
    assert "broken.yaml:5: nodes.stays.settings.rule" in out and "nights" in out
    assert "broken.yaml:11: edges[1].from" in out and "no output 'b'" in out


def test_test_prints_the_graph_with_counts_and_rows_previews_a_transition(ws: str) -> None:
    out = run("campaign", "test", STAYS, "--now", NOW, "-w", ws)
    stays = scalar(
        ws,
        "SELECT count(*) FROM booking WHERE status = 'confirmed' AND check_in BETWEEN "
        "DATE '2026-06-01' AND DATE '2026-06-15'",
    )
    assert "test run 1: completed" in out
    assert f"out: {stays:,} → customers (change_dimension) done" in out
    assert "gold:" in out and "email_gold (email) done" in out
    graph = json.loads(run("campaign", "test", STAYS, "--now", NOW, "-w", ws, "--json"))
    rows = {t["from"]: t["rows"] for t in graph["transitions"]}
    assert rows["stays.out"] == stays
    assert (
        rows["segments.gold"] + rows["segments.others"] + rows["segments.holdout"]
        == (rows["next_stay.out"])
    )
    preview = json.loads(
        run("campaign", "rows", "2", "segments.gold", "--limit", "3", "-w", ws, "--json")
    )
    assert len(preview) == min(3, rows["segments.gold"])
    assert set(preview[0]) == {"customer_id", "next_booking"}
    assert "segments.gold" in run("campaign", "rows", "2", "segments.gold", "-w", ws)
    assert "no output 'gld'" in fails("campaign", "rows", "2", "segments.gld", "-w", ws)
    assert "no run 99" in fails("campaign", "rows", "99", "stays", "-w", ws)


def test_a_saved_draft_is_not_live_until_published(ws: str) -> None:
    assert "saved upcoming_stays draft v1 (draft)" in run(
        "campaign", "save", STAYS, "--now", NOW, "-w", ws
    )
    status = json.loads(run("campaign", "status", "upcoming_stays", "-w", ws, "--json"))
    assert (status["state"], status["draft_version"], status["published_version"]) == (
        "draft",
        1,
        None,
    )
    assert "publish it first" in fails("campaign", "start", "upcoming_stays", "-w", ws)
    run("campaign", "publish", STAYS, "--now", NOW, "-w", ws)
    status = json.loads(run("campaign", "status", "upcoming_stays", "-w", ws, "--json"))
    assert (status["state"], status["draft_version"], status["published_version"]) == (
        "live",
        None,
        1,
    )


def test_publish_start_status_runs_logs(ws: str) -> None:
    assert "published upcoming_stays v1 (live)" in run(
        "campaign", "publish", STAYS, "--now", NOW, "-w", ws
    )
    started = json.loads(
        run(
            "campaign", "start", "upcoming_stays", "--var", "offer_code=SPRING",
            "--idempotency-key", "2026-06-01", "--now", NOW, "-w", ws, "--json",
        )
    )  # fmt: skip
    info = started["run"]
    assert (info["status"], info["version"], info["variables"]) == (
        "waiting",  # the channels wait for the delivery engine
        1,
        {"offer_code": "SPRING"},
    )
    again = json.loads(
        run(
            "campaign", "start", "upcoming_stays", "--idempotency-key", "2026-06-01",
            "--now", NOW, "-w", ws, "--json",
        )
    )  # fmt: skip
    assert again["run"]["id"] == info["id"]
    status = json.loads(
        run("campaign", "status", "upcoming_stays", "--now", NOW, "-w", ws, "--json")
    )
    assert (status["state"], status["published_version"]) == ("live", 1)
    assert status["next_fire_times"][0] == "2026-06-02T06:00:00+00:00"
    assert [
        r["id"] for r in json.loads(run("campaign", "runs", "upcoming_stays", "-w", ws, "--json"))
    ] == [info["id"]]
    logs = json.loads(run("campaign", "logs", str(info["id"]), "-w", ws, "--json"))
    by_node = {a["node"]: a for a in logs["activities"]}
    assert by_node["email_gold"]["status"] == "pending_delivery"
    assert 'TABLE "cantata_wt_' in by_node["segments"]["statements"][0]["sql"]
    text = run("campaign", "logs", str(info["id"]), "--sql", "-w", ws)
    assert "pending_delivery" in text and "row_number() OVER" in text
    assert "unknown variable" in fails(
        "campaign", "start", "upcoming_stays", "--var", "nope=1", "-w", ws
    )


def test_pause_resume_stop_close_archive(ws: str, tmp_path: Path) -> None:
    campaign = tmp_path / "later.yaml"
    campaign.write_text(
        "name: later\n"
        "schedule: {weekly: {on: [mon], at: '09:00'}}\n"
        "nodes:\n"
        "  - {id: gold, type: build_audience, settings: {entity: customer, rule: 'tier = \"gold\"'}}\n"
        "  - {id: pause, type: wait, settings: {duration: 2h}}\n"
        "  - {id: one, type: dedupe, settings: {by: [email]}}\n"
        "edges:\n"
        "  - {from: gold, to: pause}\n"
        "  - {from: pause, to: one}\n"
    )
    run("campaign", "publish", str(campaign), "-w", ws)
    started = json.loads(run("campaign", "start", "later", "--now", NOW, "-w", ws, "--json"))
    run_id = str(started["run"]["id"])
    assert started["run"]["status"] == "waiting"
    assert "paused" in run("campaign", "pause", run_id, "-w", ws)
    assert "only a running or waiting run" in fails("campaign", "pause", run_id, "-w", ws)
    resumed = json.loads(
        run("campaign", "resume", run_id, "--now", "2026-06-01T09:00:00Z", "-w", ws, "--json")
    )
    assert resumed["run"]["status"] == "completed"
    other = json.loads(run("campaign", "start", "later", "--now", NOW, "-w", ws, "--json"))
    assert "stopped" in run("campaign", "stop", str(other["run"]["id"]), "-w", ws)
    preview = json.loads(
        run("campaign", "schedule-preview", str(campaign), "--after", NOW, "--json")
    )
    assert preview[:2] == ["2026-06-01T09:00:00+00:00", "2026-06-08T09:00:00+00:00"]  # Mondays
    assert len(preview) == 10
    assert "closed" in run("campaign", "close", "later", "-w", ws)
    assert "only a live campaign" in fails("campaign", "start", "later", "-w", ws)
    assert "archived" in run("campaign", "archive", "later", "-w", ws)


def test_purge_drops_old_runs_worktables_after_the_retention(ws: str) -> None:
    run("campaign", "publish", STAYS, "--now", NOW, "-w", ws)
    started = json.loads(
        run("campaign", "start", "upcoming_stays", "--now", NOW, "-w", ws, "--json")
    )
    # The run waits for its channels' delivery: not finished, so nothing to purge yet.
    assert "purged the worktables of 0 run(s)" in run(
        "campaign", "purge", "--now", "2026-07-01T00:00:00Z", "-w", ws
    )
    test_run = json.loads(run("campaign", "test", STAYS, "--now", NOW, "-w", ws, "--json"))
    with (Path(ws) / "cantata.toml").open("a") as config:
        config.write("\n[scheduler]\nretention_days = 30\n")
    assert "purged the worktables of 0 run(s)" in run(
        "campaign", "purge", "--now", "2026-06-20T00:00:00Z", "-w", ws
    )
    done = run(
        "campaign", "purge", "--retention-days", "7", "--now", "2026-06-20T00:00:00Z", "-w", ws
    )
    assert f"purged the worktables of 1 run(s): {test_run['run']['id']}" in done
    assert started["run"]["id"] != test_run["run"]["id"]
    assert "were purged" in fails(
        "campaign", "rows", str(test_run["run"]["id"]), "segments.gold", "-w", ws
    )
