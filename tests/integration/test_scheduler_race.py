"""Two schedulers at once fire each timer exactly once; a scheduler killed mid-fire (SIGKILL)
leaves nothing half-done, and another takes over once its lease expires.

On PostgreSQL each scheduler is a thread with its own connection; on DuckDB (owned by one
process) two threads share the process's store."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cantata.canvas.schedule import Schedule
from cantata.canvas.scheduler import (
    add_wait,
    fire_due,
    lease_holder,
    run_scheduler,
    schedule_campaign,
    timers,
)
from cantata.store import Store, open_store
from tests.conftest import drop_schema, store_url
from tests.integration.test_scheduler import PARIS, Call, FakeClock, RecordingRunner, utc

MINUTELY = Schedule.model_validate({"cron": "* * * * *"})


@pytest.fixture
def stores(engine: str, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two stores on one database: two connections on PostgreSQL, one shared on DuckDB."""
    url, schema = store_url(engine, tmp_path)
    first = open_store(url)
    second = open_store(url) if engine == "postgres" else first
    try:
        yield first, second
    finally:
        first.close()
        if second is not first:
            second.close()
        if schema:
            drop_schema(schema)


class WritingRunner(RecordingRunner):
    """Also starts the 'run' as a row written through the scheduler's store, in the firing
    transaction: a timer fired twice would break the primary key."""

    def __init__(self, store: Store, name: str) -> None:
        super().__init__(name=name)
        self.store = store

    def start_occurrence(
        self, campaign: str, version: int, fire_at: datetime, occurrence_key: str
    ) -> None:
        self.store.execute("INSERT INTO race_run VALUES (%s, %s)", [occurrence_key, self.name])
        super().start_occurrence(campaign, version, fire_at, occurrence_key)

    def resume_wait(self, run_id: str, node: str, now: datetime) -> None:
        self.store.execute("INSERT INTO race_run VALUES (%s, %s)", [f"{run_id}/{node}", self.name])
        super().resume_wait(run_id, node, now)


def race(
    stores: tuple[Store, Store], rounds: list[datetime], batch: int
) -> tuple[list[Call], list[Any]]:
    """Both schedulers fire everything due at each instant, starting together each round."""
    runners = [WritingRunner(s, f"s{i}") for i, s in enumerate(stores)]
    start = threading.Barrier(2)
    handled: list[Any] = []
    errors: list[BaseException] = []

    def scheduler(i: int) -> None:
        try:
            for now in rounds:
                start.wait(timeout=60)
                while got := fire_due(stores[i], now, f"s{i}", runners[i], batch=batch):
                    handled.extend(got)
        except BaseException as exc:
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=scheduler, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    return [c for r in runners for c in r.calls], handled


def test_two_schedulers_racing_fire_each_timer_exactly_once(
    engine: str, stores: tuple[Store, Store]
) -> None:
    store = stores[0]
    # PostgreSQL is where the claims really race (DuckDB serialises them): race it longer.
    n_rounds = 40 if engine == "postgres" else 10
    store.execute("CREATE TABLE race_run (target TEXT PRIMARY KEY, fired_by TEXT)")
    t0 = utc(4, 1)
    campaigns = [f"c{i:02d}" for i in range(12)]
    for name in campaigns:
        schedule_campaign(store, name, 1, MINUTELY, PARIS, now=t0, horizon=3)
    rounds = [t0 + timedelta(minutes=k) for k in range(1, n_rounds + 1)]
    for k, now in enumerate(rounds):
        for j in range(8):
            add_wait(store, f"run{k}_{j}", "wait", now - timedelta(seconds=j))

    calls, handled = race(stores, rounds, batch=3)

    fired = Counter(c.target for c in calls)
    expected = {f"{c}@{t:%Y-%m-%dT%H:%M:%SZ}" for c in campaigns for t in rounds}
    expected |= {f"run{k}_{j}/wait" for k in range(len(rounds)) for j in range(8)}
    assert set(fired) == expected
    assert [t for t, n in fired.items() if n != 1] == []
    assert len(calls) == len(expected) == (12 + 8) * n_rounds
    assert store.scalar("SELECT count(*) FROM race_run") == len(expected)
    assert all(h.outcome == "fired" for h in handled)
    # Both took part: the claims really raced.
    by = Counter(c.by for c in calls)
    assert by["s0"] > 0 and by["s1"] > 0
    # Each timer records the one scheduler that fired it, the one whose runner ran.
    recorded = {t.occurrence_key or f"{t.run_id}/{t.node}": t.fired_by for t in timers(store)}
    assert all(recorded[c.target] == c.by for c in calls)


def test_two_schedulers_catching_up_fire_each_campaign_once(
    engine: str, stores: tuple[Store, Store]
) -> None:
    store = stores[0]
    store.execute("CREATE TABLE race_run (target TEXT PRIMARY KEY, fired_by TEXT)")
    t0 = utc(4, 1)
    n_rounds = 10 if engine == "postgres" else 4
    campaigns = [f"c{i:02d}" for i in range(10)]
    for name in campaigns:
        schedule_campaign(store, name, 1, MINUTELY, PARIS, now=t0, horizon=4)
    # Each round comes 7 minutes after the last. Due then: the 4 planned ahead at the last
    # round, and the latest minute, planned by catch-up (the ones between were never planned).
    rounds = [t0 + timedelta(minutes=7 * k) for k in range(1, n_rounds + 1)]

    calls, handled = race(stores, rounds, batch=4)

    fired = Counter(c.target for c in calls)
    assert fired == Counter({f"{c}@{t:%Y-%m-%dT%H:%M:%SZ}" for c in campaigns for t in rounds})
    assert Counter(h.outcome for h in handled) == Counter(
        {"fired": 10 * n_rounds, "missed": 10 * n_rounds * 4}
    )


class SharedClock(FakeClock):
    """One clock for two scheduler threads: a sleeper wakes at the time it asked for, or
    later if the other thread's sleep already took the clock further."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.seen = threading.local()

    def __call__(self) -> datetime:
        self.seen.now = super().__call__()
        return self.seen.now  # type: ignore[no-any-return]

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now = max(self.now, self.seen.now + timedelta(seconds=seconds))


def test_two_scheduler_loops_share_the_lease_and_fire_once(stores: tuple[Store, Store]) -> None:
    store = stores[0]
    store.execute("CREATE TABLE race_run (target TEXT PRIMARY KEY, fired_by TEXT)")
    hourly = Schedule.model_validate({"cron": "0 * * * *"})
    for name in ("a", "b", "c"):
        schedule_campaign(store, name, 1, hourly, PARIS, now=utc(4, 1), horizon=2)
    clock = SharedClock(utc(4, 1))
    runners = [WritingRunner(s, f"s{i}") for i, s in enumerate(stores)]
    stop_first = threading.Event()
    end = utc(4, 2)
    stops: list[Callable[[], bool]] = [
        lambda: stop_first.is_set() or clock() >= end,
        lambda: clock() >= end,
    ]
    errors: list[BaseException] = []

    def loop(i: int) -> None:
        try:
            run_scheduler(
                stores[i], clock, clock.sleep, f"s{i}", runners[i], stops[i], interval=600
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(2)]
    threads[0].start()
    while not runners[0].calls:  # s0 took the lease and fired; now s1 joins
        threads[0].join(timeout=0.01)
    threads[1].start()
    while clock() < utc(4, 1, 12):  # half-way, s0 stops cleanly and s1 carries on
        threads[1].join(timeout=0.01)
    stop_first.set()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors

    calls = [c for r in runners for c in r.calls]
    hours = [utc(4, 1, h) for h in range(1, 24)]  # the loops stop at 04-02 00:00
    assert Counter(c.target for c in calls) == Counter(
        {f"{name}@{h:%Y-%m-%dT%H:%M:%SZ}" for name in "abc" for h in hours}
    )
    assert store.scalar("SELECT count(*) FROM race_run") == 3 * 23
    assert runners[0].calls and runners[1].calls


# --- a real crash ----------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timedelta
    from cantata.store import open_store
    from cantata.canvas.scheduler import run_scheduler

    url, start, crash_at = sys.argv[1], datetime.fromisoformat(sys.argv[2]), sys.argv[3]
    store = open_store(url)
    now = [start]

    def sleep(seconds):
        now[0] += timedelta(seconds=seconds)

    class Runner:
        def start_occurrence(self, campaign, version, fire_at, key):
            store.execute("INSERT INTO race_run VALUES (%s, %s)", [key, "child"])
            print(key, flush=True)
            if key == crash_at:
                sys.stdin.read()  # blocks, mid-transaction, until the test kills us

        def resume_wait(self, run_id, node, now):
            pass

    run_scheduler(store, lambda: now[0], sleep, "child", Runner(), lambda: False, interval=3600)
    """
)


def test_a_killed_scheduler_leaves_nothing_half_done_and_is_taken_over(
    engine: str, tmp_path: Path
) -> None:
    url, schema = store_url(engine, tmp_path)
    daily = Schedule.model_validate({"daily": {"at": "09:00"}})
    crash_key = "c@2026-04-03T07:00:00Z"
    try:
        with open_store(url) as store:
            store.execute("CREATE TABLE race_run (target TEXT PRIMARY KEY, fired_by TEXT)")
            schedule_campaign(store, "c", 1, daily, PARIS, now=utc(4, 1), horizon=2)
        # The DuckDB file is closed here: the child process owns it until it dies.
        script = tmp_path / "child.py"
        script.write_text(CHILD)
        child = subprocess.Popen(
            [sys.executable, str(script), url, utc(4, 1).isoformat(), crash_key],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        printed = []
        try:
            while (line := child.stdout.readline().strip()) != crash_key:
                assert line, child.stderr.read() if child.stderr else "child exited"
                printed.append(line)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=60)
        assert printed == ["c@2026-04-01T07:00:00Z", "c@2026-04-02T07:00:00Z"]

        with open_store(url) as store:
            # The occurrence being fired was rolled back with the child's transaction.
            assert store.fetchall("SELECT target FROM race_run ORDER BY target") == [
                ("c@2026-04-01T07:00:00Z",),
                ("c@2026-04-02T07:00:00Z",),
            ]
            (pending, *_) = timers(store, campaign="c", status="pending")
            assert pending.occurrence_key == crash_key
            holder = lease_holder(store, "scheduler", utc(4, 3, 7))
            assert holder is not None and holder[0] == "child"

            clock = FakeClock(utc(4, 3, 7))
            runner = WritingRunner(store, "b")
            runner.clock = clock
            run_scheduler(
                store, clock, clock.sleep, "b", runner, clock.until(utc(4, 5)), interval=3600
            )
            # b stood by until the dead child's lease expired, then fired the occurrence once.
            first = runner.calls[0]
            assert first.target == crash_key
            assert holder[1] <= first.at < holder[1] + timedelta(hours=1)
            assert [c.target for c in runner.calls] == [
                crash_key,
                "c@2026-04-04T07:00:00Z",
            ]
            assert store.fetchall("SELECT target, fired_by FROM race_run ORDER BY target") == [
                ("c@2026-04-01T07:00:00Z", "child"),
                ("c@2026-04-02T07:00:00Z", "child"),
                (crash_key, "b"),
                ("c@2026-04-04T07:00:00Z", "b"),
            ]
    finally:
        if schema:
            drop_schema(schema)
