"""The runner reads a run's node runs and transitions once per call and keeps those it writes:
what it kept must be what the store holds, through waits, skips, a hand-back from delivery and
a resumed activity, or readiness would decide on stale records."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest

from cantata.canvas.runtime import Runner, node_runs, transitions
from cantata.canvas.runtime import runner as runner_module
from cantata.canvas.runtime.runs import NodeRun, Run, TransitionRecord
from cantata.canvas.validate import Canvas
from cantata.store import Store
from tests.integration.test_canvas_runs import (
    EMAIL,
    FR,
    GOLD,
    MODEL,
    NOW,
    campaign_text,
    db,  # noqa: F401  (the fixture)
    node,
    publish,
)

CAMPAIGN = campaign_text(
    [
        GOLD,
        FR,
        node("u", "combine", operation="union"),
        node("w", "wait", duration="1h"),
        node("d", "dedupe", by=["email"]),
        node("t", "test", branches=[{"name": "many", "when": "count(d) > 100"}]),
        node("m", "dedupe", by=["email"]),
        node("mail", "email", **EMAIL),
        node("after", "save_audience", name="mailed"),
    ],
    [
        "gold -> u",
        "fr -> u",
        "u -> w",
        "w -> d",
        "d -> t",
        "t.many -> m",
        "t.default -> mail",
        "mail -> after",
    ],
)


class KeepingRunner(Runner):
    """A runner that shows what it kept when it settles a run."""

    kept: dict[str, NodeRun]

    def _settle(
        self, run: Run, canvas: Canvas, nodes: Mapping[str, NodeRun], now: datetime
    ) -> None:
        self.kept = dict(nodes)
        super()._settle(run, canvas, nodes, now)


@pytest.fixture
def seen_transitions(monkeypatch: pytest.MonkeyPatch) -> list[dict[tuple[str, str], Any]]:
    """The transitions the runner held at each readiness decision."""
    seen: list[dict[tuple[str, str], TransitionRecord]] = []
    decide = runner_module.readiness

    def spying(canvas: Canvas, node_id: str, nodes: Any, trans: Any) -> Any:
        seen.append(dict(trans))
        return decide(canvas, node_id, nodes, trans)

    monkeypatch.setattr(runner_module, "readiness", spying)
    return seen


def test_what_the_runner_keeps_is_what_the_store_holds(
    db: Store,  # noqa: F811
    seen_transitions: list[dict[tuple[str, str], TransitionRecord]],
) -> None:
    publish(db, CAMPAIGN)
    runner = KeepingRunner(db, MODEL)

    def check(run_id: int, expected: dict[str, str]) -> None:
        stored = node_runs(db, run_id)
        assert {n: r.status for n, r in stored.items()} == expected
        assert runner.kept == stored
        held = seen_transitions[-1]
        assert held and held == {k: v for k, v in transitions(db, run_id).items() if k in held}

    run = runner.start("c", now=NOW)
    assert run.status == "waiting"
    check(run.id, {"gold": "done", "fr": "done", "u": "done", "w": "waiting"})

    [run] = runner.resume_due_waits(now=NOW + timedelta(hours=1))
    assert run.status == "waiting"
    settled = {"gold": "done", "fr": "done", "u": "done", "w": "done", "d": "done", "t": "done"}
    check(run.id, {**settled, "m": "skipped", "mail": "pending_delivery"})

    run = runner.complete_delivery(run.id, "mail", now=NOW + timedelta(hours=2))
    assert run.status == "completed"
    check(run.id, {**settled, "m": "skipped", "mail": "done", "after": "done"})
    mail = node_runs(db, run.id)["mail"]
    # The hand-back resumed the attempt that began it: its start and as-of stay.
    assert (mail.attempt, mail.started_at, mail.as_of) == (
        1,
        NOW + timedelta(hours=1),
        NOW + timedelta(hours=1),
    )
