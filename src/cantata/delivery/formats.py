"""Locale-aware template filters: dates, times, numbers, currencies and percentages with babel.

The locale is the filter's `locale` argument, else the recipient's `language` field, else
"en"; an unknown language falls back to "en" rather than failing a send. Values may be Python
dates and numbers or the ISO strings and numeric text that worktable JSON collections hold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent, is_currency
from jinja2 import pass_context
from jinja2.runtime import Context

from cantata.delivery.windows import zone_named

DEFAULT_LOCALE = "en"


class FormatValueError(ValueError):
    """A filter was given a value it cannot read (not a date, not a number, unknown currency).

    Validation renders against sample values ("sample" for any text field), so it ignores
    this error: only the real row can say whether its text is a date."""


@lru_cache(maxsize=256)
def _parse_locale(tag: str) -> Locale:
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(DEFAULT_LOCALE)


def _recipient(ctx: Context) -> Mapping[str, Any]:
    recipient = ctx.get("recipient")
    return recipient if isinstance(recipient, Mapping) else {}


def _locale(ctx: Context, locale: str | None) -> Locale:
    if locale is None:
        language = _recipient(ctx).get("language")
        locale = language if isinstance(language, str) and language else DEFAULT_LOCALE
    return _parse_locale(locale)


def _as_date(value: Any) -> date:
    if isinstance(value, date):  # a datetime is a date too: its day
        return value.date() if isinstance(value, datetime) else value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise FormatValueError(f"{value!r} is not a date (expected a date or an ISO text)")


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise FormatValueError(f"{value!r} is not a date-time (expected a timestamp or an ISO text)")


def _as_number(value: Any) -> int | float | Decimal:
    if isinstance(value, bool):
        raise FormatValueError(f"{value!r} is not a number")
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            pass
    raise FormatValueError(f"{value!r} is not a number")


@pass_context
def date_filter(ctx: Context, value: Any, format: str = "medium", locale: str | None = None) -> str:
    """`{{ target.check_in|date }}` → "Jun 3, 2026"; format: short, medium, long, full or a
    CLDR pattern ("d MMMM yyyy")."""
    if value is None:
        return ""
    return _format_date(_as_date(value), format, _locale(ctx, locale))


# Campaigns print the same few dates (check-ins within two weeks) in a few languages, for
# every message: formatting each once saves a third of a typical message's render time.
@lru_cache(maxsize=4096)
def _format_date(value: date, format: str, locale: Locale) -> str:
    return format_date(value, format=format, locale=locale)


@pass_context
def datetime_filter(
    ctx: Context,
    value: Any,
    format: str = "medium",
    locale: str | None = None,
    tz: str | None = None,
) -> str:
    """A timestamp in the recipient's `time_zone` (or `tz`); naive timestamps are UTC."""
    if value is None:
        return ""
    moment = _as_datetime(value)
    zone_name = tz if tz is not None else _recipient(ctx).get("time_zone")
    zone = zone_named(zone_name)
    if zone is not None:
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        moment = aware.astimezone(zone)
    return format_datetime(moment, format=format, tzinfo=zone, locale=_locale(ctx, locale))


@pass_context
def number_filter(
    ctx: Context, value: Any, format: str | None = None, locale: str | None = None
) -> str:
    """`{{ 1234.5|number }}` → "1,234.5" in English, "1 234,5" in French."""
    if value is None:
        return ""
    return format_decimal(_as_number(value), format=format, locale=_locale(ctx, locale))


@pass_context
def currency_filter(
    ctx: Context, value: Any, code: str, locale: str | None = None, format: str | None = None
) -> str:
    """`{{ target.amount|currency("EUR") }}` → "€1,234.50" / "1 234,50 €"."""
    if value is None:
        return ""
    if not isinstance(code, str) or not is_currency(code):
        raise FormatValueError(f"{code!r} is not an ISO 4217 currency code (EUR, USD...)")
    return format_currency(_as_number(value), code, format=format, locale=_locale(ctx, locale))


@pass_context
def percent_filter(
    ctx: Context, value: Any, format: str | None = None, locale: str | None = None
) -> str:
    """`{{ 0.25|percent }}` → "25%"; the value is a fraction."""
    if value is None:
        return ""
    return format_percent(_as_number(value), format=format, locale=_locale(ctx, locale))


FILTERS: Mapping[str, Callable[..., str]] = {
    "date": date_filter,
    "datetime": datetime_filter,
    "number": number_filter,
    "currency": currency_filter,
    "percent": percent_filter,
}
