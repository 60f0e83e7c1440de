"""Send windows and quiet hours: a message outside them waits for the first instant they
allow, in the right time zone, across DST changes — never dropped."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from cantata.delivery.windows import Window, next_allowed, quiet_window

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
QUIET = (time(21), time(8))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_quiet_hours_in_the_recipients_zone() -> None:
    at = utc(2026, 6, 1, 10)  # 12:00 in Paris, 06:00 in New York
    assert next_allowed(at, [quiet_window(*QUIET, PARIS)]) == at
    assert next_allowed(at, [quiet_window(*QUIET, NEW_YORK)]) == utc(2026, 6, 1, 12)  # 08:00 EDT


def test_quiet_hours_across_spring_forward() -> None:
    # New York springs forward on 2026-03-08 at 02:00: 08:00 that morning is EDT (UTC-4).
    at = utc(2026, 3, 8, 6, 30)  # 01:30 EST, quiet
    assert next_allowed(at, [quiet_window(*QUIET, NEW_YORK)]) == utc(2026, 3, 8, 12)
    # The day before, 08:00 is EST (UTC-5).
    assert next_allowed(at - timedelta(days=1), [quiet_window(*QUIET, NEW_YORK)]) == utc(
        2026, 3, 7, 13
    )


def test_quiet_hours_across_fall_back() -> None:
    # Paris falls back on 2026-10-25 at 03:00 CEST: 08:00 that morning is CET (UTC+1).
    at = utc(2026, 10, 24, 20)  # 22:00 CEST, quiet
    assert next_allowed(at, [quiet_window(*QUIET, PARIS)]) == utc(2026, 10, 25, 7)
    # A message at 02:30 of the repeated hour (either fold) is quiet too.
    for instant in (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)):
        assert next_allowed(instant, [quiet_window(*QUIET, PARIS)]) == utc(2026, 10, 25, 7)


def test_a_window_opening_in_the_spring_forward_gap() -> None:
    # 02:30 does not exist in Paris on 2026-03-29: the window opens when the clock jumps.
    window = Window.of(time(2, 30), time(5), PARIS)
    assert window.earliest(utc(2026, 3, 28, 12)) == utc(2026, 3, 29, 1)  # 03:00 CEST


def test_send_window_days_and_quiet_hours_together() -> None:
    # Weekdays 09:00-19:00 in Paris; the recipient in New York is quiet until 08:00.
    window = Window.of(time(9), time(19), PARIS, ["mon", "tue", "wed", "thu", "fri"])
    friday_evening = utc(2026, 6, 5, 18)  # 20:00 Paris: closed until Monday 09:00
    assert next_allowed(friday_evening, [window]) == utc(2026, 6, 8, 7)
    # Monday 09:00 Paris is 03:00 in New York: the first instant both allow is 08:00 EDT.
    both = [window, quiet_window(*QUIET, NEW_YORK)]
    assert next_allowed(friday_evening, both) == utc(2026, 6, 8, 12)


ZONES = st.sampled_from(["Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney"])
CLOCKS = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
INSTANTS = st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0, tzinfo=UTC)
)


@settings(max_examples=300, deadline=None)
@given(INSTANTS, CLOCKS, CLOCKS, ZONES, CLOCKS, CLOCKS, ZONES)
def test_next_allowed_is_the_first_allowed_instant(
    at: datetime, s1: time, e1: time, z1: str, s2: time, e2: time, z2: str
) -> None:
    windows = [Window(s1, e1, ZoneInfo(z1)), quiet_window(s2, e2, ZoneInfo(z2))]
    try:
        found = next_allowed(at, windows)
    except ValueError:  # the two never overlap: nothing to find
        return
    assert found >= at
    assert all(w.allows(found) for w in windows)
    # No allowed minute before it.
    step = at
    while step < found and step < at + timedelta(hours=30):
        assert not all(w.allows(step) for w in windows), step
        step += timedelta(minutes=15)


def test_a_window_across_midnight_belongs_to_the_day_it_opens() -> None:
    # Mondays 22:00 to 06:00: Monday night into Tuesday morning, not Sunday night's tail.
    window = Window.of(time(22), time(6), PARIS, ["mon"])
    assert window.allows(utc(2026, 6, 9, 2))  # Tuesday 04:00 in Paris
    assert not window.allows(utc(2026, 6, 8, 2))  # Monday 04:00: Sunday's window
    assert window.earliest(utc(2026, 6, 7, 21)) == utc(2026, 6, 8, 20)  # Sun 23:00 → Mon 22:00
