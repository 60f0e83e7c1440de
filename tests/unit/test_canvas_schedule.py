"""Schedules, durations and waits on explicit instants, across the DST changes of
Europe/Paris (2025-03-30 02:00→03:00, 2025-10-26 03:00→02:00) and America/New_York
(2025-03-09 02:00→03:00, 2025-11-02 02:00→01:00)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from pydantic import ValidationError

from cantata.canvas.schedule import (
    Duration,
    Schedule,
    add_duration,
    local_time_of,
    next_fire_times,
    parse_duration,
    resolve_local,
    wait_until,
)

PARIS = "Europe/Paris"
NEW_YORK = "America/New_York"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def schedule(data: Any) -> Schedule:
    return Schedule.model_validate(data)


def local(times: list[datetime], tz: str) -> list[str]:
    return [local_time_of(t, tz).strftime("%Y-%m-%d %H:%M") for t in times]


# --- wall-clock resolution -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "wall", "expected"),
    [
        (PARIS, datetime(2025, 1, 15, 9, 0), utc(2025, 1, 15, 8, 0)),
        (PARIS, datetime(2025, 7, 15, 9, 0), utc(2025, 7, 15, 7, 0)),
        # skipped by the spring change: the end of the gap, 03:00 local
        (PARIS, datetime(2025, 3, 30, 2, 30), utc(2025, 3, 30, 1, 0)),
        (PARIS, datetime(2025, 3, 30, 2, 0), utc(2025, 3, 30, 1, 0)),
        (NEW_YORK, datetime(2025, 3, 9, 2, 30), utc(2025, 3, 9, 7, 0)),
        # repeated by the autumn change: the first occurrence (summer time)
        (PARIS, datetime(2025, 10, 26, 2, 30), utc(2025, 10, 26, 0, 30)),
        (NEW_YORK, datetime(2025, 11, 2, 1, 30), utc(2025, 11, 2, 5, 30)),
    ],
)
def test_a_wall_clock_time_resolves_to_one_instant(
    tz: str, wall: datetime, expected: datetime
) -> None:
    assert resolve_local(wall, tz) == expected


# --- calendar rules ------------------------------------------------------------------------


def test_daily_0900_paris_stays_at_0900_local_across_the_spring_change() -> None:
    fires = next_fire_times(schedule({"daily": {"at": "09:00"}}), PARIS, utc(2025, 3, 28), 4)
    assert local(fires, PARIS) == [
        "2025-03-28 09:00",
        "2025-03-29 09:00",
        "2025-03-30 09:00",
        "2025-03-31 09:00",
    ]
    assert [f.hour for f in fires] == [8, 8, 7, 7]  # UTC moves, local time does not


def test_daily_0900_paris_stays_at_0900_local_across_the_autumn_change() -> None:
    fires = next_fire_times(schedule({"daily": {"at": "09:00"}}), PARIS, utc(2025, 10, 25), 3)
    assert local(fires, PARIS) == ["2025-10-25 09:00", "2025-10-26 09:00", "2025-10-27 09:00"]
    assert [f.hour for f in fires] == [7, 8, 8]


def test_a_0230_fire_time_skipped_by_the_spring_change_fires_at_0300() -> None:
    fires = next_fire_times(schedule({"daily": {"at": "02:30"}}), PARIS, utc(2025, 3, 29), 3)
    assert fires == [utc(2025, 3, 29, 1, 30), utc(2025, 3, 30, 1, 0), utc(2025, 3, 31, 0, 30)]
    assert local(fires, PARIS)[1] == "2025-03-30 03:00"


def test_a_0230_fire_time_repeated_by_the_autumn_change_fires_once() -> None:
    fires = next_fire_times(schedule({"daily": {"at": "02:30"}}), PARIS, utc(2025, 10, 25), 3)
    assert fires == [utc(2025, 10, 25, 0, 30), utc(2025, 10, 26, 0, 30), utc(2025, 10, 27, 1, 30)]


def test_new_york_daily_across_both_changes() -> None:
    spring = next_fire_times(schedule({"daily": {"at": "02:30"}}), NEW_YORK, utc(2025, 3, 8), 3)
    assert local(spring, NEW_YORK) == ["2025-03-08 02:30", "2025-03-09 03:00", "2025-03-10 02:30"]
    autumn = next_fire_times(schedule({"daily": {"at": "01:30"}}), NEW_YORK, utc(2025, 11, 1), 3)
    assert autumn == [utc(2025, 11, 1, 5, 30), utc(2025, 11, 2, 5, 30), utc(2025, 11, 3, 6, 30)]


def test_several_times_a_day_at_listed_times() -> None:
    s = schedule({"daily": {"at": ["18:00", "09:00", "13:30"]}})
    fires = next_fire_times(s, PARIS, utc(2025, 6, 1, 12, 0), 4)
    assert local(fires, PARIS) == [
        "2025-06-01 18:00",
        "2025-06-02 09:00",
        "2025-06-02 13:30",
        "2025-06-02 18:00",
    ]


def test_several_times_a_day_every_n_hours_between_two_times() -> None:
    s = schedule({"daily": {"every": "4h", "between": ["08:00", "20:00"]}})
    fires = next_fire_times(s, PARIS, utc(2025, 6, 1), 5)
    assert local(fires, PARIS) == [
        "2025-06-01 08:00",
        "2025-06-01 12:00",
        "2025-06-01 16:00",
        "2025-06-01 20:00",
        "2025-06-02 08:00",
    ]


def test_weekdays_skip_the_weekend() -> None:
    # 2025-06-06 is a Friday
    fires = next_fire_times(schedule({"weekdays": {"at": "07:00"}}), PARIS, utc(2025, 6, 6), 3)
    assert local(fires, PARIS) == ["2025-06-06 07:00", "2025-06-09 07:00", "2025-06-10 07:00"]


def test_weekly_on_chosen_days() -> None:
    s = schedule({"weekly": {"on": ["mon", "thu"], "at": "10:00"}})
    fires = next_fire_times(s, NEW_YORK, utc(2025, 6, 1), 4)
    assert local(fires, NEW_YORK) == [
        "2025-06-02 10:00",
        "2025-06-05 10:00",
        "2025-06-09 10:00",
        "2025-06-12 10:00",
    ]


@pytest.mark.parametrize(
    ("monthly", "expected"),
    [
        ({"day": "last"}, ["2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30"]),
        ({"day": 31}, ["2025-01-31", "2025-03-31", "2025-05-31", "2025-07-31"]),
        ({"nth": 2, "weekday": "tue"}, ["2025-01-14", "2025-02-11", "2025-03-11", "2025-04-08"]),
        (
            {"nth": "last", "weekday": "fri"},
            ["2025-01-31", "2025-02-28", "2025-03-28", "2025-04-25"],
        ),
        ({"nth": 5, "weekday": "sat"}, ["2025-03-29", "2025-05-31", "2025-08-30", "2025-11-29"]),
    ],
)
def test_monthly_rules(monthly: dict[str, Any], expected: list[str]) -> None:
    fires = next_fire_times(
        schedule({"monthly": {**monthly, "at": "09:00"}}), PARIS, utc(2025, 1, 1), 4
    )
    assert [f[:10] for f in local(fires, PARIS)] == expected


def test_fire_times_are_strictly_after_the_given_instant() -> None:
    s = schedule({"daily": {"at": "09:00"}})
    assert next_fire_times(s, "UTC", utc(2025, 6, 1, 9, 0), 1) == [utc(2025, 6, 2, 9, 0)]
    assert next_fire_times(s, "UTC", utc(2025, 6, 1, 8, 59) + timedelta(seconds=59), 1) == [
        utc(2025, 6, 1, 9, 0)
    ]


def test_the_validity_window_bounds_fire_times() -> None:
    s = schedule({"daily": {"at": "09:00"}, "start": "2025-06-10", "end": "2025-06-12"})
    fires = next_fire_times(s, PARIS, utc(2025, 6, 1), 10)
    assert local(fires, PARIS) == ["2025-06-10 09:00", "2025-06-11 09:00", "2025-06-12 09:00"]
    assert next_fire_times(s, PARIS, utc(2025, 6, 12, 7, 0), 10) == []


def test_window_bounds_may_be_wall_clock_times_or_instants() -> None:
    s = schedule(
        {"daily": {"at": "09:00"}, "start": "2025-06-10T09:00", "end": "2025-06-11T07:00Z"}
    )
    fires = next_fire_times(s, PARIS, utc(2025, 6, 1), 10)
    assert fires == [utc(2025, 6, 10, 7, 0), utc(2025, 6, 11, 7, 0)]  # both bounds inclusive


# --- cron ------------------------------------------------------------------------------------


def test_cron_is_evaluated_in_the_campaign_time_zone() -> None:
    s = schedule({"cron": "0 9 * * 1-5"})
    fires = next_fire_times(s, NEW_YORK, utc(2025, 3, 7), 3)  # Friday, then DST on Sunday
    assert local(fires, NEW_YORK) == ["2025-03-07 09:00", "2025-03-10 09:00", "2025-03-11 09:00"]
    assert [f.hour for f in fires] == [14, 13, 13]


def test_cron_times_skipped_by_the_spring_change_collapse_onto_0300() -> None:
    s = schedule({"cron": "*/30 * * * *"})
    fires = next_fire_times(s, PARIS, utc(2025, 3, 30, 0, 15), 4)
    assert local(fires, PARIS) == [
        "2025-03-30 01:30",
        "2025-03-30 03:00",  # 02:00, 02:30 and 03:00 fire once, at 03:00
        "2025-03-30 03:30",
        "2025-03-30 04:00",
    ]


def test_cron_times_repeated_by_the_autumn_change_fire_once() -> None:
    s = schedule({"cron": "*/30 * * * *"})
    fires = next_fire_times(s, NEW_YORK, utc(2025, 11, 2, 4, 45), 4)
    assert fires == [
        utc(2025, 11, 2, 5, 0),  # 01:00 EDT
        utc(2025, 11, 2, 5, 30),  # 01:30 EDT; the repeated 01:00 / 01:30 EST do not fire
        utc(2025, 11, 2, 7, 0),  # 02:00 EST
        utc(2025, 11, 2, 7, 30),
    ]


def test_cron_fires_at_most_once_a_minute() -> None:
    fires = next_fire_times(schedule({"cron": "* * * * *"}), PARIS, utc(2025, 6, 1), 3)
    assert [b - a for a, b in pairwise(fires)] == [timedelta(minutes=1)] * 2


def test_cron_with_a_window_and_an_impossible_date() -> None:
    s = schedule({"cron": "0 9 * * *", "start": "2025-06-01", "end": "2025-06-02"})
    assert len(next_fire_times(s, PARIS, utc(2025, 1, 1), 10)) == 2
    assert next_fire_times(schedule({"cron": "0 9 30 2 *"}), PARIS, utc(2025, 1, 1), 3) == []


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 9 * *", "cron takes 5"),
        ("0 0 9 * * *", "cron takes 5"),  # a seconds field: at most once a minute
        ("61 * * * *", "not a valid cron"),
        ("@reboot", "not a cron alias"),
    ],
)
def test_invalid_cron_expressions(cron: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        schedule({"cron": cron})


# --- once and manual ------------------------------------------------------------------------


def test_once_at_a_wall_clock_time_or_an_instant() -> None:
    s = schedule({"once": "2025-07-01T09:00"})
    assert next_fire_times(s, PARIS, utc(2025, 6, 1)) == [utc(2025, 7, 1, 7, 0)]
    assert next_fire_times(s, PARIS, utc(2025, 7, 1, 7, 0)) == []
    assert next_fire_times(schedule({"once": "2025-07-01T09:00Z"}), PARIS, utc(2025, 6, 1)) == [
        utc(2025, 7, 1, 9, 0)
    ]


def test_manual_campaigns_have_no_fire_times() -> None:
    assert next_fire_times(schedule("manual"), PARIS, utc(2025, 6, 1)) == []


def test_after_must_be_an_aware_instant() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        next_fire_times(schedule({"daily": {"at": "09:00"}}), PARIS, datetime(2025, 6, 1))


# --- durations and waits -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3d", Duration(days=3)),
        ("12h", Duration(minutes=720)),
        ("90m", Duration(minutes=90)),
        ("2w", Duration(days=14)),
        ("1d12h", Duration(days=1, minutes=720)),
    ],
)
def test_parse_duration(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "3", "3x", "0d", "1.5h", "12h1d", "30s"])
def test_invalid_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_a_one_day_wait_across_the_spring_change_ends_at_the_same_wall_clock_time() -> None:
    start = utc(2025, 3, 29, 8, 0)  # 09:00 in Paris
    end = add_duration(start, "1d", PARIS)
    assert local([end], PARIS) == ["2025-03-30 09:00"]
    assert end - start == timedelta(hours=23)


def test_a_one_day_wait_across_the_autumn_change_lasts_25_hours() -> None:
    start = utc(2025, 11, 1, 13, 0)  # 09:00 in New York
    end = add_duration(start, "1d", NEW_YORK)
    assert local([end], NEW_YORK) == ["2025-11-02 09:00"]
    assert end - start == timedelta(hours=25)


def test_hours_and_minutes_are_exact_elapsed_time() -> None:
    start = utc(2025, 3, 29, 8, 0)
    assert add_duration(start, "24h", PARIS) == start + timedelta(hours=24)
    assert local([add_duration(start, "24h", PARIS)], PARIS) == ["2025-03-30 10:00"]
    assert add_duration(start, "1d2h", PARIS) == utc(2025, 3, 30, 9, 0)


def test_a_day_wait_landing_in_the_spring_gap_ends_at_0300() -> None:
    start = utc(2025, 3, 29, 1, 30)  # 02:30 in Paris
    assert local([add_duration(start, "1d", PARIS)], PARIS) == ["2025-03-30 03:00"]


@pytest.mark.parametrize(
    ("after", "until", "expected"),
    [
        (utc(2025, 6, 1, 5, 0), "09:00", utc(2025, 6, 1, 7, 0)),  # later today
        (utc(2025, 6, 1, 7, 0), "09:00", utc(2025, 6, 1, 7, 0)),  # now: no wait
        (utc(2025, 6, 1, 8, 0), "09:00", utc(2025, 6, 2, 7, 0)),  # tomorrow
        (utc(2025, 3, 29, 22, 0), "02:30", utc(2025, 3, 30, 1, 0)),  # in the gap: 03:00
        (utc(2025, 10, 25, 22, 0), "02:30", utc(2025, 10, 26, 0, 30)),  # repeated: first
    ],
)
def test_wait_until_a_wall_clock_time(after: datetime, until: str, expected: datetime) -> None:
    assert wait_until(until, PARIS, after) == expected


# --- schedule shapes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "exactly one of"),
        ({"daily": {"at": "09:00"}, "cron": "0 9 * * *"}, "exactly one of"),
        ({"once": "2025-07-01T09:00", "end": "2025-08-01"}, "recurring schedules only"),
        ({"once": "2025-07-01"}, "needs a time"),
        ({"daily": {"at": "9h"}}, "HH:MM"),
        ({"daily": {"at": "24:00"}}, "HH:MM"),
        ({"daily": {}}, "either 'at'"),
        ({"daily": {"every": "1d"}}, "hours or minutes"),
        ({"daily": {"at": "09:00", "between": ["08:00", "10:00"]}}, "goes with 'every'"),
        ({"daily": {"every": "1h", "between": ["18:00", "08:00"]}}, "first, last"),
        ({"weekly": {"on": [], "at": "09:00"}}, "at least 1"),
        ({"monthly": {"day": 32, "at": "09:00"}}, "day of the month"),
        ({"monthly": {"nth": 2, "at": "09:00"}}, "go together"),
        ({"monthly": {"day": 1, "nth": 2, "weekday": "mon", "at": "09:00"}}, "either 'day'"),
        ({"daily": {"at": "09:00"}, "start": "2025-06-10", "end": "2025-06-01"}, "after 'start'"),
    ],
)
def test_invalid_schedules(data: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        schedule(data)
