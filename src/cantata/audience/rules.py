"""The rule AST for the canonical JSON form (SPEC "Audience rules"), and its validation.

`parse_rule` turns JSON into the AST, naming the JSON path of any malformed part.
`check_rule` validates an AST against the model for one targeting entity: fields, links, ops,
value types, audiences — every problem with its JSON path and the nearest valid names.
`to_json` gives the canonical JSON back. Relative times are resolved against an explicit
`now` by `resolve_time`, shared by the compiler and the evaluator.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, TypeAlias, Union

from pydantic import BaseModel, ConfigDict

from cantata.errors import CantataError, did_you_mean
from cantata.model import Field, FieldType, Model, Relation

Scalar: TypeAlias = str | int | float | bool
COMPARE_OPS = ("eq", "ne", "lt", "lte", "gt", "gte")
SET_OPS = ("in", "not_in")
NULL_OPS = ("is_null", "not_null")
TEXT_OPS = ("contains", "not_contains", "starts_with", "ends_with", "like")
OPS = (*COMPARE_OPS, *SET_OPS, "between", *NULL_OPS, *TEXT_OPS)
AGGREGATES = ("count", "sum", "avg", "min", "max")
HISTORY_EVENTS = (
    "sent",
    "delivered",
    "bounced",
    "opened",
    "clicked",
    "unsubscribed",
    "complained",
)
UNITS = ("m", "h", "d", "w", "mo", "y")
_DURATION = re.compile(r"^(\d+)(mo|m|h|d|w|y)$")


class _Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Relative(_Node):
    """A time relative to `now`: `ago` (past) or `ahead` (future), e.g. 30 days ago."""

    direction: Literal["ago", "ahead"]
    amount: int
    unit: Literal["m", "h", "d", "w", "mo", "y"]

    @property
    def text(self) -> str:
        return f"{self.amount}{self.unit}"


Value: TypeAlias = Union[Scalar, Relative, tuple[Union[Scalar, Relative], ...], None]  # noqa: UP007


class FieldCondition(_Node):
    field: str
    op: str
    value: Value = None


class Comparison(_Node):
    op: str
    value: Value


class Aggregate(_Node):
    fn: str
    field: str | None = None
    op: str
    value: Value


class LinkCondition(_Node):
    link: str
    where: Rule | None = None
    count: Comparison | None = None
    aggregate: Aggregate | None = None


class InAudience(_Node):
    audience: str


class HistoryCondition(_Node):
    channel: str | None = None
    event: str | None = None
    campaign: str | None = None
    since: Relative | str | None = None
    until: Relative | str | None = None


class AllOf(_Node):
    all: tuple[Rule, ...]


class AnyOf(_Node):
    any: tuple[Rule, ...]


class Not(_Node):
    rule: Rule


Rule: TypeAlias = Union[  # noqa: UP007
    AllOf, AnyOf, Not, FieldCondition, LinkCondition, InAudience, HistoryCondition
]
for _cls in (LinkCondition, AllOf, AnyOf, Not):
    _cls.model_rebuild()


class RuleError(CantataError):
    """One or more problems in a rule, each with its JSON path."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = [f"{path or '(rule)'}: {msg}" for path, msg in problems]
        super().__init__("invalid rule:\n  " + "\n  ".join(lines) if len(lines) > 1 else lines[0])


# --- JSON → AST ----------------------------------------------------------------------------


def parse_rule(data: Any) -> Rule:
    problems: list[tuple[str, str]] = []
    rule = _parse(data, "", problems)
    if problems or rule is None:
        raise RuleError(problems or [("", "empty rule")])
    return rule


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _parse(data: Any, path: str, problems: list[tuple[str, str]]) -> Rule | None:
    if not isinstance(data, dict):
        problems.append((path, f"a rule must be a JSON object, not {type(data).__name__}"))
        return None
    kinds = [k for k in ("all", "any", "not", "field", "link", "audience", "history") if k in data]
    if len(kinds) != 1:
        problems.append(
            (
                path,
                "a rule needs exactly one of 'all', 'any', 'not', 'field', 'link', "
                f"'audience', 'history' (found: {', '.join(sorted(data)) or 'nothing'})",
            )
        )
        return None
    kind = kinds[0]
    allowed = {
        "all": {"all"},
        "any": {"any"},
        "not": {"not"},
        "field": {"field", "op", "value"},
        "link": {"link", "where", "count", "aggregate"},
        "audience": {"audience"},
        "history": {"history"},
    }[kind]
    for key in data:
        if key not in allowed:
            problems.append((_join(path, key), f"unknown key {key!r}{did_you_mean(key, allowed)}"))
    if kind in ("all", "any"):
        items = data[kind]
        if not isinstance(items, list):
            problems.append((_join(path, kind), "expected a list of rules"))
            return None
        parsed = [
            _parse(item, f"{_join(path, kind)}[{i}]", problems) for i, item in enumerate(items)
        ]
        rules = tuple(r for r in parsed if r is not None)
        return AllOf(all=rules) if kind == "all" else AnyOf(any=rules)
    if kind == "not":
        inner = _parse(data["not"], _join(path, "not"), problems)
        return Not(rule=inner) if inner is not None else None
    if kind == "field":
        if not isinstance(data["field"], str) or not data["field"]:
            problems.append((_join(path, "field"), "expected a field path such as 'hotel.city'"))
            return None
        op = data.get("op")
        if op not in OPS:
            problems.append((_join(path, "op"), f"unknown op {op!r}{did_you_mean(str(op), OPS)}"))
            return None
        value = _parse_value(data.get("value"), _join(path, "value"), problems)
        return FieldCondition(field=data["field"], op=op, value=value)
    if kind == "link":
        if not isinstance(data["link"], str):
            problems.append((_join(path, "link"), "expected the name of a to-many link"))
            return None
        where = None
        if data.get("where") is not None:
            where = _parse(data["where"], _join(path, "where"), problems)
        count = aggregate = None
        if "count" in data and "aggregate" in data:
            problems.append((path, "use either 'count' or 'aggregate', not both"))
        if data.get("count") is not None:
            count = _parse_comparison(data["count"], _join(path, "count"), problems)
        if data.get("aggregate") is not None:
            aggregate = _parse_aggregate(data["aggregate"], _join(path, "aggregate"), problems)
        return LinkCondition(link=data["link"], where=where, count=count, aggregate=aggregate)
    if kind == "audience":
        if not isinstance(data["audience"], str) or not data["audience"]:
            problems.append((_join(path, "audience"), "expected a saved audience name"))
            return None
        return InAudience(audience=data["audience"])
    return _parse_history(data["history"], _join(path, "history"), problems)


def _parse_comparison(data: Any, path: str, problems: list[tuple[str, str]]) -> Comparison | None:
    if not isinstance(data, dict) or set(data) - {"op", "value"}:
        problems.append((path, 'expected {"op": ..., "value": ...}'))
        return None
    op = data.get("op")
    if op not in (*COMPARE_OPS, "between"):
        problems.append(
            (_join(path, "op"), f"unknown op {op!r}{did_you_mean(str(op), COMPARE_OPS)}")
        )
        return None
    return Comparison(op=op, value=_parse_value(data.get("value"), _join(path, "value"), problems))


def _parse_aggregate(data: Any, path: str, problems: list[tuple[str, str]]) -> Aggregate | None:
    if not isinstance(data, dict) or set(data) - {"fn", "field", "op", "value"}:
        problems.append((path, 'expected {"fn", "field", "op", "value"}'))
        return None
    fn = data.get("fn")
    if fn not in AGGREGATES:
        problems.append(
            (_join(path, "fn"), f"unknown fn {fn!r}{did_you_mean(str(fn), AGGREGATES)}")
        )
        return None
    comparison = _parse_comparison(
        {"op": data.get("op"), "value": data.get("value")}, path, problems
    )
    if comparison is None:
        return None
    fld = data.get("field")
    if fld is not None and not isinstance(fld, str):
        problems.append((_join(path, "field"), "expected a field name"))
        return None
    return Aggregate(fn=fn, field=fld, op=comparison.op, value=comparison.value)


def _parse_history(data: Any, path: str, problems: list[tuple[str, str]]) -> Rule | None:
    keys = ("channel", "event", "campaign", "since", "until")
    if not isinstance(data, dict):
        problems.append((path, "expected an object with channel, event, campaign, since"))
        return None
    for key in data:
        if key not in keys:
            problems.append((_join(path, key), f"unknown key {key!r}{did_you_mean(key, keys)}"))
    if data.get("event") is not None and data["event"] not in HISTORY_EVENTS:
        problems.append(
            (
                _join(path, "event"),
                f"unknown event {data['event']!r}{did_you_mean(str(data['event']), HISTORY_EVENTS)}",
            )
        )
    bounds: dict[str, Relative | str | None] = {}
    for key in ("since", "until"):
        raw = data.get(key)
        value = _parse_value(raw, _join(path, key), problems) if raw is not None else None
        if value is not None and not isinstance(value, Relative | str):
            problems.append((_join(path, key), 'expected {"ago": "7d"} or an ISO timestamp'))
            value = None
        if isinstance(value, str) and _parse_timestamp(value) is None:
            problems.append((_join(path, key), f"{value!r} is not an ISO-8601 timestamp"))
        bounds[key] = value
    for key in ("channel", "campaign"):
        if data.get(key) is not None and not isinstance(data[key], str):
            problems.append((_join(path, key), "expected a string"))
    return HistoryCondition(
        channel=data.get("channel"),
        event=data.get("event"),
        campaign=data.get("campaign"),
        since=bounds["since"],
        until=bounds["until"],
    )


def _parse_value(raw: Any, path: str, problems: list[tuple[str, str]]) -> Value:
    if isinstance(raw, list):
        items = [_parse_value(v, f"{path}[{i}]", problems) for i, v in enumerate(raw)]
        if any(isinstance(v, tuple) for v in items):
            problems.append((path, "lists cannot be nested"))
        return tuple(v for v in items if not isinstance(v, tuple))  # type: ignore[misc]
    if isinstance(raw, dict):
        if len(raw) == 1 and next(iter(raw)) in ("ago", "ahead"):
            direction, text = next(iter(raw.items()))
            m = _DURATION.match(str(text))
            if not m:
                problems.append(
                    (
                        _join(path, direction),
                        f"{text!r} is not a duration: use a number and a unit among "
                        f"{', '.join(UNITS)} (e.g. '30d', '2w', '6mo')",
                    )
                )
                return None
            return Relative(direction=direction, amount=int(m.group(1)), unit=m.group(2))  # type: ignore[arg-type]
        problems.append((path, 'a value object must be {"ago": "30d"} or {"ahead": "2w"}'))
        return None
    if raw is None or isinstance(raw, str | int | float | bool):
        return raw
    problems.append((path, f"unsupported value {raw!r}"))
    return None


# --- AST → JSON ----------------------------------------------------------------------------


def value_json(value: Value) -> Any:
    if isinstance(value, Relative):
        return {value.direction: value.text}
    if isinstance(value, tuple):
        return [value_json(v) for v in value]
    return value


def to_json(rule: Rule) -> dict[str, Any]:
    if isinstance(rule, AllOf):
        return {"all": [to_json(r) for r in rule.all]}
    if isinstance(rule, AnyOf):
        return {"any": [to_json(r) for r in rule.any]}
    if isinstance(rule, Not):
        return {"not": to_json(rule.rule)}
    if isinstance(rule, FieldCondition):
        out: dict[str, Any] = {"field": rule.field, "op": rule.op}
        if rule.op not in NULL_OPS or rule.value is not None:
            out["value"] = value_json(rule.value)
        return out
    if isinstance(rule, LinkCondition):
        out = {"link": rule.link}
        if rule.where is not None:
            out["where"] = to_json(rule.where)
        if rule.count is not None:
            out["count"] = {"op": rule.count.op, "value": value_json(rule.count.value)}
        if rule.aggregate is not None:
            agg = rule.aggregate
            out["aggregate"] = {"fn": agg.fn, "op": agg.op, "value": value_json(agg.value)}
            if agg.field is not None:
                out["aggregate"]["field"] = agg.field
        return out
    if isinstance(rule, InAudience):
        return {"audience": rule.audience}
    history = {
        k: value_json(v)
        for k, v in (
            ("channel", rule.channel),
            ("event", rule.event),
            ("campaign", rule.campaign),
            ("since", rule.since),
            ("until", rule.until),
        )
        if v is not None
    }
    return {"history": history}


# --- paths and time ------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedPath:
    """A dotted path: the to-one relations walked, then the field at the end."""

    relations: tuple[Relation, ...]
    field: Field
    entity: str  # the entity holding `field`


def resolve_path(model: Model, entity: str, path: str) -> ResolvedPath:
    """Resolve `hotel.city` from `booking`; raise KeyError(message) when it does not exist."""
    parts = path.split(".")
    relations: list[Relation] = []
    current = entity
    for i, part in enumerate(parts[:-1]):
        to_one = model.to_one(current)
        if part not in to_one:
            to_many = model.to_many(current)
            if part in to_many:
                raise KeyError(
                    f"{part!r} is a to-many link of {current!r}: use "
                    f'{{"link": "{part}", "where": ...}} instead of a dotted path'
                )
            prefix = ".".join(parts[:i])
            raise KeyError(
                f"{current!r} has no to-one link {part!r}"
                f"{did_you_mean(part, to_one)}" + (f" (after {prefix!r})" if prefix else "")
            )
        relations.append(to_one[part])
        current = to_one[part].target
    name = parts[-1]
    fields = model.entities[current].fields
    if name not in fields:
        hint = did_you_mean(name, list(fields) + list(model.to_one(current)))
        if name in model.relations(current):
            raise KeyError(f"{name!r} is a link of {current!r}, not a field: add '.FIELD'")
        raise KeyError(f"{current!r} has no field {name!r}{hint}")
    return ResolvedPath(tuple(relations), fields[name], current)


def _parse_timestamp(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def parse_timestamp(text: str) -> datetime:
    """An ISO-8601 timestamp as naive UTC (offsets converted, naive ones taken as UTC)."""
    parsed = _parse_timestamp(text)
    if parsed is None:
        raise ValueError(f"{text!r} is not an ISO-8601 timestamp")
    return parsed


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def shift(moment: datetime, rel: Relative) -> datetime:
    sign = -1 if rel.direction == "ago" else 1
    n = rel.amount * sign
    if rel.unit == "mo":
        return _add_months(moment, n)
    if rel.unit == "y":
        return _add_months(moment, 12 * n)
    delta = {
        "m": timedelta(minutes=1),
        "h": timedelta(hours=1),
        "d": timedelta(days=1),
        "w": timedelta(weeks=1),
    }[rel.unit]
    return moment + n * delta


def resolve_time(rel: Relative, ftype: FieldType, now: datetime) -> date | datetime:
    """A relative time as a concrete value: from *today* (UTC) for dates, from `now` else."""
    try:
        if now.tzinfo is not None:
            now = now.astimezone(UTC).replace(tzinfo=None)
        if ftype is FieldType.DATE:
            today = datetime(now.year, now.month, now.day)
            return shift(today, rel).date()
        return shift(now, rel)
    except (OverflowError, ValueError):
        # Python's dates end at year 9999: a duration past them is the rule's mistake.
        raise RuleError(
            [
                (
                    f"value.{rel.direction}",
                    f"{rel.text} {rel.direction} of {now.isoformat()} falls outside the years "
                    "1 to 9999",
                )
            ]
        ) from None


def literal(value: Scalar, ftype: FieldType) -> Scalar | date | datetime | Decimal:
    """A JSON scalar as the Python value of a field type (dates and timestamps parsed)."""
    if ftype is FieldType.DATE and isinstance(value, str):
        return date.fromisoformat(value)
    if ftype is FieldType.TIMESTAMP and isinstance(value, str):
        return parse_timestamp(value)
    if (
        ftype is FieldType.DECIMAL
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        return Decimal(str(value))
    return value


# --- validation against the model ----------------------------------------------------------


def check_rule(
    rule: Rule,
    model: Model,
    entity: str,
    audiences: Mapping[str, str] | None = None,
) -> None:
    """Validate `rule` for rows of `entity`; raise RuleError listing every problem.

    `audiences` maps saved audience names to their entity; None skips audience checks.
    """
    problems: list[tuple[str, str]] = []
    _check(rule, model, entity, audiences, "", problems)
    if problems:
        raise RuleError(problems)


def _check(
    rule: Rule,
    model: Model,
    entity: str,
    audiences: Mapping[str, str] | None,
    path: str,
    problems: list[tuple[str, str]],
) -> None:
    if isinstance(rule, AllOf | AnyOf):
        key = "all" if isinstance(rule, AllOf) else "any"
        for i, sub in enumerate(rule.all if isinstance(rule, AllOf) else rule.any):
            _check(sub, model, entity, audiences, f"{_join(path, key)}[{i}]", problems)
    elif isinstance(rule, Not):
        _check(rule.rule, model, entity, audiences, _join(path, "not"), problems)
    elif isinstance(rule, FieldCondition):
        try:
            resolved = resolve_path(model, entity, rule.field)
        except KeyError as exc:
            problems.append((_join(path, "field"), str(exc.args[0])))
            return
        _check_op_value(resolved.field, rule.op, rule.value, path, problems)
    elif isinstance(rule, LinkCondition):
        to_many = model.to_many(entity)
        if rule.link not in to_many:
            to_one = model.to_one(entity)
            if rule.link in to_one:
                msg = (
                    f"{rule.link!r} is a to-one link of {entity!r}: use a dotted path "
                    f"('{rule.link}.FIELD') in a field condition"
                )
            else:
                msg = f"{entity!r} has no to-many link {rule.link!r}{did_you_mean(rule.link, to_many)}"
            problems.append((_join(path, "link"), msg))
            return
        target = to_many[rule.link].target
        if rule.where is not None:
            _check(rule.where, model, target, audiences, _join(path, "where"), problems)
        if rule.count is not None:
            _check_comparison(
                FieldType.INTEGER, rule.count.op, rule.count.value, _join(path, "count"), problems
            )
        if rule.aggregate is not None:
            _check_aggregate(model, target, rule.aggregate, _join(path, "aggregate"), problems)
    elif isinstance(rule, InAudience):
        if audiences is not None:
            if rule.audience not in audiences:
                problems.append(
                    (
                        _join(path, "audience"),
                        f"no saved audience {rule.audience!r}{did_you_mean(rule.audience, audiences)}",
                    )
                )
            elif audiences[rule.audience] != entity:
                problems.append(
                    (
                        _join(path, "audience"),
                        f"audience {rule.audience!r} holds {audiences[rule.audience]!r} rows, "
                        f"not {entity!r}",
                    )
                )
    elif isinstance(rule, HistoryCondition) and entity != model.recipient.name:
        problems.append(
            (
                _join(path, "history"),
                f"history conditions apply to recipients ({model.recipient.name!r}), not "
                f"{entity!r}: wrap it in a link to the recipient",
            )
        )


def _check_aggregate(
    model: Model, target: str, agg: Aggregate, path: str, problems: list[tuple[str, str]]
) -> None:
    if agg.fn == "count":
        if agg.field is not None:
            problems.append((_join(path, "field"), "count takes no field"))
        _check_comparison(FieldType.INTEGER, agg.op, agg.value, path, problems)
        return
    if agg.field is None:
        problems.append((_join(path, "field"), f"{agg.fn} needs a field of {target!r}"))
        return
    try:
        resolved = resolve_path(model, target, agg.field)
    except KeyError as exc:
        problems.append((_join(path, "field"), str(exc.args[0])))
        return
    ftype = resolved.field.type
    if agg.fn in ("sum", "avg") and not ftype.is_numeric:
        problems.append(
            (_join(path, "field"), f"{agg.fn} needs a numeric field; {agg.field!r} is {ftype}")
        )
        return
    if agg.fn in ("min", "max") and ftype is FieldType.BOOLEAN:
        problems.append((_join(path, "field"), f"{agg.fn} is not defined for booleans"))
        return
    result_type = FieldType.FLOAT if agg.fn == "avg" else ftype
    _check_comparison(result_type, agg.op, agg.value, path, problems)


def _check_comparison(
    ftype: FieldType, op: str, value: Value, path: str, problems: list[tuple[str, str]]
) -> None:
    if op == "between":
        _check_between(ftype, value, path, problems)
    else:
        _check_scalar(ftype, value, _join(path, "value"), problems)


def _check_between(
    ftype: FieldType, value: Value, path: str, problems: list[tuple[str, str]]
) -> None:
    if not isinstance(value, tuple) or len(value) != 2:
        problems.append((_join(path, "value"), "between needs a list [low, high]"))
        return
    for i, item in enumerate(value):
        _check_scalar(ftype, item, f"{_join(path, 'value')}[{i}]", problems)


def _check_op_value(
    fld: Field, op: str, value: Value, path: str, problems: list[tuple[str, str]]
) -> None:
    ftype = fld.type
    vpath = _join(path, "value")
    if op in NULL_OPS:
        if value is not None:
            problems.append((vpath, f"{op} takes no value"))
        return
    if op in TEXT_OPS:
        if ftype is not FieldType.STRING:
            problems.append(
                (_join(path, "op"), f"{op} applies to text fields; {fld.name!r} is {ftype}")
            )
        elif not isinstance(value, str):
            problems.append((vpath, f"{op} needs a string value"))
        else:
            _check_scalar(ftype, value, vpath, problems)
        return
    if ftype is FieldType.BOOLEAN and op not in ("eq", "ne", "in", "not_in"):
        problems.append(
            (_join(path, "op"), f"{op} does not apply to a boolean field ({fld.name!r})")
        )
        return
    if op in SET_OPS:
        if not isinstance(value, tuple) or not value:
            problems.append((vpath, f"{op} needs a non-empty list of values"))
            return
        for i, item in enumerate(value):
            _check_scalar(ftype, item, f"{vpath}[{i}]", problems, fld.values)
        return
    if op == "between":
        _check_between(ftype, value, path, problems)
        return
    _check_scalar(ftype, value, vpath, problems, fld.values if op in ("eq", "ne") else None)


def _check_scalar(
    ftype: FieldType,
    value: Value,
    path: str,
    problems: list[tuple[str, str]],
    allowed: tuple[Scalar, ...] | None = None,
) -> None:
    if value is None:
        problems.append((path, "a value is required (use is_null / not_null to test for null)"))
        return
    if isinstance(value, tuple):
        problems.append((path, "expected a single value, not a list"))
        return
    if isinstance(value, Relative):
        if not ftype.is_temporal:
            problems.append(
                (path, f"a relative time only compares with dates and timestamps, not {ftype}")
            )
        return
    ok = {
        FieldType.STRING: isinstance(value, str),
        FieldType.INTEGER: isinstance(value, int) and not isinstance(value, bool),
        FieldType.DECIMAL: isinstance(value, int | float) and not isinstance(value, bool),
        FieldType.FLOAT: isinstance(value, int | float) and not isinstance(value, bool),
        FieldType.BOOLEAN: isinstance(value, bool),
        FieldType.DATE: isinstance(value, str) and _is_date(value),
        FieldType.TIMESTAMP: isinstance(value, str) and _parse_timestamp(value) is not None,
    }[ftype]
    if isinstance(value, str) and "\x00" in value:
        # PostgreSQL text cannot hold NUL; refused on every engine so rules mean the same.
        problems.append((path, f"{value!r} contains a NUL character (\\x00)"))
        return
    if not ok:
        shape = {
            FieldType.DATE: 'an ISO date like "2026-03-01" or {"ago": "30d"}',
            FieldType.TIMESTAMP: 'an ISO timestamp like "2026-03-01T09:00:00Z" or {"ago": "2h"}',
        }.get(ftype, f"an {ftype}" if ftype is FieldType.INTEGER else f"a {ftype}")
        problems.append((path, f"{value!r} is not {shape}"))
        return
    if allowed is not None and value not in allowed:
        problems.append(
            (
                path,
                f"{value!r} is not an allowed value{did_you_mean(str(value), [str(a) for a in allowed])}",
            )
        )


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10
