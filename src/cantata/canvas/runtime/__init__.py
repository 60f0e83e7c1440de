"""Campaign runs: the runner, worktables, and the activities executed as set-based SQL.

    runner = Runner(store, model)
    run = runner.start("upcoming_stays", now=now, variables={"offer_code": "SPRING"})
    runner.resume(run.id, now=later)           # after a crash, a pause or a suspension
    runner.resume_due_waits(now=later)         # what a scheduler calls
    run = run_test(Path("campaign.yaml"), model, store, now)   # test mode: nothing saved or sent
    columns, rows = runner.transition_rows(run.id, "segments.gold")
    purge_worktables(store, now, retention=timedelta(days=7))

docs/runs.md describes the behaviour.
"""

from cantata.canvas.runtime.channels import PendingDelivery, pending_deliveries
from cantata.canvas.runtime.flow import AlertRaised
from cantata.canvas.runtime.runner import Runner, resume, resume_due_waits, run_test
from cantata.canvas.runtime.runs import (
    NodeRun,
    Run,
    RunError,
    TransitionRecord,
    load_run,
    node_runs,
    runs_of,
    transitions,
)
from cantata.canvas.runtime.scheduled import ScheduledRuns, scheduler_runner
from cantata.canvas.runtime.worktable import Slice, purge_worktables

__all__ = [
    "AlertRaised",
    "NodeRun",
    "PendingDelivery",
    "Run",
    "RunError",
    "Runner",
    "ScheduledRuns",
    "Slice",
    "TransitionRecord",
    "load_run",
    "node_runs",
    "pending_deliveries",
    "purge_worktables",
    "resume",
    "resume_due_waits",
    "run_test",
    "runs_of",
    "scheduler_runner",
    "transitions",
]
