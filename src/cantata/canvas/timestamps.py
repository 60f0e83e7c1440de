"""Times as the store keeps them (naive UTC, the stores run in UTC) and as code passes them
(aware UTC datetimes)."""

from __future__ import annotations

from datetime import UTC, datetime


def db_time(moment: datetime) -> datetime:
    """A time as the store keeps it: naive UTC (a naive input is taken as UTC already)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def utc(moment: datetime | None) -> datetime | None:
    """A stored (naive UTC) or given time as an aware UTC datetime; None stays None."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def aware(moment: datetime) -> datetime:
    out = utc(moment)
    assert out is not None
    return out
