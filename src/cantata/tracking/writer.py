"""The tracking app's one writer: events recorded in groups, one transaction per group.

A commit costs milliseconds (DuckDB's WAL, PostgreSQL's fsync), so one transaction per open
or click caps a process at a few hundred events a second. Requests hand their event to the
writer and wait; the writer takes what has queued (up to `max_group`, waiting at most
`window` seconds after the oldest arrived) and records the group in one transaction, then
answers each request with its own result. A request is answered only after its event is
committed.

If the group's transaction fails, each of its events is recorded again alone (DuckDB has no
savepoints), so one bad event fails only its own request.

The writer is a thread started when events arrive and ended when none are waiting: it needs
no start or stop (a mounted app's lifespan never runs), and it works for callers on any event
loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cantata.store.access import StoreAccess
from cantata.store.base import Store
from cantata.tracking.feedback import Feedback, record_events

T = TypeVar("T")
Work = Feedback | Callable[[Store], Any]

MAX_GROUP = 500
WINDOW = 0.002  # seconds an event may wait for others to join its group

log = logging.getLogger("cantata.tracking")


@dataclass
class WriterStats:
    events: int = 0  # units of work taken: an event, or a callback's or DSN's batch
    groups: int = 0  # groups taken, one transaction each
    fallbacks: int = 0  # groups whose transaction failed, recorded again unit by unit


@dataclass
class _Pending:
    work: Work
    future: Future[Any]
    since: float
    answer: bool = field(default=True)


class FeedbackWriter:
    """Records the feedback of one app (one process) in groups, through its store."""

    def __init__(
        self, access: StoreAccess, *, max_group: int = MAX_GROUP, window: float = WINDOW
    ) -> None:
        if max_group < 1:
            raise ValueError(f"max_group must be at least 1, not {max_group}")
        if window < 0:
            raise ValueError(f"window must be zero or more seconds, not {window}")
        self.max_group = max_group
        self.window = window
        self.stats = WriterStats()
        self._access = access
        self._cond = threading.Condition()
        self._queue: deque[_Pending] = deque()
        self._writing = False

    async def record(self, event: Feedback) -> bool:
        """Record `event`; whether the ledger knows its message. Returns once committed."""
        return bool(await asyncio.wrap_future(self.submit(event)))

    async def run(self, work: Callable[[Store], T]) -> T:
        """Run `work` (several events, e.g. a provider's batch) as one unit of a group."""
        result: T = await asyncio.wrap_future(self.submit(work))
        return result

    def submit(self, work: Work) -> Future[Any]:
        """Queue `work`; the future holds its result once its group is committed."""
        future: Future[Any] = Future()
        with self._cond:
            self._queue.append(_Pending(work, future, time.monotonic()))
            if self._writing:
                self._cond.notify()
            else:
                self._writing = True
                threading.Thread(target=self._write, name="cantata-feedback", daemon=True).start()
        return future

    def pending(self) -> int:
        """Units of work waiting for a group."""
        with self._cond:
            return len(self._queue)

    def _write(self) -> None:
        try:
            while group := self._take():
                self._commit(group)
        except BaseException:
            with self._cond:  # the next event starts a new writer
                self._writing = False
            raise

    def _take(self) -> list[_Pending]:
        """The next group; empty (and the writer ends) when nothing is waiting."""
        with self._cond:
            if not self._queue:
                self._writing = False
                return []
            # Under load the oldest event has waited long enough already: no extra wait.
            deadline = self._queue[0].since + self.window
            while len(self._queue) < self.max_group:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            group = [self._queue.popleft() for _ in range(min(self.max_group, len(self._queue)))]
        for p in group:
            # A request gone (client disconnected) is still recorded: the open happened.
            p.answer = p.future.set_running_or_notify_cancel()
        return group

    def _commit(self, group: list[_Pending]) -> None:
        try:
            with self._access.held() as store, store.transaction():
                results = _record_group(store, [p.work for p in group])
        except Exception as exc:
            if len(group) == 1:
                _answer(group[0], error=exc)
                return
            self.stats.fallbacks += 1
            log.warning(
                "a group of %d feedback events failed (%s); recording them one by one",
                len(group),
                exc,
            )
            for p in group:
                self._alone(p)
            return
        finally:
            self.stats.events += len(group)
            self.stats.groups += 1
        for p, result in zip(group, results, strict=True):
            _answer(p, result)

    def _alone(self, p: _Pending) -> None:
        try:
            with self._access.held() as store, store.transaction():
                [result] = _record_group(store, [p.work])
        except Exception as exc:
            _answer(p, error=exc)
        else:
            _answer(p, result)


def _record_group(store: Store, works: list[Work]) -> list[Any]:
    """Each unit's result, in order: single events set-based together, batches one by one."""
    events = [w for w in works if isinstance(w, Feedback)]
    known = iter(record_events(store, events))
    return [next(known) if isinstance(w, Feedback) else w(store) for w in works]


def _answer(p: _Pending, result: Any = None, error: BaseException | None = None) -> None:
    if not p.answer:
        return
    if error is not None:
        p.future.set_exception(error)
    else:
        p.future.set_result(result)
