"""The scheduler: timers are rows with `fire_at` in UTC, fired by a scheduler holding a lease.

Two kinds of timer share one table, `cantata_timer`:

* an **occurrence** of a scheduled campaign — `schedule_campaign` plans the next `horizon`
  fire times (from `next_fire_times`), each with an occurrence key unique per campaign, so
  planning again never duplicates one; firing it asks the runner to start one run;
* a **wait** of a run at a node — `add_wait`; firing it asks the runner to resume the run.

`fire_due(store, now, owner, runner)` fires what is due at `now`, each timer in its own
transaction that marks it fired and calls the runner: a runner writing its rows through the
same store starts the run in that transaction, so firing and starting commit together. Two
schedulers firing at once never fire one timer twice: on PostgreSQL each claims with
`FOR UPDATE SKIP LOCKED` (a timer being fired by one is skipped by the other, and is no longer
pending once it commits); DuckDB is owned by one process whose store serialises transactions.
Above that, `run_scheduler` fires only while it holds the lease `scheduler`, so normally one
scheduler fires and the others stand by until its lease expires.

**Catch-up** (missed occurrences, e.g. while no scheduler ran): a campaign's occurrences that
are due together fire once — the latest fire time at or before `now` starts a run; the
earlier ones are marked `missed` and start nothing. This is what Adobe Campaign does on
restart: a daily campaign down for three days runs once, not three times. Waits are never
skipped: each due wait resumes its run, however late.

Time is explicit: every function takes `now`; `run_scheduler` takes the clock and the sleep.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from cantata.canvas.schedule import Schedule, next_fire_times, zone
from cantata.store.base import Store

log = logging.getLogger("cantata.scheduler")

LEASE = "scheduler"
DEFAULT_HORIZON = 3
Kind = Literal["occurrence", "wait"]
Outcome = Literal["fired", "missed", "failed"]

# How far back catch-up looks for the latest missed fire time, widening only while it finds
# none (a dense schedule is answered by the first window, a monthly one by the third).
_CATCH_UP_SPANS = (
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=32),
    timedelta(days=367),
    timedelta(days=3700),
)
_CHUNK = 64
# When a due timer is still locked by another scheduler (SKIP LOCKED passed over it), poll
# again after this long instead of spinning.
_MIN_POLL = 1.0


class Runner(Protocol):
    """What the scheduler calls. Both are called inside the transaction that marks the timer
    fired, on the scheduler's store: a runner recording its rows through that store commits
    them with the timer — exactly once, even across a crash. They should record, not execute
    (a long call holds the transaction and the timer's row lock); `run_scheduler`'s
    `after_fire` is the place to execute what they recorded, after the commit.

    * `start_occurrence` starts one run of `campaign` at `version` for the occurrence;
      `occurrence_key` (`name@2026-03-29T07:00:00Z`) identifies it — a runner writing
      through another connection must treat it as an idempotency key, since a scheduler that
      dies before committing fires the occurrence again;
    * `resume_wait` resumes `run_id` past its wait at `node` (`now` ≥ the wait's fire time).

    Raising refuses the timer: its transaction rolls back and it is marked `failed`.
    """

    def start_occurrence(
        self, campaign: str, version: int, fire_at: datetime, occurrence_key: str
    ) -> None: ...

    def resume_wait(self, run_id: str, node: str, now: datetime) -> None: ...


@dataclass(frozen=True)
class Timer:
    id: str
    kind: Kind
    campaign: str | None
    version: int | None
    run_id: str | None
    node: str | None
    occurrence_key: str | None
    fire_at: datetime  # UTC, aware
    status: str
    fired_at: datetime | None = None
    fired_by: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Fired:
    """A timer `fire_due` handled: fired (the runner was called), missed (an older occurrence
    superseded by a later due one) or failed (the runner raised; `error` says why)."""

    timer: Timer
    outcome: Outcome
    error: str | None = None


@dataclass(frozen=True)
class Plan:
    campaign: str
    version: int
    schedule: Schedule
    time_zone: str
    horizon: int
    status: str  # active | completed | cancelled
    next_fire_at: datetime | None


# --- time ------------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone: pass an aware datetime (UTC)")
    return moment.astimezone(UTC)


def _db(moment: datetime) -> datetime:
    """As stored: naive UTC (both stores run their sessions in UTC)."""
    return _utc(moment).replace(tzinfo=None)


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def occurrence_key(campaign: str, fire_at: datetime) -> str:
    return f"{campaign}@{_utc(fire_at):%Y-%m-%dT%H:%M:%SZ}"


# --- rows ------------------------------------------------------------------------------------

_COLUMNS = (
    "id, kind, campaign, version, run_id, node, occurrence_key, fire_at, status, "
    "fired_at, fired_by, error"
)


def _timer(row: Sequence[Any]) -> Timer:
    fire_at = _aware(row[7])
    assert fire_at is not None
    return Timer(
        id=row[0],
        kind=row[1],
        campaign=row[2],
        version=row[3],
        run_id=row[4],
        node=row[5],
        occurrence_key=row[6],
        fire_at=fire_at,
        status=row[8],
        fired_at=_aware(row[9]),
        fired_by=row[10],
        error=row[11],
    )


def _new_id() -> str:
    return uuid.uuid4().hex


# --- planning occurrences --------------------------------------------------------------------


def schedule_campaign(
    store: Store,
    campaign: str,
    version: int,
    schedule: Schedule,
    tz: str,
    now: datetime,
    horizon: int = DEFAULT_HORIZON,
) -> list[datetime]:
    """Plan `campaign`'s next `horizon` occurrences after `now`, fired at `version`; return
    them. Idempotent: planning again (or concurrently) keeps one row per occurrence. Planning a
    new version or schedule moves pending occurrences to that version and drops future ones
    the new schedule no longer has; occurrences already fired stay fired."""
    if horizon < 1:
        raise ValueError("horizon must be at least 1")
    zone(tz)  # an unknown zone fails here, not in the scheduler loop
    now = _utc(now)
    times = next_fire_times(schedule, tz, after=now, count=horizon)
    keys = {occurrence_key(campaign, t) for t in times}
    with store.transaction():
        store.execute(
            "INSERT INTO cantata_schedule_plan (campaign, version, schedule, time_zone, horizon, "
            "status, exhausted, scheduled_at) VALUES (%s, %s, %s, %s, %s, 'active', %s, %s) "
            "ON CONFLICT (campaign) DO UPDATE SET version = excluded.version, "
            "schedule = excluded.schedule, time_zone = excluded.time_zone, "
            "horizon = excluded.horizon, status = 'active', exhausted = excluded.exhausted, "
            "scheduled_at = excluded.scheduled_at",
            [
                campaign,
                version,
                json.dumps(schedule.model_dump(mode="json", exclude_none=True)),
                tz,
                horizon,
                len(times) < horizon,
                _db(now),
            ],
        )
        # A cancelled occurrence comes back when the campaign is scheduled again.
        for fire_at in times:
            _insert_occurrence(store, campaign, version, fire_at, revive=True)
        pending = store.fetchall(
            "SELECT id, occurrence_key, fire_at FROM cantata_timer "
            "WHERE kind = 'occurrence' AND campaign = %s AND status = 'pending'",
            [campaign],
        )
        for timer_id, key, fire_at in pending:
            # `status = 'pending'` again: a scheduler may have fired it since we read it.
            if fire_at > _db(now) and key not in keys:
                store.execute(
                    "DELETE FROM cantata_timer WHERE id = %s AND status = 'pending'", [timer_id]
                )
            else:  # due ones not fired yet (no scheduler ran) fire at the new version
                store.execute(
                    "UPDATE cantata_timer SET version = %s WHERE id = %s AND status = 'pending'",
                    [version, timer_id],
                )
        _complete_if_done(store, campaign)
    return times


def cancel_campaign(store: Store, campaign: str) -> int:
    """Stop planning `campaign` and cancel its pending occurrences; return how many. Runs
    already started go on (their waits still fire): stopping them is the runner's job."""
    with store.transaction():
        store.execute(
            "UPDATE cantata_schedule_plan SET status = 'cancelled' WHERE campaign = %s",
            [campaign],
        )
        return len(
            store.fetchall(
                "UPDATE cantata_timer SET status = 'cancelled' WHERE kind = 'occurrence' "
                "AND campaign = %s AND status = 'pending' RETURNING id",
                [campaign],
            )
        )


def replan(store: Store, now: datetime) -> int:
    """Keep every active plan `horizon` occurrences ahead of `now`, catch up a plan that ran
    dry (its latest missed fire time), and complete plans with nothing left to fire; return
    the number of occurrences added. `fire_due` calls it before and after firing."""
    now = _utc(now)
    rows = store.fetchall(
        "SELECT p.campaign, p.version, p.schedule, p.time_zone, p.horizon, p.exhausted, "
        "count(*) FILTER (WHERE t.fire_at > %s), count(t.id) "
        "FROM cantata_schedule_plan p LEFT JOIN cantata_timer t ON t.campaign = p.campaign "
        "AND t.kind = 'occurrence' AND t.status = 'pending' WHERE p.status = 'active' "
        "GROUP BY p.campaign, p.version, p.schedule, p.time_zone, p.horizon, p.exhausted "
        "ORDER BY p.campaign",
        [_db(now)],
    )
    added = 0
    for campaign, version, raw, tz, horizon, exhausted, upcoming, pending in rows:
        if exhausted:
            if not pending:
                with store.transaction():
                    _complete_if_done(store, campaign)
            continue
        if upcoming >= horizon:
            continue
        schedule = Schedule.model_validate(json.loads(raw))
        with store.transaction():
            last = _aware(
                store.scalar(
                    "SELECT max(fire_at) FROM cantata_timer "
                    "WHERE kind = 'occurrence' AND campaign = %s",
                    [campaign],
                )
            )
            times = []
            if last is not None and last < now:
                latest = latest_fire_time(schedule, tz, after=last, until=now)
                if latest is not None:
                    times.append(latest)
            ahead = next_fire_times(schedule, tz, after=now, count=horizon)
            for fire_at in [*times, *ahead]:
                added += _insert_occurrence(store, campaign, version, fire_at, revive=False)
            if len(ahead) < horizon:
                store.execute(
                    "UPDATE cantata_schedule_plan SET exhausted = true WHERE campaign = %s",
                    [campaign],
                )
                _complete_if_done(store, campaign)
    return added


def latest_fire_time(
    schedule: Schedule, tz: str, after: datetime, until: datetime
) -> datetime | None:
    """The last fire time in (`after`, `until`], or None."""
    after, until = _utc(after), _utc(until)
    for span in _CATCH_UP_SPANS:
        lower = max(after, until - span)
        found = None
        cursor = lower
        while True:
            times = next_fire_times(schedule, tz, after=cursor, count=_CHUNK)
            within = [t for t in times if t <= until]
            if within:
                found = within[-1]
            if len(within) < _CHUNK:
                break
            cursor = within[-1]
        if found is not None or lower == after:
            return found
    return None


def _insert_occurrence(
    store: Store, campaign: str, version: int, fire_at: datetime, *, revive: bool
) -> int:
    """Insert one occurrence unless its key exists; with `revive`, an existing pending or
    cancelled one takes `version` and is pending again. Return 1 when a row was added."""
    conflict = (
        "DO UPDATE SET version = excluded.version, status = 'pending' "
        "WHERE cantata_timer.status IN ('pending', 'cancelled')"
        if revive
        else "DO NOTHING"
    )
    new_id = _new_id()
    rows = store.fetchall(
        f"INSERT INTO cantata_timer (id, kind, campaign, version, occurrence_key, fire_at, "
        f"status) VALUES (%s, 'occurrence', %s, %s, %s, %s, 'pending') "
        f"ON CONFLICT (campaign, occurrence_key) {conflict} RETURNING id",
        [new_id, campaign, version, occurrence_key(campaign, fire_at), _db(fire_at)],
    )
    return int(bool(rows) and rows[0][0] == new_id)


def _complete_if_done(store: Store, campaign: str) -> None:
    """An exhausted plan with no pending occurrence left is completed."""
    store.execute(
        "UPDATE cantata_schedule_plan SET status = 'completed' WHERE campaign = %s "
        "AND status = 'active' AND exhausted AND NOT EXISTS (SELECT 1 FROM cantata_timer t "
        "WHERE t.kind = 'occurrence' AND t.campaign = %s AND t.status = 'pending')",
        [campaign, campaign],
    )


def plan_of(store: Store, campaign: str) -> Plan | None:
    """The campaign's plan and its next pending fire time, for status displays."""
    row = store.fetchone(
        "SELECT p.campaign, p.version, p.schedule, p.time_zone, p.horizon, p.status, "
        "(SELECT min(fire_at) FROM cantata_timer t WHERE t.kind = 'occurrence' "
        " AND t.campaign = p.campaign AND t.status = 'pending') "
        "FROM cantata_schedule_plan p WHERE p.campaign = %s",
        [campaign],
    )
    if row is None:
        return None
    return Plan(
        campaign=row[0],
        version=row[1],
        schedule=Schedule.model_validate(json.loads(row[2])),
        time_zone=row[3],
        horizon=row[4],
        status=row[5],
        next_fire_at=_aware(row[6]),
    )


def timers(
    store: Store,
    *,
    campaign: str | None = None,
    run_id: str | None = None,
    status: str | None = None,
) -> list[Timer]:
    """Timers by campaign, run and status, in firing order."""
    where, params = [], []
    for column, value in (("campaign", campaign), ("run_id", run_id), ("status", status)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    sql = f"SELECT {_COLUMNS} FROM cantata_timer"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [_timer(r) for r in store.fetchall(sql + " ORDER BY fire_at, id", params)]


# --- waits -----------------------------------------------------------------------------------


def add_wait(
    store: Store,
    run_id: str,
    node: str,
    fire_at: datetime,
    *,
    campaign: str | None = None,
    version: int | None = None,
) -> str:
    """Wake `run_id` at `node` at `fire_at` (compute it with `add_duration` / `wait_until`);
    return the timer id. Idempotent per (run, node): a resumed run asking again keeps the
    first `fire_at`, so a crash does not push the wait back."""
    new_id = _new_id()
    store.execute(
        "INSERT INTO cantata_timer (id, kind, campaign, version, run_id, node, fire_at, status) "
        "VALUES (%s, 'wait', %s, %s, %s, %s, %s, 'pending') "
        "ON CONFLICT (run_id, node) DO NOTHING",
        [new_id, campaign, version, run_id, node, _db(fire_at)],
    )
    return str(
        store.scalar("SELECT id FROM cantata_timer WHERE run_id = %s AND node = %s", [run_id, node])
    )


def cancel_waits(store: Store, run_id: str) -> int:
    """Cancel a stopped run's pending waits; return how many."""
    return len(
        store.fetchall(
            "UPDATE cantata_timer SET status = 'cancelled' WHERE run_id = %s "
            "AND status = 'pending' RETURNING id",
            [run_id],
        )
    )


# --- leases ----------------------------------------------------------------------------------


def acquire_lease(
    store: Store, name: str, owner: str, now: datetime, ttl: timedelta | float
) -> bool:
    """Take or renew the lease `name` for `owner` until `now + ttl`; False while another owner
    holds an unexpired one. One statement, so two schedulers racing cannot both win."""
    ttl = ttl if isinstance(ttl, timedelta) else timedelta(seconds=ttl)
    now = _utc(now)
    rows = store.fetchall(
        "INSERT INTO cantata_lease (name, owner, acquired_at, expires_at) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
        "acquired_at = CASE WHEN cantata_lease.owner = excluded.owner "
        "  THEN cantata_lease.acquired_at ELSE excluded.acquired_at END, "
        "expires_at = excluded.expires_at "
        "WHERE cantata_lease.owner = excluded.owner OR cantata_lease.expires_at <= %s "
        "RETURNING owner",
        [name, owner, _db(now), _db(now + ttl), _db(now)],
    )
    return bool(rows) and rows[0][0] == owner


def release_lease(store: Store, name: str, owner: str) -> bool:
    """Give the lease up (a clean stop), so a standby takes over without waiting for expiry."""
    return bool(
        store.fetchall(
            "DELETE FROM cantata_lease WHERE name = %s AND owner = %s RETURNING name",
            [name, owner],
        )
    )


def lease_holder(store: Store, name: str, now: datetime) -> tuple[str, datetime] | None:
    """Who holds the lease at `now`, and until when."""
    row = store.fetchone(
        "SELECT owner, expires_at FROM cantata_lease WHERE name = %s AND expires_at > %s",
        [name, _db(now)],
    )
    if row is None:
        return None
    expires = _aware(row[1])
    assert expires is not None
    return row[0], expires


# --- firing ----------------------------------------------------------------------------------


class _RunnerFailed(Exception):
    def __init__(self, timer: Timer, cause: Exception) -> None:
        super().__init__(str(cause))
        self.timer = timer
        self.cause = cause


def fire_due(
    store: Store, now: datetime, owner: str, runner: Runner, batch: int = 100
) -> list[Fired]:
    """Fire up to `batch` timers due at `now` (oldest first) through `runner`, then keep the
    plans ahead; return what was handled. Safe to call from several schedulers at once."""
    now = _utc(now)
    replan(store, now)
    handled: list[Fired] = []
    while len(handled) < batch:
        try:
            fired = _fire_next(store, now, owner, runner)
        except _RunnerFailed as failed:
            # The transaction rolled back whatever the runner wrote; record the refusal.
            log.error("timer %s failed: %s", failed.timer.id, failed.cause)
            error = f"{type(failed.cause).__name__}: {failed.cause}"
            store.execute(
                "UPDATE cantata_timer SET status = 'failed', fired_at = %s, fired_by = %s, "
                "error = %s WHERE id = %s AND status = 'pending'",
                [_db(now), owner, error, failed.timer.id],
            )
            handled.append(Fired(failed.timer, "failed", error))
            continue
        if fired is None:
            break
        if isinstance(fired, Fired):
            handled.append(fired)
    if any(f.timer.kind == "occurrence" for f in handled):
        replan(store, now)
    return handled


_TAKEN: Literal["taken"] = "taken"


def _fire_next(
    store: Store, now: datetime, owner: str, runner: Runner
) -> Fired | Literal["taken"] | None:
    """Claim the oldest due timer and fire it, in one transaction; None when none is due."""
    # SKIP LOCKED: a timer another scheduler is firing is not waited for, and once that one
    # commits it is no longer pending. DuckDB has no row locks: its store serialises us.
    lock = " FOR UPDATE SKIP LOCKED" if store.dialect == "postgres" else ""
    with store.transaction():
        row = store.fetchone(
            f"SELECT {_COLUMNS} FROM cantata_timer WHERE status = 'pending' AND fire_at <= %s "
            f"ORDER BY fire_at, id LIMIT 1{lock}",
            [_db(now)],
        )
        if row is None:
            return None
        timer = _timer(row)
        outcome: Outcome = "fired"
        # Catch-up: an occurrence with a later one due (or already handled) is superseded.
        # Counting handled ones too keeps a second scheduler from firing the older one after
        # the first fired the later.
        if timer.kind == "occurrence" and store.fetchone(
            "SELECT 1 FROM cantata_timer WHERE kind = 'occurrence' AND campaign = %s "
            "AND fire_at > %s AND fire_at <= %s AND status <> 'cancelled' LIMIT 1",
            [timer.campaign, _db(timer.fire_at), _db(now)],
        ):
            outcome = "missed"
        claimed = store.fetchall(
            "UPDATE cantata_timer SET status = %s, fired_at = %s, fired_by = %s "
            "WHERE id = %s AND status = 'pending' RETURNING id",
            [outcome, _db(now), owner, timer.id],
        )
        if not claimed:  # no longer pending: not ours (cannot happen under the row lock)
            return _TAKEN
        if outcome == "fired":
            try:
                if timer.kind == "occurrence":
                    assert timer.campaign is not None and timer.version is not None
                    assert timer.occurrence_key is not None
                    runner.start_occurrence(
                        timer.campaign, timer.version, timer.fire_at, timer.occurrence_key
                    )
                else:
                    assert timer.run_id is not None and timer.node is not None
                    runner.resume_wait(timer.run_id, timer.node, now)
            except Exception as exc:
                raise _RunnerFailed(timer, exc) from exc
    return Fired(timer, outcome)


def next_due(store: Store) -> datetime | None:
    """The earliest pending fire time."""
    return _aware(store.scalar("SELECT min(fire_at) FROM cantata_timer WHERE status = 'pending'"))


# --- the loop --------------------------------------------------------------------------------


def scheduler_turn(
    store: Store,
    now: datetime,
    owner: str,
    runner: Runner,
    *,
    ttl: float,
    lease: str = LEASE,
    batch: int = 100,
    on_fired: Callable[[Fired], None] | None = None,
    after_fire: Callable[[datetime], None] | None = None,
    each_turn: Callable[[datetime], object] | None = None,
) -> list[Fired] | None:
    """One turn: take or renew the lease for `ttl` seconds and, holding it, fire what is due
    at `now` (`on_fired` for each), then `after_fire(now)` if something fired and
    `each_turn(now)`. None when another scheduler holds the lease."""
    if not acquire_lease(store, lease, owner, now, ttl):
        return None
    handled = fire_due(store, now, owner, runner, batch)
    for fired in handled:
        if on_fired is not None:
            on_fired(fired)
    if after_fire is not None and any(f.outcome == "fired" for f in handled):
        after_fire(now)
    if each_turn is not None:
        each_turn(now)
    return handled


def run_scheduler(
    store: Store,
    clock: Callable[[], datetime],
    sleep: Callable[[float], object],
    owner: str,
    runner: Runner,
    stop: Callable[[], bool],
    *,
    lease: str = LEASE,
    interval: float = 5.0,
    ttl: float | None = None,
    batch: int = 100,
    on_fired: Callable[[Fired], None] | None = None,
    after_fire: Callable[[datetime], None] | None = None,
    each_turn: Callable[[datetime], object] | None = None,
) -> int:
    """Fire due timers until `stop()`; return how many fired. Each turn renews the lease
    (`ttl` seconds, default 3 × `interval`, at least 60) and, while holding it, fires what is
    due at `clock()`, then sleeps until the next timer or `interval`, whichever comes first.
    After a turn that fired something (committed), `after_fire(now)` runs — where a runner
    executes the runs it recorded; keep `ttl` above its longest call, or a standby takes
    the lease meanwhile (harmless to correctness: claims still fire each timer once).
    `each_turn(now)` runs every turn the lease is held: housekeeping such as purging.
    A clean stop releases the lease; a crash leaves it to expire, then a standby takes over.
    """
    if interval <= 0 or batch < 1:
        raise ValueError("interval must be positive and batch at least 1")
    lease_ttl = ttl if ttl is not None else max(60.0, 3 * interval)
    if lease_ttl <= interval:
        raise ValueError("the lease ttl must exceed the poll interval, or the lease lapses")
    count = 0
    while not stop():
        now = _utc(clock())
        wait = interval
        handled = scheduler_turn(
            store, now, owner, runner, ttl=lease_ttl, lease=lease, batch=batch,
            on_fired=on_fired, after_fire=after_fire, each_turn=each_turn,
        )  # fmt: skip
        if handled is not None:
            count += sum(f.outcome == "fired" for f in handled)
            if len(handled) == batch:
                continue  # more may be due: no sleep
            upcoming = next_due(store)
            if upcoming is not None:
                ahead = (upcoming - now).total_seconds()
                # ahead <= 0: a due timer another scheduler is still firing; poll again soon.
                wait = min(interval, ahead if ahead > 0 else _MIN_POLL)
        sleep(wait)
    release_lease(store, lease, owner)
    return count
