"""The scheduler on a fake clock, on both engines: occurrences and waits fire at the right UTC
instants across the DST changes of Europe/Paris (2026-03-29, 2026-10-25) and America/New_York
(2026-03-08, 2026-11-01); planning is idempotent; validity windows, cancellation, runner
failures, catch-up after downtime and lease takeover after a crash."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cantata.canvas.schedule import Schedule, add_duration, local_time_of
from cantata.canvas.scheduler import (
    acquire_lease,
    add_wait,
    cancel_campaign,
    cancel_waits,
    fire_due,
    latest_fire_time,
    lease_holder,
    next_due,
    plan_of,
    release_lease,
    replan,
    run_scheduler,
    schedule_campaign,
    timers,
)
from cantata.store import Store

PARIS = "Europe/Paris"
NEW_YORK = "America/New_York"


def utc(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class FakeClock:
    """The scheduler's clock and sleep: sleeping moves time, never waits."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        with self._lock:
            self.now += timedelta(seconds=seconds)

    def until(self, end: datetime) -> Any:
        return lambda: self() >= end


@dataclass
class Call:
    kind: str
    target: str  # occurrence key, or run/node
    campaign: str | None
    version: int | None
    fire_at: datetime | None  # occurrences: the planned instant
    at: datetime  # the scheduler's clock when called
    by: str


@dataclass
class RecordingRunner:
    """Records every call (thread-safe); optionally refuses some or crashes on one."""

    clock: Any = None
    name: str = "runner"
    calls: list[Call] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # campaigns whose start raises
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start_occurrence(
        self, campaign: str, version: int, fire_at: datetime, occurrence_key: str
    ) -> None:
        if campaign in self.refuse:
            raise RuntimeError(f"campaign {campaign} is stopped")
        at = self.clock() if self.clock else fire_at
        with self.lock:
            self.calls.append(
                Call("occurrence", occurrence_key, campaign, version, fire_at, at, self.name)
            )

    def resume_wait(self, run_id: str, node: str, now: datetime) -> None:
        with self.lock:
            self.calls.append(Call("wait", f"{run_id}/{node}", None, None, None, now, self.name))


def schedule(data: Any) -> Schedule:
    return Schedule.model_validate(data)


def run(
    store: Store,
    clock: FakeClock,
    runner: RecordingRunner,
    end: datetime,
    owner: str = "s1",
    interval: float = 86400,  # the loop sleeps until the next timer anyway
) -> int:
    return run_scheduler(
        store,
        clock=clock,
        sleep=clock.sleep,
        owner=owner,
        runner=runner,
        stop=clock.until(end),
        interval=interval,
    )


def local(moments: list[datetime], tz: str) -> list[str]:
    return [local_time_of(m, tz).strftime("%m-%d %H:%M") for m in moments]


# --- occurrences across DST ------------------------------------------------------------------

DST_CASES = [
    # Paris, spring forward 2026-03-29 02:00 → 03:00: 09:00 local is 08:00Z, then 07:00Z.
    (
        "paris daily spring",
        {"daily": {"at": "09:00"}},
        PARIS,
        (utc(3, 27), utc(3, 31)),
        [utc(3, 27, 8), utc(3, 28, 8), utc(3, 29, 7), utc(3, 30, 7)],
    ),
    (
        "paris daily autumn",
        {"daily": {"at": "09:00"}},
        PARIS,
        (utc(10, 23), utc(10, 27)),
        [utc(10, 23, 7), utc(10, 24, 7), utc(10, 25, 8), utc(10, 26, 8)],
    ),
    # Cron 02:30: skipped on 03-29 (fires at the end of the gap, 03:00 CEST = 01:00Z);
    # repeated on 10-25 (fires once, at the first, summer-time 02:30 = 00:30Z).
    (
        "paris cron spring",
        {"cron": "30 2 * * *"},
        PARIS,
        (utc(3, 27), utc(3, 31)),
        [utc(3, 27, 1, 30), utc(3, 28, 1, 30), utc(3, 29, 1), utc(3, 30, 0, 30)],
    ),
    (
        "paris cron autumn",
        {"cron": "30 2 * * *"},
        PARIS,
        (utc(10, 23), utc(10, 27)),
        [utc(10, 23, 0, 30), utc(10, 24, 0, 30), utc(10, 25, 0, 30), utc(10, 26, 1, 30)],
    ),
    # The last Sunday of the month is the change day in Paris, both times.
    (
        "paris monthly last sunday",
        {"monthly": {"nth": "last", "weekday": "sun", "at": "02:30"}},
        PARIS,
        (utc(3, 1), utc(11, 1)),
        [
            utc(3, 29, 1),
            utc(4, 26, 0, 30),
            utc(5, 31, 0, 30),
            utc(6, 28, 0, 30),
            utc(7, 26, 0, 30),
            utc(8, 30, 0, 30),
            utc(9, 27, 0, 30),
            utc(10, 25, 0, 30),
        ],
    ),
    # Every 2 h from 00:00 on the autumn change day: 02:00 fires once (CEST), 04:00 is CET.
    (
        "paris every 2h autumn",
        {"daily": {"every": "2h", "between": ["00:00", "06:00"]}},
        PARIS,
        (utc(10, 24, 21), utc(10, 25, 6)),
        [utc(10, 24, 22), utc(10, 25, 0), utc(10, 25, 3), utc(10, 25, 5)],
    ),
    # New York, spring forward 2026-03-08 02:00 → 03:00: 09:00 is 14:00Z, then 13:00Z.
    (
        "new york daily spring",
        {"daily": {"at": "09:00"}},
        NEW_YORK,
        (utc(3, 6), utc(3, 10)),
        [utc(3, 6, 14), utc(3, 7, 14), utc(3, 8, 13), utc(3, 9, 13)],
    ),
    (
        "new york weekdays autumn",
        {"weekdays": {"at": "09:00"}},
        NEW_YORK,
        (utc(10, 29), utc(11, 4)),
        [utc(10, 29, 13), utc(10, 30, 13), utc(11, 2, 14), utc(11, 3, 14)],
    ),
    # */30 in hours 1-3 on 03-08: 02:00 and 02:30 do not exist and collapse into 03:00 EDT.
    (
        "new york cron spring",
        {"cron": "*/30 1-3 * * *"},
        NEW_YORK,
        (utc(3, 8, 5), utc(3, 8, 8)),
        [utc(3, 8, 6), utc(3, 8, 6, 30), utc(3, 8, 7), utc(3, 8, 7, 30)],
    ),
    # */30 in hours 1-2 on 11-01: 01:00 and 01:30 happen twice and fire once (EDT).
    (
        "new york cron autumn",
        {"cron": "*/30 1-2 * * *"},
        NEW_YORK,
        (utc(11, 1, 4), utc(11, 1, 8)),
        [utc(11, 1, 5), utc(11, 1, 5, 30), utc(11, 1, 7), utc(11, 1, 7, 30)],
    ),
    # Weekly on Sunday 02:30 in New York: the 03-08 one is skipped to 03:00 EDT (07:00Z).
    (
        "new york weekly spring",
        {"weekly": {"on": ["sun"], "at": "02:30"}},
        NEW_YORK,
        (utc(2, 28), utc(3, 16)),
        [utc(3, 1, 7, 30), utc(3, 8, 7), utc(3, 15, 6, 30)],
    ),
]


@pytest.mark.parametrize(
    ("data", "tz", "span", "expected"),
    [case[1:] for case in DST_CASES],
    ids=[case[0] for case in DST_CASES],
)
def test_occurrences_fire_at_the_right_instants_across_dst(
    store: Store,
    data: Any,
    tz: str,
    span: tuple[datetime, datetime],
    expected: list[datetime],
) -> None:
    start, end = span
    clock = FakeClock(start)
    runner = RecordingRunner(clock=clock)
    schedule_campaign(store, "c", 1, schedule(data), tz, now=start, horizon=2)
    fired = run(store, clock, runner, end)
    assert [c.fire_at for c in runner.calls] == expected
    # Each fired when the clock reached it: the loop sleeps until the next timer.
    assert [c.at for c in runner.calls] == expected
    assert fired == len(expected)
    assert {c.target for c in runner.calls} == {f"c@{t:%Y-%m-%dT%H:%M:%SZ}" for t in expected}
    statuses = {t.occurrence_key: t.status for t in timers(store, campaign="c")}
    assert [statuses[c.target] for c in runner.calls] == ["fired"] * len(expected)


# --- waits across DST ------------------------------------------------------------------------


def test_a_one_day_wait_across_dst_fires_at_the_same_local_time(store: Store) -> None:
    # Paris: from 09:00 on 03-28 (08:00Z), 1d ends 09:00 on 03-29 (07:00Z) — 23 h later —
    # while 24h ends at 10:00 local (08:00Z). New York: 1d from 09:00 on 10-31 is 25 h.
    paris_start = utc(3, 28, 8)
    ny_start = utc(10, 31, 13)
    waits = {
        ("r1", "wait_1d"): add_duration(paris_start, "1d", PARIS),
        ("r1", "wait_24h"): add_duration(paris_start, "24h", PARIS),
        ("r2", "wait_1d"): add_duration(ny_start, "1d", NEW_YORK),
    }
    assert waits[("r1", "wait_1d")] == utc(3, 29, 7)
    assert waits[("r1", "wait_24h")] == utc(3, 29, 8)
    assert waits[("r2", "wait_1d")] == utc(11, 1, 14)
    for (run_id, node), fire_at in waits.items():
        add_wait(store, run_id, node, fire_at, campaign="c", version=1)

    clock = FakeClock(paris_start)
    runner = RecordingRunner(clock=clock)
    run(store, clock, runner, utc(11, 3))
    assert [(c.target, c.at) for c in runner.calls] == [
        ("r1/wait_1d", utc(3, 29, 7)),
        ("r1/wait_24h", utc(3, 29, 8)),
        ("r2/wait_1d", utc(11, 1, 14)),
    ]
    assert local([c.at for c in runner.calls], PARIS)[:2] == ["03-29 09:00", "03-29 10:00"]
    assert local([runner.calls[2].at], NEW_YORK) == ["11-01 09:00"]


def test_add_wait_is_idempotent_per_run_and_node(store: Store) -> None:
    first = add_wait(store, "r1", "w", utc(4, 1, 9))
    again = add_wait(store, "r1", "w", utc(4, 1, 10))  # a resumed run asking again
    assert first == again
    assert [t.fire_at for t in timers(store, run_id="r1")] == [utc(4, 1, 9)]


def test_waits_missed_while_down_all_fire_and_cancelled_ones_do_not(store: Store) -> None:
    for i in range(3):
        add_wait(store, f"r{i}", "w", utc(4, 1, 9 + i))
    add_wait(store, "stopped", "w", utc(4, 1, 9))
    assert cancel_waits(store, "stopped") == 1
    runner = RecordingRunner()
    handled = fire_due(store, utc(4, 2), "s1", runner)
    assert [c.target for c in runner.calls] == ["r0/w", "r1/w", "r2/w"]
    assert [f.outcome for f in handled] == ["fired"] * 3
    assert fire_due(store, utc(4, 3), "s1", runner) == []


# --- planning --------------------------------------------------------------------------------

DAILY = {"daily": {"at": "09:00"}}


def occurrence_rows(store: Store, campaign: str = "c") -> list[tuple[Any, ...]]:
    return store.fetchall(
        "SELECT id, occurrence_key, version, status FROM cantata_timer "
        "WHERE campaign = %s ORDER BY fire_at",
        [campaign],
    )


def test_replanning_is_idempotent(store: Store) -> None:
    now = utc(4, 1)
    planned = schedule_campaign(store, "c", 1, schedule(DAILY), PARIS, now=now, horizon=3)
    assert planned == [utc(4, 1, 7), utc(4, 2, 7), utc(4, 3, 7)]
    rows = occurrence_rows(store)
    for _ in range(3):
        assert schedule_campaign(store, "c", 1, schedule(DAILY), PARIS, now=now, horizon=3)
        assert replan(store, now) == 0
    assert occurrence_rows(store) == rows  # the same rows, ids included
    # Planning later adds only what is new; nothing is duplicated.
    schedule_campaign(store, "c", 1, schedule(DAILY), PARIS, now=utc(4, 2, 12), horizon=3)
    assert [r[1] for r in occurrence_rows(store)] == [
        "c@2026-04-01T07:00:00Z",
        "c@2026-04-02T07:00:00Z",
        "c@2026-04-03T07:00:00Z",
        "c@2026-04-04T07:00:00Z",
        "c@2026-04-05T07:00:00Z",
    ]
    assert store.scalar("SELECT count(DISTINCT occurrence_key) FROM cantata_timer") == 5
    assert store.scalar("SELECT count(*) FROM cantata_timer") == 5


def test_a_new_version_takes_over_pending_occurrences(store: Store) -> None:
    schedule_campaign(store, "c", 1, schedule(DAILY), PARIS, now=utc(4, 1), horizon=3)
    runner = RecordingRunner()
    fire_due(store, utc(4, 1, 7), "s1", runner)  # 04-01 fires at version 1
    # Version 2 fires at 10:00: 09:00 occurrences not yet fired go; 10:00 ones come.
    ten = {"daily": {"at": "10:00"}}
    schedule_campaign(store, "c", 2, schedule(ten), PARIS, now=utc(4, 1, 7, 5), horizon=2)
    assert [(r[1], r[2], r[3]) for r in occurrence_rows(store)] == [
        ("c@2026-04-01T07:00:00Z", 1, "fired"),
        ("c@2026-04-01T08:00:00Z", 2, "pending"),
        ("c@2026-04-02T08:00:00Z", 2, "pending"),
    ]
    fire_due(store, utc(4, 1, 8), "s1", runner)
    fire_due(store, utc(4, 2, 8), "s1", runner)
    assert [(c.version, c.fire_at) for c in runner.calls] == [
        (1, utc(4, 1, 7)),
        (2, utc(4, 1, 8)),
        (2, utc(4, 2, 8)),
    ]


def test_the_horizon_is_kept_as_occurrences_fire(store: Store) -> None:
    schedule_campaign(store, "c", 1, schedule(DAILY), PARIS, now=utc(4, 1), horizon=2)
    runner = RecordingRunner()
    for day in range(1, 8):
        fire_due(store, utc(4, day, 7), "s1", runner)
        pending = timers(store, campaign="c", status="pending")
        assert [t.fire_at for t in pending] == [utc(4, day + 1, 7), utc(4, day + 2, 7)]
    assert len(runner.calls) == 7
    plan = plan_of(store, "c")
    assert plan is not None and plan.status == "active" and plan.next_fire_at == utc(4, 8, 7)


def test_a_validity_window_stops_firing(store: Store) -> None:
    window = {"daily": {"at": "09:00"}, "start": "2026-04-02", "end": "2026-04-04"}
    clock = FakeClock(utc(3, 30))
    runner = RecordingRunner(clock=clock)
    schedule_campaign(store, "c", 1, schedule(window), PARIS, now=clock(), horizon=2)
    run(store, clock, runner, utc(4, 12))
    assert [c.at for c in runner.calls] == [utc(4, 2, 7), utc(4, 3, 7), utc(4, 4, 7)]
    plan = plan_of(store, "c")
    assert plan is not None and plan.status == "completed" and plan.next_fire_at is None
    assert next_due(store) is None


def test_a_once_schedule_fires_once(store: Store) -> None:
    clock = FakeClock(utc(4, 1))
    runner = RecordingRunner(clock=clock)
    once = {"once": "2026-04-01T09:00"}  # wall clock in Paris: 07:00Z
    assert schedule_campaign(store, "c", 1, schedule(once), PARIS, now=clock()) == [utc(4, 1, 7)]
    run(store, clock, runner, utc(4, 5))
    assert [c.at for c in runner.calls] == [utc(4, 1, 7)]
    plan = plan_of(store, "c")
    assert plan is not None and plan.status == "completed"


def test_a_manual_schedule_plans_nothing(store: Store) -> None:
    assert schedule_campaign(store, "c", 1, schedule("manual"), PARIS, now=utc(4, 1)) == []
    plan = plan_of(store, "c")
    assert plan is not None and plan.status == "completed"


def test_cancel_stops_occurrences_and_scheduling_again_revives_them(store: Store) -> None:
    schedule_campaign(store, "c", 1, schedule(DAILY), PARIS, now=utc(4, 1), horizon=2)
    schedule_campaign(store, "other", 1, schedule(DAILY), PARIS, now=utc(4, 1), horizon=2)
    assert cancel_campaign(store, "c") == 2
    runner = RecordingRunner()
    fire_due(store, utc(4, 3), "s1", runner)
    assert {c.campaign for c in runner.calls} == {"other"}
    assert {t.status for t in timers(store, campaign="c")} == {"cancelled"}
    plan = plan_of(store, "c")
    assert plan is not None and plan.status == "cancelled"
    # Closed campaigns are not re-planned by the scheduler...
    fire_due(store, utc(4, 5), "s1", runner)
    assert timers(store, campaign="c", status="pending") == []
    # ...until scheduled again: future cancelled occurrences come back, without duplicates.
    schedule_campaign(store, "c", 2, schedule(DAILY), PARIS, now=utc(4, 1, 12), horizon=2)
    assert [(r[1], r[2], r[3]) for r in occurrence_rows(store)] == [
        ("c@2026-04-01T07:00:00Z", 1, "cancelled"),
        ("c@2026-04-02T07:00:00Z", 2, "pending"),
        ("c@2026-04-03T07:00:00Z", 2, "pending"),
    ]


def test_a_refused_occurrence_is_marked_failed_and_others_fire(store: Store) -> None:
    schedule_campaign(store, "bad", 1, schedule(DAILY), PARIS, now=utc(4, 1), horizon=2)
    schedule_campaign(store, "good", 1, schedule(DAILY), PARIS, now=utc(4, 1), horizon=2)
    runner = RecordingRunner(refuse={"bad"})
    handled = fire_due(store, utc(4, 1, 7), "s1", runner)
    assert sorted((f.timer.campaign, f.outcome) for f in handled) == [
        ("bad", "failed"),
        ("good", "fired"),
    ]
    (failed,) = timers(store, campaign="bad", status="failed")
    assert failed.error == "RuntimeError: campaign bad is stopped"
    assert failed.fired_by == "s1" and failed.fired_at == utc(4, 1, 7)
    assert [c.campaign for c in runner.calls] == ["good"]
    # The plan goes on: the next occurrence is still there.
    assert [t.fire_at for t in timers(store, campaign="bad", status="pending")] == [
        utc(4, 2, 7),
        utc(4, 3, 7),
    ]


# --- catch-up --------------------------------------------------------------------------------


@pytest.mark.parametrize("days_down", [3, 10])
def test_missed_occurrences_fire_once_the_latest(store: Store, days_down: int) -> None:
    schedule_campaign(store, "c", 1, schedule(DAILY), PARIS, now=utc(4, 1), horizon=3)
    # No scheduler ran until 12:00Z, `days_down` days later: 09:00 that day is the latest.
    back = utc(4, 1 + days_down, 12)
    clock = FakeClock(back)
    runner = RecordingRunner(clock=clock)
    handled = fire_due(store, back, "s1", runner)
    assert [(c.fire_at, c.at) for c in runner.calls] == [(utc(4, 1 + days_down, 7), back)]
    assert [f.outcome for f in handled].count("fired") == 1
    assert all(f.outcome == "missed" for f in handled if f.timer.fire_at < utc(4, days_down, 8))
    # Then it goes on daily, on time.
    run(store, clock, runner, utc(4, 3 + days_down))
    assert [c.at for c in runner.calls] == [
        back,
        utc(4, 2 + days_down, 7),
    ]
    statuses = [t.status for t in timers(store, campaign="c") if t.fire_at <= back]
    assert statuses.count("fired") == 1
    assert statuses.count("missed") == len(statuses) - 1


def test_latest_fire_time() -> None:
    daily = schedule(DAILY)
    assert latest_fire_time(daily, PARIS, utc(4, 1), utc(4, 5, 12)) == utc(4, 5, 7)
    assert latest_fire_time(daily, PARIS, utc(4, 5, 7), utc(4, 5, 12)) is None
    minutely = schedule({"cron": "* * * * *"})
    assert latest_fire_time(minutely, PARIS, utc(1, 1), utc(4, 5, 12, 3)) == utc(4, 5, 12, 3)
    yearly = schedule({"cron": "0 9 1 1 *"})
    assert latest_fire_time(yearly, PARIS, utc(1, 1, year=2020), utc(4, 5)) == utc(1, 1, 8)


# --- leases ----------------------------------------------------------------------------------


def test_a_lease_has_one_holder_until_it_expires_or_is_released(store: Store) -> None:
    t0 = utc(4, 1)
    assert acquire_lease(store, "scheduler", "a", t0, 60)
    assert not acquire_lease(store, "scheduler", "b", t0 + timedelta(seconds=30), 60)
    assert acquire_lease(store, "scheduler", "a", t0 + timedelta(seconds=50), 60)  # renewed
    assert not acquire_lease(store, "scheduler", "b", t0 + timedelta(seconds=100), 60)
    assert lease_holder(store, "scheduler", t0 + timedelta(seconds=100)) == (
        "a",
        t0 + timedelta(seconds=110),
    )
    assert acquire_lease(store, "scheduler", "b", t0 + timedelta(seconds=110), 60)  # expired
    assert not release_lease(store, "scheduler", "a")
    assert release_lease(store, "scheduler", "b")
    assert acquire_lease(store, "scheduler", "a", t0 + timedelta(seconds=111), 60)


class Crash(BaseException):
    """The process dying mid-fire: nothing after it runs, nothing is committed."""


def test_a_crashed_schedulers_lease_expires_and_another_takes_over(store: Store) -> None:
    schedule_campaign(store, "c", 1, schedule(DAILY), PARIS, now=utc(4, 1), horizon=2)
    clock = FakeClock(utc(4, 1))

    class Crashing(RecordingRunner):
        def start_occurrence(
            self, campaign: str, version: int, fire_at: datetime, occurrence_key: str
        ) -> None:
            super().start_occurrence(campaign, version, fire_at, occurrence_key)
            if fire_at == utc(4, 2, 7):
                raise Crash

    a = Crashing(clock=clock, name="a")
    with pytest.raises(Crash):  # dies while firing the 04-02 occurrence, lease held
        run(store, clock, a, utc(4, 10), owner="a", interval=600)
    assert clock() == utc(4, 2, 7)
    assert [c.fire_at for c in a.calls] == [utc(4, 1, 7), utc(4, 2, 7)]  # the 2nd rolled back
    assert timers(store, campaign="c", status="pending")[0].fire_at == utc(4, 2, 7)
    holder = lease_holder(store, "scheduler", clock())
    assert holder is not None and holder[0] == "a"

    b = RecordingRunner(clock=clock, name="b")
    run(store, clock, b, utc(4, 3, 8), owner="b", interval=600)
    # b stood by until a's lease (renewed at 07:00Z for 3 × 600 s) expired, then fired it once.
    assert b.calls[0].fire_at == utc(4, 2, 7)
    assert b.calls[0].at == holder[1] == utc(4, 2, 7, 30)
    assert [c.fire_at for c in b.calls] == [utc(4, 2, 7), utc(4, 3, 7)]
    fired = timers(store, campaign="c", status="fired")
    assert [(t.fire_at, t.fired_by) for t in fired] == [
        (utc(4, 1, 7), "a"),
        (utc(4, 2, 7), "b"),
        (utc(4, 3, 7), "b"),
    ]


def test_a_clean_stop_releases_the_lease(store: Store) -> None:
    clock = FakeClock(utc(4, 1))
    run(store, clock, RecordingRunner(), utc(4, 1, 1), owner="a", interval=60)
    assert lease_holder(store, "scheduler", clock()) is None
    assert acquire_lease(store, "scheduler", "b", clock(), 60)


def test_the_loop_refuses_a_lease_shorter_than_its_poll(store: Store) -> None:
    clock = FakeClock(utc(4, 1))
    with pytest.raises(ValueError, match="ttl"):
        run_scheduler(
            store, clock, clock.sleep, "a", RecordingRunner(), lambda: False, interval=60, ttl=30
        )
