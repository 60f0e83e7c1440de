"""The background work of a cantata process: fire the scheduler's due occurrences and waits
(under its lease), queue the messages runs hand to channels, and send what is due.
`cantata dispatch` runs it alone; `cantata serve --all` runs it beside the REST API and the
tracking app, so that one process — the only kind a DuckDB store allows — does everything.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

from cantata.canvas.runtime import ScheduledRuns, scheduler_runner
from cantata.canvas.runtime.scheduled import retention_of
from cantata.canvas.runtime.worktable import Retention
from cantata.canvas.scheduler import LEASE, Fired, release_lease, scheduler_turn
from cantata.delivery.dispatcher import Stats
from cantata.delivery.engine import DeliveryEngine
from cantata.workspace import Workspace

OnFired = Callable[[Fired], None]


async def work(
    ws: Workspace,
    *,
    stop: asyncio.Event,
    schedule: bool,
    idle: float = 1.0,
    once: bool = False,
    on_fired: OnFired | None = None,
) -> Stats:
    """Rounds of work until `stop` is set (or one round, `once`); the last round's figures."""
    scheduled = scheduler_runner(ws)
    retention = retention_of(ws)
    engine = DeliveryEngine(
        ws.store,
        ws.model,
        ws.settings.raw,
        runner=scheduled.runner,
        journal_dir=ws.root / "journal",
        root=ws.root,
    )
    me = engine.dispatcher.owner
    try:
        while True:
            if schedule:
                # Runs execute activities: off the event loop, which may be serving requests.
                await asyncio.to_thread(_fire_due, ws, scheduled, me, on_fired, retention)
            stats = await engine.round()
            if once or stop.is_set():
                return stats
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=idle)
    finally:
        await engine.close()
        if schedule:
            release_lease(ws.store, LEASE, me)


def _fire_due(
    ws: Workspace,
    scheduled: ScheduledRuns,
    owner: str,
    on_fired: OnFired | None,
    retention: Retention,
) -> None:
    """One scheduler turn: fire what is due under the lease, execute the runs (and any wait
    now over), and purge old runs' worktables when it is time."""

    def housekeeping(now: datetime) -> None:
        scheduled.advance(now)
        retention(ws.store, now)

    scheduler_turn(
        ws.store, datetime.now(UTC), owner, scheduled, ttl=60.0, on_fired=on_fired,
        each_turn=housekeeping,
    )  # fmt: skip
