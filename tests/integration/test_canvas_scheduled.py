"""Campaign runs driven by the scheduler, on every engine: publishing plans the occurrences,
firing one records a run that `advance` executes (once, however often it fires), a wait the
run reaches becomes a timer, and firing that timer continues the run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import yaml

from cantata.canvas import lifecycle, parse_campaign
from cantata.canvas.runtime import ScheduledRuns, node_runs, runs_of
from cantata.canvas.scheduler import fire_due, timers
from cantata.model import parse_model
from cantata.store import Store
from cantata.workspace import starter_model
from tests.integration.test_canvas_activities import load_sample

MODEL = parse_model(starter_model())
PUBLISHED = datetime(2026, 6, 1, 5, 0, tzinfo=UTC)
FIRST = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)  # 08:00 in Paris

CAMPAIGN = yaml.safe_dump(
    {
        "name": "daily",
        "time_zone": "Europe/Paris",
        "schedule": {"daily": {"at": "08:00"}},
        "nodes": [
            {
                "id": "gold",
                "type": "build_audience",
                "settings": {"entity": "customer", "rule": 'tier = "gold"'},
            },
            {"id": "later", "type": "wait", "settings": {"duration": "3h"}},
            {"id": "one", "type": "dedupe", "settings": {"by": ["email"]}},
        ],
        "edges": [{"from": "gold", "to": "later"}, {"from": "later", "to": "one"}],
    },
    sort_keys=False,
)


def test_occurrences_run_once_and_their_waits_fire(store: Store) -> None:
    load_sample(store, MODEL)
    lifecycle.publish(store, MODEL, parse_campaign(CAMPAIGN), now=PUBLISHED)
    planned = [t.fire_at for t in timers(store, campaign="daily", status="pending")]
    assert planned[0] == FIRST and len(planned) == 3

    runs = ScheduledRuns(store, MODEL)
    [fired] = fire_due(store, FIRST, "s1", runs)
    assert fired.outcome == "fired"
    runs.advance(FIRST)
    [run] = runs_of(store, "daily")
    assert (run.status, run.as_of, run.idempotency_key) == (
        "waiting",
        FIRST,
        fired.timer.occurrence_key,
    )
    [wait] = timers(store, run_id=str(run.id))
    assert (wait.kind, wait.node, wait.fire_at) == ("wait", "later", FIRST + timedelta(hours=3))

    # The same occurrence again (a scheduler that died before committing fires it again).
    runs.start_occurrence("daily", 1, FIRST, fired.timer.occurrence_key or "")
    runs.advance(FIRST)
    assert len(runs_of(store, "daily")) == 1

    assert fire_due(store, FIRST + timedelta(hours=2), "s1", runs) == []
    [woken] = fire_due(store, FIRST + timedelta(hours=3), "s1", runs)
    assert woken.timer.kind == "wait"
    runs.advance(FIRST + timedelta(hours=3))
    [run] = runs_of(store, "daily")
    assert run.status == "completed"
    assert node_runs(store, run.id)["one"].as_of == FIRST + timedelta(hours=3)


def test_pausing_cancels_occurrences_and_resuming_plans_them_again(store: Store) -> None:
    load_sample(store, MODEL)
    lifecycle.publish(store, MODEL, parse_campaign(CAMPAIGN), now=PUBLISHED)
    lifecycle.move(store, "daily", "pause", now=PUBLISHED)
    assert timers(store, campaign="daily", status="pending") == []
    lifecycle.move(store, "daily", "resume", now=PUBLISHED)
    assert timers(store, campaign="daily", status="pending")[0].fire_at == FIRST
    lifecycle.move(store, "daily", "close", now=PUBLISHED)
    assert timers(store, campaign="daily", status="pending") == []
