"""When a campaign fires: the schedule forms, their next fire times, durations and waits.

All computation takes the time as a parameter (`after`, in UTC) and returns UTC instants.
Wall-clock times are resolved in the campaign's IANA time zone by one rule,
`resolve_local`:

* a time skipped by a spring-forward change (02:30 on the day clocks jump 02:00 → 03:00)
  fires at the end of the gap — the first instant whose wall clock is at or after it (03:00);
* a time repeated by an autumn change (02:30 happens twice) fires once, at its first
  occurrence (the summer-time one).

Durations: `d` and `w` are calendar days — the same wall-clock time N days later in the
campaign's zone (a 1-day wait from 09:00 ends at 09:00 the next day, 23 or 25 hours later
across a DST change), as marketers expect from Braze and Adobe Campaign; `h` and `m` are
exact elapsed time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter  # type: ignore[import-untyped,unused-ignore]
from pydantic import Field, PlainSerializer, PlainValidator, field_validator, model_validator

from cantata.canvas.schema import (
    WEEKDAYS,
    LocalMoment,
    LocalTime,
    Strict,
    Weekday,
    parse_local_time,
)

MIN_SPACING = timedelta(minutes=1)
_SEARCH_DAYS = 366 * 10  # how far ahead calendar rules look for their next fire times
_CRON_ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")

# --- durations -------------------------------------------------------------------------------

_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


@dataclass(frozen=True)
class Duration:
    """A wait or an interval: `days` are calendar days (wall clock), `minutes` exact time."""

    days: int = 0
    minutes: int = 0

    def __str__(self) -> str:
        weeks, days = divmod(self.days, 7)
        hours, minutes = divmod(self.minutes, 60)
        parts = [(weeks, "w"), (days, "d"), (hours, "h"), (minutes, "m")]
        return "".join(f"{n}{unit}" for n, unit in parts if n) or "0m"


def parse_duration(text: str) -> Duration:
    """`3d`, `12h`, `90m`, `2w`, `1d12h`: weeks and days are calendar days, hours and minutes
    exact; raise ValueError when `text` is not a positive duration."""
    m = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if m is None or not any(m.groups()):
        raise ValueError(
            f"{text!r} is not a duration: use a number and a unit among w, d, h, m "
            "(e.g. 3d, 12h, 90m, 1d12h)"
        )
    weeks, days, hours, minutes = (int(g) if g else 0 for g in m.groups())
    duration = Duration(days=weeks * 7 + days, minutes=hours * 60 + minutes)
    if duration == Duration():
        raise ValueError(f"{text!r} is not a positive duration")
    return duration


def _duration_value(value: Any) -> Duration:
    return value if isinstance(value, Duration) else parse_duration(value)


DurationValue = Annotated[
    Duration, PlainValidator(_duration_value), PlainSerializer(str, return_type=str)
]

# --- wall-clock resolution -------------------------------------------------------------------


def zone(tz: str | tzinfo) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone: pass an aware datetime (UTC)")
    return moment.astimezone(UTC)


def local_time_of(moment: datetime, tz: str | tzinfo) -> datetime:
    """The wall-clock time (naive) that an instant shows in `tz`."""
    return _utc(moment).astimezone(zone(tz)).replace(tzinfo=None)


def resolve_local(local: datetime, tz: str | tzinfo) -> datetime:
    """The UTC instant a naive wall-clock time means in `tz` (see the module docstring)."""
    tzi = zone(tz)
    first = local.replace(tzinfo=tzi, fold=0).astimezone(UTC)
    if first.astimezone(tzi).replace(tzinfo=None) == local:
        return first  # exists; when repeated, fold=0 is the first occurrence
    # In a gap: bisect for the transition instant, the first one showing a later wall clock.
    lo = local.replace(tzinfo=tzi, fold=1).astimezone(UTC)
    hi = first
    if lo > hi:
        lo, hi = hi, lo
    while hi - lo > timedelta(seconds=1):
        mid = lo + timedelta(seconds=(hi - lo) // timedelta(seconds=2))
        if mid.astimezone(tzi).replace(tzinfo=None) >= local:
            hi = mid
        else:
            lo = mid
    return hi


def add_duration(moment: datetime, duration: Duration | str, tz: str | tzinfo) -> datetime:
    """`moment` + `duration`: days at the same wall-clock time in `tz`, then exact minutes."""
    d = parse_duration(duration) if isinstance(duration, str) else duration
    out = _utc(moment)
    if d.days:
        out = resolve_local(local_time_of(out, tz) + timedelta(days=d.days), tz)
    return out + timedelta(minutes=d.minutes)


def wait_until(local: time | str, tz: str | tzinfo, after: datetime) -> datetime:
    """The first instant at or after `after` when the wall clock in `tz` shows `local`."""
    at = parse_local_time(local)
    after = _utc(after)
    day = local_time_of(after, tz).date()
    for offset in range(3):
        candidate = resolve_local(datetime.combine(day + timedelta(days=offset), at), tz)
        if candidate >= after:
            return candidate
    raise AssertionError("unreachable: a wall-clock time recurs within two days")


# --- schedule forms --------------------------------------------------------------------------


class Times(Strict):
    """When in a day: fixed times (`at`), or every N hours/minutes `between` two times."""

    at: list[LocalTime] | None = None
    every: DurationValue | None = None
    between: list[LocalTime] | None = None

    @field_validator("at", mode="before")
    @classmethod
    def _one_time(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("every")
    @classmethod
    def _exact(cls, value: Duration | None) -> Duration | None:
        if value is not None and value.days:
            raise ValueError("several times a day: 'every' takes hours or minutes (e.g. 2h, 30m)")
        return value

    @field_validator("between")
    @classmethod
    def _range(cls, value: list[time] | None) -> list[time] | None:
        if value is not None and (len(value) != 2 or value[0] > value[1]):
            raise ValueError('expected [first, last] times of the day, e.g. ["08:00", "20:00"]')
        return value

    @model_validator(mode="after")
    def _at_or_every(self) -> Self:
        if (self.at is None) == (self.every is None):
            raise ValueError("give either 'at' (one or more HH:MM times) or 'every' (e.g. 2h)")
        if self.at is not None and not self.at:
            raise ValueError("'at' needs at least one HH:MM time")
        if self.between is not None and self.every is None:
            raise ValueError("'between' goes with 'every'")
        return self

    def local_times(self) -> list[time]:
        if self.at is not None:
            return sorted(set(self.at))
        assert self.every is not None
        first, last = self.between or [time(0, 0), time(23, 59)]
        start = first.hour * 60 + first.minute
        end = last.hour * 60 + last.minute
        return [time(m // 60, m % 60) for m in range(start, end + 1, self.every.minutes)]


class Daily(Times):
    """Every day."""


class Weekdays(Times):
    """Monday to Friday."""


class Weekly(Times):
    on: list[Weekday] = Field(min_length=1)


def _month_day(value: Any) -> int | Literal["last"]:
    if value == "last" or (
        isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 31
    ):
        return value  # type: ignore[no-any-return]
    raise ValueError(f"{value!r} is not a day of the month: use 1..31 or last")


def _nth(value: Any) -> int | Literal["last"]:
    if value == "last" or (
        isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5
    ):
        return value  # type: ignore[no-any-return]
    raise ValueError(f"{value!r} is not a week of the month: use 1..5 or last")


class Monthly(Times):
    """A day of the month (`day: 15`, `day: last`), or the nth weekday (`nth: 2, weekday: tue`).

    A month without the day (the 31st, the 5th Tuesday) is skipped; use `last` for month ends.
    """

    day: Annotated[int | Literal["last"] | None, PlainValidator(_month_day)] = None
    nth: Annotated[int | Literal["last"] | None, PlainValidator(_nth)] = None
    weekday: Weekday | None = None

    @model_validator(mode="after")
    def _day_or_nth(self) -> Self:
        if (self.day is None) == (self.nth is None and self.weekday is None):
            raise ValueError("give either 'day' (1..31 or last) or 'nth' and 'weekday'")
        if self.day is None and (self.nth is None or self.weekday is None):
            raise ValueError("'nth' and 'weekday' go together, e.g. nth: 2, weekday: tue")
        return self

    def matches(self, day: date) -> bool:
        if self.day is not None:
            last = _last_day(day)
            return day.day == (last if self.day == "last" else self.day)
        if WEEKDAYS[day.weekday()] != self.weekday:
            return False
        if self.nth == "last":
            return day.day + 7 > _last_day(day)
        return (day.day - 1) // 7 + 1 == self.nth


def _last_day(day: date) -> int:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _cron(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a cron expression such as '0 9 * * 1-5'")
    text = " ".join(value.split())
    fields = text.split(" ")
    if text.startswith("@"):
        if text not in _CRON_ALIASES:
            raise ValueError(f"{text!r} is not a cron alias (valid: {', '.join(_CRON_ALIASES)})")
    elif len(fields) != 5:
        raise ValueError(
            f"{text!r} has {len(fields)} fields; cron takes 5: minute hour day-of-month month "
            "day-of-week (schedules fire at most once a minute)"
        )
    if not croniter.is_valid(text):
        raise ValueError(f"{text!r} is not a valid cron expression")
    return text


Form = Literal["manual", "once", "cron", "daily", "weekdays", "weekly", "monthly"]
_FORMS: tuple[Form, ...] = ("manual", "once", "cron", "daily", "weekdays", "weekly", "monthly")


class Schedule(Strict):
    """Exactly one form; recurring forms may have a validity window [start, end].

    `start` / `end` are dates or wall-clock times in the campaign's zone (or with an offset);
    an `end` date includes that whole day.
    """

    manual: Literal[True] | None = None
    once: LocalMoment | None = None
    cron: Annotated[str | None, PlainValidator(_cron)] = None
    daily: Daily | None = None
    weekdays: Weekdays | None = None
    weekly: Weekly | None = None
    monthly: Monthly | None = None
    start: LocalMoment | None = None
    end: LocalMoment | None = None

    @model_validator(mode="before")
    @classmethod
    def _manual_word(cls, value: Any) -> Any:
        return {"manual": True} if value == "manual" else value

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        given = [f for f in _FORMS if getattr(self, f) is not None]
        if len(given) != 1:
            found = ", ".join(given) or "none"
            raise ValueError(f"a schedule has exactly one of {', '.join(_FORMS)} (found: {found})")
        if self.form in ("manual", "once") and (self.start or self.end):
            raise ValueError("'start' and 'end' bound recurring schedules only")
        if isinstance(self.once, date) and not isinstance(self.once, datetime):
            raise ValueError("'once' needs a time too, e.g. 2026-04-01T09:00")
        if self.start is not None and self.end is not None:
            start, end = _bound(self.start, "UTC", False), _bound(self.end, "UTC", True)
            if end <= start:
                raise ValueError("'end' must come after 'start'")
        return self

    @property
    def form(self) -> Form:
        return next(f for f in _FORMS if getattr(self, f) is not None)

    @property
    def recurring(self) -> bool:
        return self.form not in ("manual", "once")


# --- fire times --------------------------------------------------------------------------------


def _bound(moment: date | datetime, tz: str | tzinfo, end: bool) -> datetime:
    """A window bound as a UTC instant; an end date means the start of the next day."""
    if isinstance(moment, datetime):
        return _utc(moment) if moment.tzinfo else resolve_local(moment, tz)
    day = moment + timedelta(days=1) if end else moment
    return resolve_local(datetime.combine(day, time(0, 0)), tz)


def instant(moment: date | datetime, tz: str | tzinfo) -> datetime:
    """A `once` or window moment as UTC: naive means wall-clock in `tz`."""
    return _bound(moment, tz, False)


def next_fire_times(
    schedule: Schedule, tz: str | tzinfo, after: datetime, count: int = 10
) -> list[datetime]:
    """The next `count` fire times strictly after `after`, in UTC, within the window."""
    after = _utc(after)
    if schedule.manual or count <= 0:
        return []
    if schedule.once is not None:
        at = instant(schedule.once, tz)
        return [at] if at > after else []
    lower = after
    if schedule.start is not None:
        lower = max(lower, _bound(schedule.start, tz, False) - timedelta(microseconds=1))
    upper: datetime | None = None  # exclusive
    if schedule.end is not None:
        upper = _bound(schedule.end, tz, True)
        if isinstance(schedule.end, datetime):
            upper += timedelta(microseconds=1)  # an end time is inclusive
    begin = local_time_of(lower, tz).replace(second=0, microsecond=0)
    stop_local = local_time_of(upper, tz) + timedelta(days=1) if upper else None
    out: list[datetime] = []
    for local in _local_candidates(schedule, begin):
        if stop_local is not None and local > stop_local:
            break
        fire = resolve_local(local, tz)
        if fire <= lower or (upper is not None and fire >= upper):
            continue
        if out and fire < out[-1] + MIN_SPACING:
            continue  # collapsed by a DST gap onto the previous fire time
        out.append(fire)
        if len(out) == count:
            break
    return out


def _local_candidates(schedule: Schedule, begin: datetime) -> Iterator[datetime]:
    """Wall-clock fire times at or after `begin`, in order."""
    if schedule.cron is not None:
        it = croniter(schedule.cron, begin - timedelta(minutes=1))
        for _ in range(_SEARCH_DAYS * 24 * 60):
            try:
                yield it.get_next(datetime)
            except CroniterBadDateError:
                return
        return
    rule = schedule.daily or schedule.weekdays or schedule.weekly or schedule.monthly
    assert rule is not None
    times = rule.local_times()
    for offset in range(_SEARCH_DAYS):
        day = begin.date() + timedelta(days=offset)
        if not _day_matches(schedule, day):
            continue
        for at in times:
            local = datetime.combine(day, at)
            if local >= begin:
                yield local


def _day_matches(schedule: Schedule, day: date) -> bool:
    if schedule.daily is not None:
        return True
    if schedule.weekdays is not None:
        return day.weekday() < 5
    if schedule.weekly is not None:
        return WEEKDAYS[day.weekday()] in schedule.weekly.on
    assert schedule.monthly is not None
    return schedule.monthly.matches(day)
