"""Crash test: a process running a 10-activity campaign is killed with SIGKILL at several
points (an activity started, its worktable written but not committed, committed); resuming the
run in a new process ends with the same statuses, counts, worktables and saved audience as an
uninterrupted run, and redoes no completed activity."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from cantata.audience import portal
from cantata.canvas import lifecycle, parse_campaign
from cantata.canvas.runtime import Runner, node_runs, transitions
from cantata.canvas.runtime.runs import runs_with_status
from cantata.canvas.runtime.worktable import existing_worktables
from cantata.model import parse_model
from cantata.store import open_store
from cantata.workspace import starter_model
from tests.conftest import drop_schema, store_url
from tests.integration.test_canvas_activities import load_sample
from tests.integration.test_canvas_runs import worktable_contents

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
MODEL = parse_model(starter_model())

NODES: list[dict[str, Any]] = [
    {
        "id": "gold",
        "type": "build_audience",
        "settings": {"entity": "customer", "rule": 'tier in ("gold", "platinum")'},
    },
    {
        "id": "fr",
        "type": "build_audience",
        "settings": {"entity": "customer", "rule": 'country = "FR"'},
    },
    {"id": "u", "type": "combine", "settings": {"operation": "union"}},
    {
        "id": "e",
        "type": "enrich",
        "settings": {
            "aggregates": [{"link": "bookings", "fn": "count"}],
            "related": [
                {
                    "link": "bookings",
                    "sort": ["check_in desc"],
                    "fields": ["booking_id", "hotel.city"],
                }
            ],
        },
    },
    {"id": "d", "type": "dedupe", "settings": {"by": ["email"], "choose": {"max": "updated_at"}}},
    {
        "id": "s",
        "type": "split",
        "settings": {
            "subsets": [
                {"name": "sample", "limit": {"percent": 50, "random_seed": 3}},
                {"name": "rest"},
            ]
        },
    },
    {"id": "keep", "type": "save_audience", "settings": {"name": "sampled"}},
    {"id": "cd", "type": "change_dimension", "settings": {"link": "bookings"}},
    {
        "id": "bk",
        "type": "dedupe",
        "settings": {"by": ["hotel.city"], "choose": {"min": "check_in"}},
    },
    {"id": "mail", "type": "email", "settings": {"subject": "Hi", "body": "<p>Hi</p>"}},
]
EDGES = [
    "gold -> u",
    "fr -> u",
    "u -> e",
    "e -> d",
    "d -> s",
    "s.sample -> keep",
    "s.rest -> cd",
    "cd -> bk",
    "keep -> mail",
]
CAMPAIGN = yaml.safe_dump(
    {
        "name": "crash",
        "nodes": NODES,
        "edges": [dict(zip(("from", "to"), e.split(" -> "), strict=True)) for e in EDGES],
    },
    sort_keys=False,
)

# The child process: run the campaign, SIGKILL itself at (event, node).
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import datetime
    from cantata.canvas.runtime import Runner
    from cantata.model import parse_model
    from cantata.store import open_store
    from cantata.workspace import starter_model

    url, event, node, now = sys.argv[1:5]

    def observer(seen, run_id, node_id):
        if (seen, node_id) == (event, node):
            os.kill(os.getpid(), signal.SIGKILL)

    store = open_store(url)
    Runner(store, parse_model(starter_model()), observer=observer).start(
        "crash", now=datetime.fromisoformat(now)
    )
    sys.exit(3)  # never reached: the kill point is on the way
    """
)

KILL_POINTS = [
    ("started", "gold"),  # the first activity began
    ("written", "e"),  # a worktable written, not committed
    ("committed", "s"),  # a multi-port activity done
    ("written", "keep"),  # the audience save is in the commit still to come
    ("started", "cd"),
    ("written", "bk"),  # the last worktable
    ("committed", "mail"),  # everything done; the run waits for delivery
]


@pytest.mark.parametrize("event,at", KILL_POINTS, ids=[f"{e}-{n}" for e, n in KILL_POINTS])
def test_sigkill_then_resume_equals_an_uninterrupted_run(
    engine: str, tmp_path: Path, event: str, at: str
) -> None:
    url, schema = store_url(engine, tmp_path)
    try:
        with open_store(url) as store:
            load_sample(store, MODEL)
            lifecycle.publish(store, MODEL, parse_campaign(CAMPAIGN), now=NOW)
            reference = Runner(store, MODEL).start("crash", now=NOW)
            assert reference.status == "waiting"  # for the delivery of `mail`
        # The embedded store is owned by one process: the parent lets go of it meanwhile.
        child = subprocess.run(
            [sys.executable, "-c", CHILD, url, event, at, NOW.isoformat()],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert child.returncode == -signal.SIGKILL, child.stderr
        with open_store(url) as store:
            [interrupted] = runs_with_status(store, ["running"])
            before = {n: (r.status, r.attempt) for n, r in node_runs(store, interrupted.id).items()}
            if event == "committed":
                assert before[at] in (("done", 1), ("pending_delivery", 1))
            elif engine == "postgres":  # other processes can watch: recorded as it began
                assert before[at] == ("running", 1)
            else:  # the one owner process records an activity as it settles
                assert at not in before
            run = Runner(store, MODEL).resume(interrupted.id, now=NOW)
            assert run.status == "waiting"

            nodes = node_runs(store, run.id)
            for node_id, (status, attempt) in before.items():
                redone = status == "running"
                assert nodes[node_id].attempt == attempt + redone, node_id
            ref_nodes = node_runs(store, reference.id)
            assert {n: r.status for n, r in nodes.items()} == {
                n: r.status for n, r in ref_nodes.items()
            }

            def counted(run_id: int) -> dict[tuple[str, str], Any]:
                return {
                    k: (t.row_count, t.activated) for k, t in transitions(store, run_id).items()
                }

            assert counted(run.id) == counted(reference.id)
            assert worktable_contents(store, run.id) == worktable_contents(store, reference.id)
            assert not [t for t in existing_worktables(store) if t.endswith("_tmp")]
            # The audience was saved exactly once by each run, with the same members.
            saved = portal.versions(store, "sampled")
            assert [v.version for v in saved] == [1, 2]
            members = [
                {
                    r[0]
                    for r in store.fetchall(
                        "SELECT key FROM cantata_audience_member WHERE audience = 'sampled' AND version = %s",
                        [v.version],
                    )
                }
                for v in saved
            ]
            assert members[0] == members[1] and members[0]
    finally:
        if schema:
            drop_schema(schema)
