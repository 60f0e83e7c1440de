"""The runner as the scheduler calls it (`cantata.canvas.scheduler.Runner`).

The scheduler fires a timer in a transaction and calls `start_occurrence` or `resume_wait`
inside it; here they only record — a run for the occurrence, keyed by the occurrence so that
firing twice starts one run — and `advance(now)`, called after the commit, executes. A wait's
timer is set through the runner's `on_wait` hook, so every wait a run reaches has one.

`cantata scheduler` loads `scheduler_runner` (its default `--runner`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta

from cantata.canvas.alert_notices import alert_notifier
from cantata.canvas.runtime.flow import AlertRaised
from cantata.canvas.runtime.runner import Runner
from cantata.canvas.runtime.runs import FINISHED, RunError, load_run
from cantata.canvas.runtime.worktable import Retention
from cantata.canvas.scheduler import add_wait
from cantata.errors import ConfigError
from cantata.model import Model
from cantata.store.base import Store
from cantata.workspace import Workspace


class ScheduledRuns:
    def __init__(
        self, store: Store, model: Model, on_alert: Callable[[AlertRaised], None] | None = None
    ) -> None:
        self.store = store
        self.runner = Runner(store, model, on_wait=self._set_timer, on_alert=on_alert)
        self._started: list[int] = []
        self._woken: list[tuple[int, str]] = []

    def start_occurrence(
        self, campaign: str, version: int, fire_at: datetime, occurrence_key: str
    ) -> None:
        """Record a run of `version`; its sources read the data as of the occurrence."""
        run = self.runner.create(
            campaign, now=fire_at, idempotency_key=occurrence_key, version=version
        )
        self._started.append(run.id)

    def resume_wait(self, run_id: str, node: str, now: datetime) -> None:
        self._woken.append((int(run_id), node))

    def advance(self, now: datetime) -> None:
        """Execute what was recorded, then any wait over at `now` (a timer fired before a
        crash, say): each run as far as it goes."""
        started, self._started = self._started, []
        woken, self._woken = self._woken, []
        for run_id in started:
            if load_run(self.store, run_id).status == "running":
                with suppress(RunError):  # another process is executing it
                    self.runner.resume(run_id, now=now)
        for run_id, node in woken:
            if load_run(self.store, run_id).status not in FINISHED:
                with suppress(RunError):
                    self.runner.wake(run_id, node, now=now)
        self.runner.resume_due_waits(now=now)

    def _set_timer(self, run_id: int, node: str, wake_at: datetime) -> None:
        run = load_run(self.store, run_id)
        add_wait(self.store, str(run_id), node, wake_at, campaign=run.campaign, version=run.version)


def retention_of(ws: Workspace) -> Retention:
    """`[scheduler] retention_days` (default 7): how long finished runs keep their worktables."""
    days = ws.settings.raw.get("scheduler", {}).get("retention_days", 7)
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise ConfigError(
            "[scheduler] retention_days must be a whole number of days, 0 or more",
            where="cantata.toml",
        )
    return Retention(timedelta(days=days))


def scheduler_runner(ws: Workspace) -> ScheduledRuns:
    ws.apply_model()
    return ScheduledRuns(ws.store, ws.model, alert_notifier(ws.settings.raw))
