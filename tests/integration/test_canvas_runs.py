"""Live runs on every engine: publishing, starting (idempotently), flow activities (fork, joins,
waits, tests, alerts, end), channels handed to delivery, saved audiences, incremental queries,
error policies, pause / resume / stop, resuming after an interruption, and purging."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from cantata.audience import portal
from cantata.canvas import lifecycle, parse_campaign
from cantata.canvas.runtime import (
    AlertRaised,
    RunError,
    Runner,
    load_run,
    node_runs,
    pending_deliveries,
    purge_worktables,
    transitions,
)
from cantata.canvas.runtime import runner as runner_module
from cantata.canvas.runtime.dialect import try_lock_run, unlock_run
from cantata.canvas.runtime.runner import EXECUTORS
from cantata.canvas.runtime.runs import Run, find_run
from cantata.canvas.runtime.worktable import Retention, existing_worktables
from cantata.model import Model, parse_model
from cantata.store import Store
from cantata.workspace import starter_model
from tests.integration.test_canvas_activities import load_sample

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
MODEL = parse_model(starter_model())


@pytest.fixture
def db(store: Store) -> Store:
    load_sample(store, MODEL)
    return store


def campaign_text(
    nodes: list[dict[str, Any]], edges: Sequence[str], name: str = "c", **extra: Any
) -> str:
    pairs = [e.split(" -> ") for e in edges]
    data = {
        "name": name,
        **extra,
        "nodes": nodes,
        "edges": [{"from": a, "to": b} for a, b in pairs],
    }
    return yaml.safe_dump(data, sort_keys=False)


def node(node_id: str, kind: str, **settings: Any) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "settings": settings}


def publish(store: Store, text: str, model: Model = MODEL) -> int:
    return lifecycle.publish(store, model, parse_campaign(text), now=NOW).version


def statuses(store: Store, run_id: int) -> dict[str, str]:
    return {n: r.status for n, r in node_runs(store, run_id).items()}


def counts(store: Store, run_id: int) -> dict[str, int | None]:
    return {f"{n}.{p}": t.row_count for (n, p), t in transitions(store, run_id).items()}


GOLD = node("gold", "build_audience", entity="customer", rule='tier = "gold"')
FR = node("fr", "build_audience", entity="customer", rule='country = "FR"')
EMAIL = {"subject": "Hello", "body": "<p>Hi</p>"}


# --- publishing and starting ---------------------------------------------------------------------


def test_publish_makes_immutable_versions_and_goes_live(db: Store) -> None:
    text = campaign_text([GOLD], [])
    assert publish(db, text) == 1
    assert publish(db, text) == 1  # unchanged: no new version
    assert publish(db, text.replace('"gold"', '"platinum"')) == 2
    record = lifecycle.campaign_record(db, "c")
    assert (record.state, record.published) == ("live", 2)
    assert '"gold"' in lifecycle.version(db, "c", 1).definition


def test_a_draft_is_replaced_until_published(db: Store) -> None:
    lifecycle.save_draft(db, MODEL, parse_campaign(campaign_text([GOLD], [])), now=NOW)
    lifecycle.save_draft(db, MODEL, parse_campaign(campaign_text([FR], [])), now=NOW)
    record = lifecycle.campaign_record(db, "c")
    assert (record.state, record.published, record.draft) == ("draft", None, 1)
    with pytest.raises(lifecycle.LifecycleError, match="no published version"):
        Runner(db, MODEL).start("c", now=NOW)
    publish(db, campaign_text([FR], []))
    assert [(v.version, v.status) for v in lifecycle.versions(db, "c")] == [(1, "published")]


def test_lifecycle_moves(db: Store) -> None:
    publish(db, campaign_text([GOLD], [], schedule={"daily": {"at": "08:00"}}))
    assert lifecycle.move(db, "c", "pause", now=NOW).state == "paused"
    with pytest.raises(lifecycle.LifecycleError, match="is paused"):
        Runner(db, MODEL).start("c", now=NOW)
    assert lifecycle.move(db, "c", "resume", now=NOW).state == "live"
    assert lifecycle.move(db, "c", "close", now=NOW).state == "closed"
    with pytest.raises(lifecycle.LifecycleError, match="cannot stop"):
        lifecycle.move(db, "c", "stop", now=NOW)
    assert lifecycle.move(db, "c", "archive", now=NOW).state == "archived"
    with pytest.raises(lifecycle.LifecycleError, match="archived"):
        publish(db, campaign_text([FR], []))


def test_only_recurring_campaigns_close_and_a_once_campaign_completes(db: Store) -> None:
    publish(db, campaign_text([GOLD], [], schedule={"once": "2026-06-01T08:00"}))
    with pytest.raises(lifecycle.LifecycleError, match="not recurring"):
        lifecycle.move(db, "c", "close", now=NOW)
    run = Runner(db, MODEL).start("c", now=NOW)
    assert run.status == "completed"
    assert lifecycle.campaign_record(db, "c").state == "completed"


def test_start_runs_the_published_version_with_variables_and_an_idempotency_key(
    db: Store,
) -> None:
    text = campaign_text(
        [GOLD, node("t", "test", branches=[{"name": "big", "when": "vars.n > 2"}])],
        ["gold -> t"],
        variables={"n": {"type": "integer", "default": 1}},
    )
    publish(db, text)
    runner = Runner(db, MODEL)
    first = runner.start("c", now=NOW, variables={"n": 5}, idempotency_key="k1")
    assert (first.status, first.version, first.variables) == ("completed", 1, {"n": 5})
    assert node_runs(db, first.id)["t"].details == {"branch": "big"}
    again = runner.start("c", now=NOW + timedelta(hours=1), idempotency_key="k1")
    assert again.id == first.id
    other = runner.start("c", now=NOW, idempotency_key="k2")
    assert other.id != first.id and node_runs(db, other.id)["t"].details == {"branch": "default"}


def test_the_schedulers_keys_are_not_for_starts(db: Store) -> None:
    publish(db, campaign_text([GOLD], []))
    with pytest.raises(RunError, match="has the form of the scheduler's keys"):
        Runner(db, MODEL).start("c", now=NOW, idempotency_key="c@2026-06-02T06:00:00Z")
    assert db.scalar("SELECT count(*) FROM cantata_run") == 0
    assert Runner(db, MODEL).start("c", now=NOW, idempotency_key="c@spring").status == "completed"


def test_a_start_racing_another_with_the_same_key_gets_that_run(
    db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(db, campaign_text([GOLD], []))
    runner = Runner(db, MODEL)
    first = runner.start("c", now=NOW, idempotency_key="k1")
    looks: list[str] = []

    def not_visible_yet(store: Store, campaign: str, key: str) -> Run | None:
        # The other process's start committed after this one looked: the insert meets it.
        looks.append(key)
        return None if len(looks) == 1 else find_run(store, campaign, key)

    monkeypatch.setattr(runner_module, "find_run", not_visible_yet)
    run, new = runner.launch("c", now=NOW, idempotency_key="k1")
    assert (run.id, new, len(looks)) == (first.id, False, 2)
    assert db.scalar("SELECT count(*) FROM cantata_run WHERE campaign = 'c'") == 1


# --- channels and saved audiences ----------------------------------------------------------------


def test_a_live_channel_waits_for_delivery_then_the_population_continues(db: Store) -> None:
    text = campaign_text(
        [GOLD, node("mail", "email", **EMAIL), node("remember", "save_audience", name="mailed")],
        ["gold -> mail", "mail -> remember"],
    )
    publish(db, text)
    runner = Runner(db, MODEL)
    run = runner.start("c", now=NOW)
    assert run.status == "waiting"
    assert statuses(db, run.id) == {"gold": "done", "mail": "pending_delivery"}
    [pending] = pending_deliveries(db)
    assert (pending.run, pending.node, pending.channel, pending.count) == (
        run.id,
        "mail",
        "email",
        3,
    )
    keys = {r[0] for r in db.fetchall(pending.rows.select())}
    assert keys == {1, 6, 7}
    run = runner.complete_delivery(run.id, "mail", now=NOW + timedelta(minutes=5))
    assert run.status == "completed"
    assert counts(db, run.id)["mail.out"] == 3
    assert portal.current(db, "mailed").size == 3
    assert pending_deliveries(db) == []


def test_save_audience_replace_and_append(db: Store) -> None:
    def text(tier: str) -> str:
        source = node("src", "build_audience", entity="customer", rule=f'tier = "{tier}"')
        seen = node("a", "save_audience", name="seen", mode="append")
        return campaign_text(
            [source, FR, seen, node("r", "save_audience", name="last")], ["src -> a", "fr -> r"]
        )

    runner = Runner(db, MODEL)
    publish(db, text("gold"))
    runner.start("c", now=NOW)
    assert portal.current(db, "seen").size == 3 and portal.current(db, "last").size == 3
    publish(db, text("basic"))
    runner.start("c", now=NOW + timedelta(days=1))
    seen = portal.current(db, "seen")
    assert (seen.version, seen.size, seen.mode) == (2, 6, "append")  # gold 1, 6, 7 + basic 2, 5, 8
    last = portal.current(db, "last")
    assert (last.version, last.size, last.mode) == (2, 3, "replace")
    assert last.source == {"campaign": "c", "run": 2, "node": "r"}


def test_an_audience_read_by_a_live_campaign_cannot_be_deleted(db: Store) -> None:
    publish(db, campaign_text([node("v", "read_audience", audience="vips")], []))
    with pytest.raises(portal.AudienceError, match="live campaign"):
        portal.delete(db, "vips")
    lifecycle.move(db, "c", "stop", now=NOW)
    assert portal.delete(db, "vips") >= 1


def test_incremental_query_outputs_new_keys_only(db: Store) -> None:
    publish(
        db,
        campaign_text(
            [
                node(
                    "q",
                    "incremental_query",
                    entity="customer",
                    rule='country = "FR"',
                    history_days=7,
                )
            ],
            [],
        ),
    )
    runner = Runner(db, MODEL)
    first = runner.start("c", now=NOW)
    db.execute("UPDATE customer SET country = 'FR' WHERE customer_id = 3")
    second = runner.start("c", now=NOW + timedelta(days=1))
    assert counts(db, first.id)["q.out"] == 3 and counts(db, second.id)["q.out"] == 1
    test = runner.test(parse_campaign(lifecycle.version(db, "c", 1).definition), now=NOW)
    assert counts(db, test.id)["q.out"] == 0  # a test run sees the history, records none
    later = runner.start("c", now=NOW + timedelta(days=9))  # history kept 7 days
    assert counts(db, later.id)["q.out"] == 4


def test_incremental_query_after_last_run_by_a_date_field(db: Store) -> None:
    publish(
        db,
        campaign_text(
            [
                node(
                    "q",
                    "incremental_query",
                    entity="customer",
                    mode="after_last_run",
                    date_field="updated_at",
                    history_days=365,
                )
            ],
            [],
        ),
    )
    runner = Runner(db, MODEL)
    first = runner.start("c", now=datetime(2026, 1, 16, tzinfo=UTC))
    second = runner.start("c", now=datetime(2026, 2, 15, tzinfo=UTC))
    # updated by 01-16: 1, 3, 5, 7 (10, 15 Jan...); then 4 (01-20) and 2 (02-01)
    assert counts(db, first.id)["q.out"] == 4 and counts(db, second.id)["q.out"] == 2


# --- flow activities -----------------------------------------------------------------------------


def test_a_wait_suspends_the_run_until_it_is_due(db: Store) -> None:
    text = campaign_text(
        [GOLD, node("w", "wait", duration="1d"), node("d", "dedupe", by=["email"])],
        ["gold -> w", "w -> d"],
        time_zone="Europe/Paris",
    )
    publish(db, text)
    timers: list[tuple[int, str, datetime]] = []
    runner = Runner(db, MODEL, on_wait=lambda *t: timers.append(t))
    eve = datetime(2026, 3, 28, 8, 0, tzinfo=UTC)  # 09:00 in Paris, the eve of the DST change
    run = runner.start("c", now=eve)
    wake = datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # 09:00 the next day, 23 hours later
    assert run.status == "waiting" and timers == [(run.id, "w", wake)]
    assert node_runs(db, run.id)["w"].wake_at == wake
    assert runner.resume_due_waits(now=wake - timedelta(minutes=1)) == []
    [resumed] = runner.resume_due_waits(now=wake)
    assert resumed.status == "completed" and counts(db, run.id)["d.out"] == 2
    assert node_runs(db, run.id)["d"].as_of == wake  # what follows a wait runs as of its end
    assert len(timers) == 1


def test_a_test_run_does_not_wait(db: Store) -> None:
    text = campaign_text(
        [GOLD, node("w", "wait", until="18:30"), node("d", "dedupe", by=["email"])],
        ["gold -> w", "w -> d"],
        time_zone="America/New_York",
    )
    run = Runner(db, MODEL).test(parse_campaign(text), now=NOW)
    assert run.status == "completed"
    wake = datetime(2026, 6, 1, 22, 30, tzinfo=UTC)  # 18:30 in New York (EDT)
    assert node_runs(db, run.id)["d"].as_of == wake


def test_test_branches_on_counts_and_variables(db: Store) -> None:
    branches = [
        {"name": "many", "when": "count(gold) > 5"},
        {"name": "flagged", "when": "count(gold) >= 3 and vars.flag"},
    ]
    text = campaign_text(
        [
            GOLD,
            node("t", "test", branches=branches),
            node("m", "dedupe", by=["email"]),
            node("f", "dedupe", by=["email"]),
            node("o", "dedupe", by=["email"]),
        ],
        ["gold -> t", "t.many -> m", "t.flagged -> f", "t.default -> o"],
        variables={"flag": {"type": "boolean", "default": False}},
    )
    runner = Runner(db, MODEL)
    flagged = runner.test(parse_campaign(text), now=NOW, variables={"flag": True})
    assert statuses(db, flagged.id) == {
        "gold": "done",
        "t": "done",
        "m": "skipped",
        "f": "done",
        "o": "skipped",
    }
    plain = runner.test(parse_campaign(text), now=NOW)
    assert statuses(db, plain.id)["o"] == "done" and statuses(db, plain.id)["f"] == "skipped"
    assert counts(db, plain.id)["t.default"] == 3 and counts(db, plain.id)["t.flagged"] == 0


def test_fork_and_join_wait_for_every_branch(db: Store) -> None:
    text = campaign_text(
        [
            GOLD,
            node("fork", "fork"),
            node("w", "wait", duration="2h"),
            node("d", "dedupe", by=["email"]),
            node("join", "and_join", primary="d"),
            node("after", "save_audience", name="joined"),
        ],
        ["gold -> fork", "fork -> w", "fork -> d", "w -> join", "d -> join", "join -> after"],
    )
    publish(db, text)
    runner = Runner(db, MODEL)
    run = runner.start("c", now=NOW)
    assert run.status == "waiting" and "join" not in statuses(db, run.id)
    run = runner.resume_due_waits(now=NOW + timedelta(hours=2))[0]
    assert run.status == "completed"
    assert node_runs(db, run.id)["join"].as_of == NOW + timedelta(hours=2)
    assert portal.current(db, "joined").size == 2  # the primary's population: deduped


def test_or_join_continues_with_the_first_arrival(db: Store) -> None:
    text = campaign_text(
        [
            GOLD,
            FR,
            node("slow", "wait", duration="1h"),
            node("join", "or_join"),
            node("after", "save_audience", name="first"),
        ],
        ["gold -> slow", "slow -> join", "fr -> join", "join -> after"],
    )
    publish(db, text)
    runner = Runner(db, MODEL)
    run = runner.start("c", now=NOW)
    assert node_runs(db, run.id)["join"].details == {"first": "fr.out"}
    assert portal.current(db, "first").size == 3  # FR: 1, 2, 8
    run = runner.resume_due_waits(now=NOW + timedelta(hours=1))[0]
    assert run.status == "completed" and portal.current(db, "first").version == 1


def test_alert_is_recorded_and_notified_in_live_runs_only(db: Store) -> None:
    text = campaign_text(
        [
            node("s", "start"),
            node("a", "alert", message="Run for {{ vars.who }}", recipients=["ops@{{ vars.who }}"]),
        ],
        ["s -> a"],
        variables={"who": {"type": "string", "default": "acme"}},
    )
    raised: list[AlertRaised] = []
    runner = Runner(db, MODEL, on_alert=raised.append)
    runner.test(parse_campaign(text), now=NOW)
    assert raised == []
    publish(db, text)
    run = runner.start("c", now=NOW)
    assert [(a.run, a.message, a.recipients) for a in raised] == [
        (run.id, "Run for acme", ("ops@acme",))
    ]
    assert db.fetchall("SELECT message FROM cantata_alert ORDER BY run") == [("Run for acme",)] * 2


def test_end_starts_another_campaign_once(db: Store) -> None:
    publish(
        db,
        campaign_text(
            [
                node("s", "start"),
                node("t", "test", branches=[{"name": "yes", "when": 'vars.code = "X1"'}]),
            ],
            ["s -> t"],
            name="next",
            variables={"code": {"type": "string"}},
        ),
    )
    publish(
        db,
        campaign_text(
            [
                GOLD,
                node(
                    "e",
                    "end",
                    start_campaign={"campaign": "next", "variables": {"code": "{{ vars.c }}1"}},
                ),
            ],
            ["gold -> e"],
            variables={"c": {"type": "string", "default": "X"}},
        ),
    )
    runner = Runner(db, MODEL)
    run = runner.start("c", now=NOW)
    started = node_runs(db, run.id)["e"].details["started"]
    child = load_run(db, started["run"])
    assert (child.campaign, child.parent_run, child.status, child.variables) == (
        "next",
        run.id,
        "completed",
        {"code": "X1"},
    )
    assert node_runs(db, child.id)["t"].details == {"branch": "yes"}


# --- errors, pause, stop, resume -----------------------------------------------------------------


def failing(monkeypatch: pytest.MonkeyPatch, kind: str, times: int = 1 << 30) -> list[int]:
    """Make activities of `kind` fail `times` times; returns the call counter."""
    calls = [0]
    real = EXECUTORS[kind]

    def executor(ctx: Any) -> Any:
        calls[0] += 1
        if calls[0] <= times:
            raise RuntimeError("injected failure")
        return real(ctx)

    monkeypatch.setitem(EXECUTORS, kind, executor)
    return calls


def three_branches(on_error: Any) -> str:
    return campaign_text(
        [
            GOLD,
            node("fork", "fork"),
            node("a", "dedupe", by=["email"]),
            node("b", "dedupe", by=["country"]),
            node("c2", "enrich", attributes=[{"path": "first_name"}]),
        ],
        ["gold -> fork", "fork -> a", "fork -> b", "fork -> c2"],
        on_error=on_error,
    )


def test_suspend_then_resume_redoes_the_failed_activity_only(
    db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(db, three_branches("suspend"))
    calls = failing(monkeypatch, "dedupe", times=1)
    runner = Runner(db, MODEL)
    run = runner.start("c", now=NOW)
    assert run.status == "suspended" and "injected failure" in (run.error or "")
    assert statuses(db, run.id) == {"gold": "done", "fork": "done", "a": "failed"}
    assert "injected failure" in (node_runs(db, run.id)["a"].error or "")
    run = runner.resume(run.id, now=NOW)
    assert run.status == "completed" and calls[0] == 3
    attempts = {n: r.attempt for n, r in node_runs(db, run.id).items()}
    assert attempts == {"gold": 1, "fork": 1, "a": 2, "b": 1, "c2": 1}


def test_ignore_up_to_n_errors_then_suspend(db: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(db, three_branches({"ignore": 1}))
    failing(monkeypatch, "dedupe")
    run = Runner(db, MODEL).start("c", now=NOW)
    assert run.status == "suspended" and run.errors == 2
    assert statuses(db, run.id) == {
        "gold": "done",
        "fork": "done",
        "a": "ignored",
        "b": "failed",
    }


def test_ignored_errors_end_their_branch_and_the_run_completes(
    db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(db, three_branches({"ignore": 5}))
    failing(monkeypatch, "dedupe")
    run = Runner(db, MODEL).start("c", now=NOW)
    assert (run.status, run.errors) == ("completed", 2)
    assert statuses(db, run.id)["c2"] == "done"


def test_abort_fails_the_run(db: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(db, three_branches("abort"))
    failing(monkeypatch, "dedupe")
    runner = Runner(db, MODEL)
    run = runner.start("c", now=NOW)
    assert run.status == "failed" and run.finished_at == NOW
    with pytest.raises(RunError, match="nothing to resume"):
        runner.resume(run.id, now=NOW)


def test_a_failing_statement_is_logged_with_its_sql(db: Store) -> None:
    text = campaign_text([GOLD, node("d", "dedupe", by=["email"])], ["gold -> d"])
    publish(db, text)
    db.execute('ALTER TABLE customer RENAME COLUMN "email" TO "mail"')  # the model is now wrong
    run = Runner(db, MODEL).start("c", now=NOW)
    failed = node_runs(db, run.id)["d"]
    assert run.status == "suspended" and failed.status == "failed"
    assert "email" in failed.statements[-1]["sql"] and "ms" not in failed.statements[-1]


def test_pause_stops_before_the_next_activity_and_resume_continues(db: Store) -> None:
    publish(db, three_branches("suspend"))
    runner: Runner

    def pause_after_fork(event: str, run_id: int, node_id: str) -> None:
        if (event, node_id) == ("committed", "fork"):
            runner.pause(run_id)

    runner = Runner(db, MODEL, observer=pause_after_fork)
    run = runner.start("c", now=NOW)
    assert run.status == "paused" and set(statuses(db, run.id)) == {"gold", "fork"}
    run = Runner(db, MODEL).resume(run.id, now=NOW)
    assert run.status == "completed"


def test_a_stop_during_a_failing_activity_is_not_turned_into_a_suspension(
    db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(db, three_branches("suspend"))
    failing(monkeypatch, "dedupe")
    runner: Runner

    def stop_while_running(event: str, run_id: int, node_id: str) -> None:
        if (event, node_id) == ("started", "a"):  # another thread stops it, mid-activity
            runner.stop(run_id, now=NOW)

    runner = Runner(db, MODEL, observer=stop_while_running)
    run = runner.start("c", now=NOW)
    assert run.status == "stopped" and run.finished_at is not None
    assert statuses(db, run.id)["a"] == "failed"
    with pytest.raises(RunError, match="is stopped"):
        runner.resume(run.id, now=NOW)


def test_one_run_is_advanced_by_one_thread_of_a_process_at_a_time(db: Store) -> None:
    publish(db, three_branches("suspend"))
    run = Runner(db, MODEL).create("c", now=NOW)
    assert try_lock_run(db, run.id)  # another thread (the API's, the worker's) is advancing it
    try:
        with pytest.raises(RunError, match="being executed"):
            Runner(db, MODEL).resume(run.id, now=NOW)
        assert statuses(db, run.id) == {}  # nothing ran twice
    finally:
        unlock_run(db, run.id)
    assert Runner(db, MODEL).resume(run.id, now=NOW).status == "completed"


def test_a_paused_run_is_not_woken_and_a_stopped_run_never_runs_again(db: Store) -> None:
    text = campaign_text(
        [GOLD, node("w", "wait", duration="1h"), node("d", "dedupe", by=["email"])],
        ["gold -> w", "w -> d"],
    )
    publish(db, text)
    runner = Runner(db, MODEL)
    run = runner.start("c", now=NOW)
    runner.pause(run.id)
    assert runner.resume_due_waits(now=NOW + timedelta(hours=2)) == []
    assert runner.resume(run.id, now=NOW + timedelta(hours=2)).status == "completed"
    other = runner.start("c", now=NOW)
    assert runner.stop(other.id, now=NOW).status == "stopped"
    assert runner.resume_due_waits(now=NOW + timedelta(hours=2)) == []
    with pytest.raises(RunError, match="stopped"):
        runner.resume(other.id, now=NOW)


class Crash(BaseException):
    """An interruption the runner does not handle, like the process dying."""


def worktable_contents(store: Store, run_id: int) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for (n, p), t in sorted(transitions(store, run_id).items()):
        if t.worktable is not None:
            rows = store.fetchall(
                f'SELECT * FROM "{t.worktable}" WHERE "_port" = %s ORDER BY 1, 2', [t.slice]
            )
            out[f"{n}.{p}"] = [tuple(str(v) for v in r) for r in rows]
    return out


@pytest.mark.parametrize("event", ["started", "written", "committed"])
@pytest.mark.parametrize("at", ["gold", "e", "s"])
def test_resume_after_an_interruption_redoes_nothing_completed(
    db: Store, event: str, at: str
) -> None:
    text = campaign_text(
        [
            GOLD,
            FR,
            node("u", "combine", operation="union"),
            node("e", "enrich", aggregates=[{"link": "bookings", "fn": "count"}]),
            node("s", "split", subsets=[{"name": "busy", "rule": 'country = "FR"'}]),
            node("d", "dedupe", by=["email"]),
        ],
        ["gold -> u", "fr -> u", "u -> e", "e -> s", "s.busy -> d"],
    )
    publish(db, text)
    reference = Runner(db, MODEL).start("c", now=NOW)

    def crash(seen: str, run_id: int, node_id: str) -> None:
        if run_id != reference.id and (seen, node_id) == (event, at):
            raise Crash

    with pytest.raises(Crash):
        Runner(db, MODEL, observer=crash).start("c", now=NOW)
    run_id = reference.id + 1
    before = {n: (r.status, r.attempt) for n, r in node_runs(db, run_id).items()}
    run = Runner(db, MODEL).resume(run_id, now=NOW)
    assert run.status == "completed"
    after = {n: r.attempt for n, r in node_runs(db, run_id).items()}
    for n, (status, attempt) in before.items():
        assert after[n] == (attempt if status == "done" else attempt + 1), n
    assert counts(db, run_id) == counts(db, reference.id)
    assert worktable_contents(db, run_id) == worktable_contents(db, reference.id)
    assert not [t for t in existing_worktables(db) if t.endswith("_tmp")]


# --- purge ---------------------------------------------------------------------------------------


def test_purge_drops_old_worktables_and_keeps_the_counts(db: Store) -> None:
    text = campaign_text([GOLD, node("d", "dedupe", by=["email"])], ["gold -> d"])
    publish(db, text)
    runner = Runner(db, MODEL)
    old = runner.start("c", now=NOW)
    recent = runner.start("c", now=NOW + timedelta(days=6))
    waiting_text = campaign_text([FR, node("w", "wait", duration="30d")], ["fr -> w"], name="w")
    publish(db, waiting_text)
    waiting = runner.start("w", now=NOW)
    assert purge_worktables(db, NOW + timedelta(days=8), retention=timedelta(days=7)) == [old.id]
    names = existing_worktables(db)
    assert not [n for n in names if n.startswith(f"cantata_wt_{old.id}_")]
    assert [n for n in names if n.startswith(f"cantata_wt_{recent.id}_")]
    assert [n for n in names if n.startswith(f"cantata_wt_{waiting.id}_")]
    assert counts(db, old.id) == counts(db, recent.id)
    with pytest.raises(RunError, match="purged"):
        runner.transition_rows(old.id, "d")
    assert purge_worktables(db, NOW + timedelta(days=8), retention=timedelta(days=7)) == []


def test_retention_purges_at_most_once_an_hour(db: Store) -> None:
    publish(db, campaign_text([GOLD, node("d", "dedupe", by=["email"])], ["gold -> d"]))
    runner = Runner(db, MODEL)
    first = runner.start("c", now=NOW)
    retention = Retention(keep=timedelta(days=1), every=timedelta(hours=1))
    day2 = NOW + timedelta(days=2)
    assert retention(db, day2) == [first.id]
    second = runner.start("c", now=NOW + timedelta(minutes=1))  # finished long enough ago too
    assert retention(db, day2 + timedelta(minutes=59)) == []  # purged less than an hour ago
    assert retention(db, day2 + timedelta(hours=1)) == [second.id]


# --- one process per run -------------------------------------------------------------------------


def test_two_processes_never_advance_one_run(engine: str, db: Store, tmp_path: Any) -> None:
    if engine != "postgres":
        # A DuckDB store is owned by one process: a second one cannot even open it.
        import subprocess
        import sys

        probe = f"from cantata.store import open_store; open_store({db.url!r})"
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
        assert result.returncode != 0
        assert "Only one process may own it" in result.stderr
        return
    from cantata.canvas.runtime.dialect import try_lock_run, unlock_run
    from cantata.store import open_store
    from tests.conftest import POSTGRES_URL, drop_schema, store_url

    publish(db, three_branches("suspend"))
    run = Runner(db, MODEL).create("c", now=NOW)
    url = f"{POSTGRES_URL}?schema={db.scalar('SELECT current_schema()')}"
    with open_store(url) as other:
        assert try_lock_run(other, run.id)  # the other process is executing it
        with pytest.raises(RunError, match="being executed"):
            Runner(db, MODEL).resume(run.id, now=NOW)
        # Another workspace's run with the same id is not held by that lock.
        elsewhere_url, schema = store_url("postgres", tmp_path)
        try:
            with open_store(elsewhere_url) as elsewhere:
                assert try_lock_run(elsewhere, run.id)
        finally:
            assert schema is not None
            drop_schema(schema)
        unlock_run(other, run.id)
    assert Runner(db, MODEL).resume(run.id, now=NOW).status == "completed"
