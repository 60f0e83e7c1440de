"""When a message may go out: the activity's send window (campaign time zone) and the quiet
hours (recipient's time zone). A message outside them is deferred to the next instant both
allow — never dropped. Wall-clock times are resolved with zoneinfo, so a window opening at
02:30 on a spring-forward night opens at the first instant after the gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cantata.canvas.schema import WEEKDAYS


@dataclass(frozen=True)
class Window:
    """Allowed from `start` to `end` local time (wrapping midnight when end < start), on
    `days` (0 = Monday) when given, in `zone`."""

    start: time
    end: time
    zone: ZoneInfo
    days: frozenset[int] | None = None

    @classmethod
    def of(cls, start: time, end: time, zone: ZoneInfo, days: list[str] | None = None) -> Window:
        return cls(start, end, zone, frozenset(WEEKDAYS.index(d) for d in days) if days else None)

    def allows(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        clock = local.time().replace(tzinfo=None)
        day = local.weekday()
        if self.start == self.end:
            inside = True
        elif self.start < self.end:
            inside = self.start <= clock < self.end
        else:
            inside = clock >= self.start or clock < self.end
            if clock < self.end:
                day = (day - 1) % 7  # after midnight: the window opened the day before
        return inside and (self.days is None or day in self.days)

    def earliest(self, at: datetime) -> datetime:
        """The first instant ≥ `at` the window allows."""
        if self.allows(at):
            return at
        first = at.astimezone(self.zone).date() - timedelta(days=1)
        for offset in range(9):
            opening = _instant(first + timedelta(days=offset), self.start, self.zone)
            if opening >= at and self.allows(opening):
                return opening
        raise ValueError(f"the window {self} never opens")  # days is never empty


@lru_cache(maxsize=512)
def zone_named(name: object) -> ZoneInfo | None:
    """The time zone a recipient's field names, or None when it names none."""
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=512)
def quiet_window(start: time, end: time, zone: ZoneInfo) -> Window:
    """Quiet hours from `start` to `end` leave the rest of the day allowed."""
    return Window(end, start, zone)


def next_allowed(at: datetime, windows: list[Window]) -> datetime:
    """The first instant ≥ `at` that every window allows."""
    current = at
    for _ in range(32):
        moved = current
        for window in windows:
            moved = window.earliest(moved)
        if moved == current:
            return current
        current = moved
    raise ValueError("the send window and the quiet hours never overlap")


def _instant(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """`day` at `clock` in `zone` as UTC; a clock time in a spring-forward gap maps to the
    first instant after the gap."""
    local = datetime.combine(day, clock, tzinfo=zone)
    utc = local.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return utc
    # In the gap the wall clock jumps past `clock`: walk from before the gap to the jump.
    at = local.replace(fold=1).astimezone(UTC)
    while at.astimezone(zone).replace(tzinfo=None) < local.replace(tzinfo=None):
        at += timedelta(minutes=1)
    return at
