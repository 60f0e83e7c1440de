"""Channel activities being delivered: from a run's `pending_delivery` node to a queue of
messages, and the activity's delivery state (awaiting confirmation, sending, paused, done).

Queueing and recording the activity commit together; handing the node back to the runner
(so the population continues) comes after and is repeated until it happens, so a crash in
between neither loses nor doubles the messages.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cantata.canvas.activities.channels import Channel
from cantata.canvas.runtime import Runner
from cantata.canvas.runtime.channels import PendingDelivery, pending_deliveries
from cantata.canvas.runtime.runs import RunError, load_run
from cantata.canvas.runtime.worktable import Slice
from cantata.canvas.timestamps import db_time
from cantata.delivery.ledger import CLAIMED, PENDING, Target, queue
from cantata.delivery.rules import Rules
from cantata.delivery.template_library import with_template
from cantata.errors import CantataError
from cantata.store.base import Store

log = logging.getLogger("cantata.delivery")

AWAITING, SENDING, PAUSED, DONE = "awaiting_confirmation", "sending", "paused", "done"


@dataclass(frozen=True)
class DeliveryActivity:
    run: int
    activity: str
    campaign: str
    channel: str
    status: str
    settings: dict[str, Any]
    rows: Slice
    variables: dict[str, Any]
    time_zone: str
    consecutive_errors: int = 0


_COLUMNS = (
    "run, activity, campaign, channel, status, settings, source, variables, time_zone, "
    "consecutive_errors"
)


def _activity(row: tuple[Any, ...]) -> DeliveryActivity:
    source = json.loads(row[6])
    return DeliveryActivity(
        run=int(row[0]),
        activity=row[1],
        campaign=row[2],
        channel=row[3],
        status=row[4],
        settings=json.loads(row[5]),
        rows=Slice(source["worktable"], source["slice"], tuple(source["columns"])),
        variables=json.loads(row[7]),
        time_zone=row[8],
        consecutive_errors=int(row[9]),
    )


def delivery_activity(store: Store, run: int, activity: str) -> DeliveryActivity | None:
    rows = store.fetchall(
        f"SELECT {_COLUMNS} FROM cantata_delivery_activity WHERE run = %s AND activity = %s",
        [run, activity],
    )
    return _activity(rows[0]) if rows else None


def delivery_activities(
    store: Store, *, status: str | None = None, campaign: str | None = None
) -> list[DeliveryActivity]:
    where, params = [], []
    if status is not None:
        where.append("status = %s")
        params.append(status)
    if campaign is not None:
        where.append("campaign = %s")
        params.append(campaign)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return [
        _activity(r)
        for r in store.fetchall(
            f"SELECT {_COLUMNS} FROM cantata_delivery_activity{clause} ORDER BY run, activity",
            params,
        )
    ]


def queue_pending(store: Store, runner: Runner, rules: Rules, now: datetime) -> list[int]:
    """Queue the messages of every channel activity waiting for delivery and hand each back to
    the runner (unless it awaits confirmation). Return the runs that moved."""
    moved: list[int] = []
    for pending in pending_deliveries(store):
        try:
            found = delivery_activity(store, pending.run, pending.node)
            if found is None:
                found = _queue(store, runner, rules, pending, now)
            if found.status != AWAITING:
                runner.complete_delivery(pending.run, pending.node, now=now)
                moved.append(pending.run)
        except Exception:  # one activity's trouble must not hold up every other campaign's
            log.exception("run %s, %s: queueing its messages failed", pending.run, pending.node)
    return moved


def _queue(
    store: Store, runner: Runner, rules: Rules, pending: PendingDelivery, now: datetime
) -> DeliveryActivity:
    run = load_run(store, pending.run)
    canvas = runner.canvas(run)
    settings = canvas.activities[pending.node].settings
    assert isinstance(settings, Channel)
    target = Target(
        run=run.id,
        activity=pending.node,
        campaign=run.campaign,
        channel=pending.channel,
        category=settings.category,
        rows=pending.rows,
        per=settings.per,
        recipient_path=settings.recipient_path,
    )
    status = AWAITING if settings.require_confirmation else SENDING
    source = {
        "worktable": pending.rows.worktable,
        "slice": pending.rows.port,
        "columns": list(pending.rows.columns),
    }
    # The content the messages go out with, kept with the activity: a library template's
    # current version is pinned here.
    with store.transaction():
        queue(store, runner.model, rules, target, now)
        store.execute(
            f"INSERT INTO cantata_delivery_activity ({_COLUMNS}, queued_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s)",
            [
                run.id,
                pending.node,
                run.campaign,
                pending.channel,
                status,
                json.dumps(with_template(pending.channel, settings.model_dump(mode="json"), store)),
                json.dumps(source),
                json.dumps(run.variables),
                canvas.campaign.time_zone,
                db_time(now),
            ],
        )
    found = delivery_activity(store, run.id, pending.node)
    assert found is not None
    return found


def confirm(store: Store, runner: Runner, run: int, activity: str, now: datetime) -> None:
    """Release an activity that awaits confirmation: its messages may go, the flow goes on."""
    found = _require(store, run, activity)
    if found.status != AWAITING:
        raise CantataError(f"{activity} of run {run} is {found.status}, not awaiting confirmation")
    set_status(store, run, activity, SENDING)
    runner.complete_delivery(run, activity, now=now)


def confirm_waiting(
    store: Store, runner: Runner, run: int, activity: str | None, now: datetime
) -> list[str]:
    """Confirm the run's activities awaiting confirmation (only `activity` when given); return
    the ones confirmed."""
    waiting = [
        a.activity
        for a in delivery_activities(store, status=AWAITING)
        if a.run == run and activity in (None, a.activity)
    ]
    if not waiting:
        load_run(store, run)  # no such run: a RunNotFound (404), not a state
        raise RunError(f"run {run} has no channel activity awaiting confirmation")
    for name in waiting:
        confirm(store, runner, run, name, now)
    return waiting


def resume_activity(store: Store, run: int, activity: str) -> None:
    """Resume an activity the dispatcher paused after too many consecutive errors."""
    found = _require(store, run, activity)
    if found.status != PAUSED:
        raise CantataError(f"{activity} of run {run} is {found.status}, not paused")
    store.execute(
        "UPDATE cantata_delivery_activity SET status = %s, consecutive_errors = 0, reason = NULL "
        "WHERE run = %s AND activity = %s",
        [SENDING, run, activity],
    )


def set_status(
    store: Store, run: int, activity: str, status: str, *, reason: str | None = None
) -> None:
    store.execute(
        "UPDATE cantata_delivery_activity SET status = %s, reason = %s WHERE run = %s "
        "AND activity = %s",
        [status, reason, run, activity],
    )


def finish_if_done(store: Store, run: int, activity: str, now: datetime) -> bool:
    """Mark a sending activity done once none of its messages is pending or claimed."""
    left = store.scalar(
        "SELECT count(*) FROM cantata_delivery WHERE run = %s AND activity = %s "
        f"AND status IN ('{PENDING}', '{CLAIMED}')",
        [run, activity],
    )
    if left:
        return False
    store.execute(
        "UPDATE cantata_delivery_activity SET status = %s, finished_at = %s WHERE run = %s "
        "AND activity = %s AND status = %s",
        [DONE, db_time(now), run, activity, SENDING],
    )
    return True


def _require(store: Store, run: int, activity: str) -> DeliveryActivity:
    found = delivery_activity(store, run, activity)
    if found is None:
        raise CantataError(f"run {run} has no channel activity {activity!r} being delivered")
    return found
