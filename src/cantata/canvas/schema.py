"""The strict pydantic base of campaign definitions and the small value types they share."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    ValidationError,
)

from cantata.errors import did_you_mean


class Strict(BaseModel):
    """No coercion (`"5"` is not an integer), no unknown keys, immutable once parsed."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def is_name(value: object) -> bool:
    return isinstance(value, str) and _NAME.match(value) is not None


def _name(value: str) -> str:
    if not is_name(value):
        raise ValueError(
            f"{value!r} is not a valid name: use letters, digits and '_', starting with a letter"
        )
    return value


# Node ids, ports, subset and branch names, output columns, variables: plain identifiers, so
# that `node.port` edges and `count(node.port)` conditions read unambiguously.
Name = Annotated[str, AfterValidator(_name)]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = get_args(Weekday)

_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_local_time(value: Any) -> time:
    """A wall-clock time `HH:MM` (24 h) as a `time`."""
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    m = _CLOCK.match(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f'{value!r} is not a wall-clock time: use HH:MM (24 h), such as "09:30"')
    return time(int(m.group(1)), int(m.group(2)))


LocalTime = Annotated[
    time,
    PlainValidator(parse_local_time),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
]


def parse_moment(value: Any) -> date | datetime:
    """`2026-04-01` (a date), `2026-04-01T09:00` (local wall-clock) or with an offset / `Z`."""
    if isinstance(value, date):  # date or datetime given directly
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10:
            try:
                return date.fromisoformat(text)
            except ValueError:
                pass
        else:
            try:
                return datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
            except ValueError:
                pass
    raise ValueError(
        f"{value!r} is not a date or time: use 2026-04-01, 2026-04-01T09:00 (in the campaign's "
        "time zone) or 2026-04-01T07:00Z"
    )


LocalMoment = Annotated[
    date | datetime,
    PlainValidator(parse_moment),
    PlainSerializer(lambda m: m.isoformat(), return_type=str),
]


# --- pydantic errors as problems ---------------------------------------------------------------

_QUOTED = re.compile(r"'([^']*)'")


def pydantic_problems(
    exc: ValidationError, root: type[BaseModel], *, noun: str = "key"
) -> list[tuple[tuple[str | int, ...], str]]:
    """Each error of `exc` as (path, message), worded for people writing YAML by hand."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if p != "[key]")
        kind = error["type"]
        given = error.get("input")
        if kind == "extra_forbidden":
            key = str(loc[-1])
            allowed = _keys_at(root, loc[:-1])
            message = f"unknown {noun} {key!r}{did_you_mean(key, allowed)}"
        elif kind == "missing":
            message = f"missing required {noun} {loc[-1]!r}" if loc else "missing"
        elif kind == "literal_error":
            expected = _QUOTED.findall(str((error.get("ctx") or {}).get("expected", "")))
            message = f"{given!r} is not one of {', '.join(expected)}"
            if isinstance(given, str):
                close = did_you_mean(given, expected)
                message += close if close.startswith(" (did") else ""
        elif kind in ("value_error", "assertion_error"):
            message = (
                str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
            )
        else:
            message = str(error["msg"])
            if given is not None and not isinstance(given, dict | list) and len(repr(given)) < 60:
                message += f", not {given!r}"
        out.append((loc, message))
    return out


def _keys_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys the model at `loc` (walked from `root`) accepts, by alias."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            args = get_args(current)
            current = args[0] if get_origin(current) is list and args else None
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = next(
                (f for n, f in current.model_fields.items() if (f.alias or n) == part), None
            )
            current = field.annotation if field is not None else None
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """`Annotated[X, ...]`, `X | None` → X."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation
