"""The in-memory evaluator: the reference semantics of audience rules over Python rows.

`evaluate` gives the keys of the rows of an entity that satisfy a rule. It implements the
same list of semantics as the SQL compiler (SPEC "Audience rules", docs/rules.md), and the
two are property-tested against each other:

- two-valued logic: every atomic condition is True or False; a comparison with a null field
  is False (so `not` of it is True); `ne`, `not_in`, `not_contains` are True for a null field;
- JSON values become field values with `literal`, relative times with `resolve_time`;
- `between` is inclusive (low > high: False); text ops are literal and case-sensitive; `like`
  has `%` and `_` and no escape character; strings order by code point;
- a to-one path through a null foreign key or a missing row yields null;
- a to-many link relates the target rows whose `target_field` equals this row's
  `source_field` (a null source value relates nothing); `count`/`sum` over no rows are 0,
  `avg`/`min`/`max` are null (the comparison is False);
- Decimal against float compares the float as `Decimal(str(x))`.

Each condition is compiled once into a predicate over rows, and every index (rows by key, by
foreign key; history by recipient) is built once per call, so a condition costs O(rows).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeAlias

from cantata.audience.rules import (
    Aggregate,
    AllOf,
    AnyOf,
    Comparison,
    FieldCondition,
    HistoryCondition,
    InAudience,
    LinkCondition,
    Not,
    Relative,
    Rule,
    RuleError,
    Value,
    check_rule,
    literal,
    parse_timestamp,
    resolve_path,
    resolve_time,
)
from cantata.errors import did_you_mean
from cantata.model import FieldType, Model

__all__ = ["evaluate", "like_regex"]

Row: TypeAlias = Mapping[str, Any]
Predicate: TypeAlias = Callable[[Row], bool]
Getter: TypeAlias = Callable[[Row], Any]


def evaluate(
    rule: Rule,
    model: Model,
    entity: str,
    data: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    now: datetime,
    audiences: Mapping[str, Collection[str]] | None = None,
    history: Sequence[Mapping[str, Any]] = (),
) -> set[Any]:
    """The key values of the `entity` rows of `data` that satisfy `rule`.

    `data` maps entity names to rows (field → Python value, None for null); `audiences` maps
    saved audience names to their member keys as text; `history` holds communication events
    (recipient, channel, event, campaign, at). The rule is validated first (RuleError).
    """
    check_rule(rule, model, entity)
    evaluator = _Evaluator(model, data, now, audiences, history)
    predicate = evaluator.predicate(rule, entity, "")
    key = model.entity(entity).key
    return {row.get(key) for row in data.get(entity, ()) if predicate(row)}


def like_regex(pattern: str) -> re.Pattern[str]:
    """SQL LIKE as a regex: `%` any run, `_` any one character, no escape character."""
    parts = ["." if ch == "_" else ".*" if ch == "%" else re.escape(ch) for ch in pattern]
    return re.compile("".join(parts), re.DOTALL)


# --- comparisons ---------------------------------------------------------------------------


def _align(a: Any, b: Any) -> tuple[Any, Any]:
    """Decimal against float compares the float as Decimal(str(x)) (what the SQL side does)."""
    if isinstance(a, Decimal) and isinstance(b, float):
        return a, Decimal(str(b))
    if isinstance(a, float) and isinstance(b, Decimal):
        return Decimal(str(a)), b
    return a, b


def _compare(op: str, left: Any, right: Any) -> bool:
    """`left OP right` for two non-null values (eq ne lt lte gt gte)."""
    a, b = _align(left, right)
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    if op == "lt":
        return bool(a < b)
    if op == "lte":
        return bool(a <= b)
    if op == "gt":
        return bool(a > b)
    if op == "gte":
        return bool(a >= b)
    raise ValueError(f"not a comparison op: {op!r}")


def _comparison(op: str, expected: Any, *, null_ne: bool = False) -> Callable[[Any], bool]:
    """A test of one (possibly null) value against an already converted operand.

    A null value fails every comparison, except `ne` when `null_ne` (fields: a null field is
    "not equal"; an aggregate over no values is null and fails every comparison, `ne` too).
    """
    if op == "between":
        low, high = expected
        return lambda v: v is not None and _compare("lte", low, v) and _compare("lte", v, high)
    if op == "ne" and null_ne:
        return lambda v: v is None or _compare("ne", v, expected)
    return lambda v: v is not None and _compare(op, v, expected)


def _field_test(op: str, expected: Any) -> Callable[[Any], bool]:
    """The test of a field condition, applied to the field's value (None for null)."""
    if op == "is_null":
        return lambda v: v is None
    if op == "not_null":
        return lambda v: v is not None
    if op == "in":
        return lambda v: v is not None and any(_compare("eq", v, c) for c in expected)
    if op == "not_in":
        return lambda v: v is None or not any(_compare("eq", v, c) for c in expected)
    if op == "contains":
        return lambda v: v is not None and expected in v
    if op == "not_contains":
        return lambda v: v is None or expected not in v
    if op == "starts_with":
        return lambda v: v is not None and v.startswith(expected)
    if op == "ends_with":
        return lambda v: v is not None and v.endswith(expected)
    if op == "like":
        regex = like_regex(expected)
        return lambda v: v is not None and regex.fullmatch(v) is not None
    return _comparison(op, expected, null_ne=True)


# --- the evaluator -------------------------------------------------------------------------


class _Evaluator:
    def __init__(
        self,
        model: Model,
        data: Mapping[str, Sequence[Row]],
        now: datetime,
        audiences: Mapping[str, Collection[str]] | None,
        history: Sequence[Row],
    ) -> None:
        self.model = model
        self.data = data
        self.now = now
        self.audiences = audiences
        self.history = history
        self._indexes: dict[tuple[str, str], dict[Any, list[Row]]] = {}
        self._members: dict[str, frozenset[str]] = {}
        self._history_by_recipient: dict[str, list[Row]] | None = None

    # indexes, built once per call
    def index(self, entity: str, field: str) -> dict[Any, list[Row]]:
        """Rows of `entity` by the value of `field` (null values left out)."""
        found = self._indexes.get((entity, field))
        if found is None:
            found = {}
            for row in self.data.get(entity, ()):
                value = row.get(field)
                if value is not None:
                    found.setdefault(value, []).append(row)
            self._indexes[(entity, field)] = found
        return found

    def history_of(self, recipient: str) -> list[Row]:
        if self._history_by_recipient is None:
            self._history_by_recipient = {}
            for event in self.history:
                self._history_by_recipient.setdefault(str(event.get("recipient")), []).append(event)
        return self._history_by_recipient.get(recipient, [])

    # values
    def convert(self, value: Value, ftype: FieldType) -> Any:
        """A JSON value as the Python value it compares with (tuples element-wise)."""
        if isinstance(value, tuple):
            return tuple(self.convert(v, ftype) for v in value)
        if isinstance(value, Relative):
            return resolve_time(value, ftype, self.now)
        if value is None:
            return None
        return literal(value, ftype)

    def getter(self, entity: str, path: str) -> tuple[Getter, FieldType]:
        """A function reading `path` (through to-one links) from a row of `entity`."""
        resolved = resolve_path(self.model, entity, path)
        name = resolved.field.name
        steps = [
            (relation.source_field, self.index(relation.target, relation.target_field))
            for relation in resolved.relations
        ]

        def get(row: Row) -> Any:
            current: Row | None = row
            for source_field, index in steps:
                assert current is not None
                value = current.get(source_field)
                targets = index.get(value) if value is not None else None
                if not targets:
                    return None
                current = targets[0]
            assert current is not None
            return current.get(name)

        return get, resolved.field.type

    # predicates
    def predicate(self, rule: Rule, entity: str, path: str) -> Predicate:
        if isinstance(rule, AllOf):
            parts = [self.predicate(r, entity, f"{path}all[{i}].") for i, r in enumerate(rule.all)]
            return lambda row: all(p(row) for p in parts)
        if isinstance(rule, AnyOf):
            parts = [self.predicate(r, entity, f"{path}any[{i}].") for i, r in enumerate(rule.any)]
            return lambda row: any(p(row) for p in parts)
        if isinstance(rule, Not):
            inner = self.predicate(rule.rule, entity, f"{path}not.")
            return lambda row: not inner(row)
        if isinstance(rule, FieldCondition):
            get, ftype = self.getter(entity, rule.field)
            test = _field_test(rule.op, self.convert(rule.value, ftype))
            return lambda row: test(get(row))
        if isinstance(rule, LinkCondition):
            return self.link_predicate(rule, entity, path)
        if isinstance(rule, InAudience):
            return self.audience_predicate(rule, entity, path)
        return self.history_predicate(rule, entity)

    def link_predicate(self, rule: LinkCondition, entity: str, path: str) -> Predicate:
        relation = self.model.to_many(entity)[rule.link]
        target = relation.target
        index = self.index(target, relation.target_field)
        source_field = relation.source_field
        where = (
            self.predicate(rule.where, target, f"{path}where.") if rule.where is not None else None
        )

        def related(row: Row) -> Iterable[Row]:
            value = row.get(source_field)
            rows = index.get(value, ()) if value is not None else ()
            return rows if where is None else (r for r in rows if where(r))

        if rule.count is not None:
            return self.count_predicate(rule.count, related)
        if rule.aggregate is not None:
            return self.aggregate_predicate(rule.aggregate, target, related)
        return lambda row: any(True for _ in related(row))

    def count_predicate(
        self, count: Comparison, related: Callable[[Row], Iterable[Row]]
    ) -> Predicate:
        test = _comparison(count.op, self.convert(count.value, FieldType.INTEGER))
        return lambda row: test(sum(1 for _ in related(row)))

    def aggregate_predicate(
        self, agg: Aggregate, target: str, related: Callable[[Row], Iterable[Row]]
    ) -> Predicate:
        if agg.fn == "count":
            test = _comparison(agg.op, self.convert(agg.value, FieldType.INTEGER))
            return lambda row: test(sum(1 for _ in related(row)))
        assert agg.field is not None  # check_rule
        get, ftype = self.getter(target, agg.field)
        test = _comparison(agg.op, self.convert(agg.value, ftype))
        reduce = _reducer(agg.fn, ftype)

        def holds(row: Row) -> bool:
            values = [v for v in map(get, related(row)) if v is not None]
            return test(reduce(values))

        return holds

    def audience_predicate(self, rule: InAudience, entity: str, path: str) -> Predicate:
        if self.audiences is None or rule.audience not in self.audiences:
            known = self.audiences or {}
            raise RuleError(
                [
                    (
                        f"{path}audience",
                        f"no saved audience {rule.audience!r}{did_you_mean(rule.audience, known)}",
                    )
                ]
            )
        members = self._members.get(rule.audience)
        if members is None:
            members = frozenset(str(m) for m in self.audiences[rule.audience])
            self._members[rule.audience] = members
        key = self.model.entity(entity).key
        return lambda row: str(row.get(key)) in members

    def history_predicate(self, rule: HistoryCondition, entity: str) -> Predicate:
        since = self.moment(rule.since)
        until = self.moment(rule.until)
        wanted = [
            (name, value)
            for name, value in (
                ("channel", rule.channel),
                ("event", rule.event),
                ("campaign", rule.campaign),
            )
            if value is not None
        ]

        def matches(event: Row) -> bool:
            if any(event.get(name) != value for name, value in wanted):
                return False
            at = event.get("at")
            if at is None:
                return since is None and until is None
            return (since is None or since <= at) and (until is None or at <= until)

        key = self.model.entity(entity).key
        return lambda row: any(matches(e) for e in self.history_of(str(row.get(key))))

    def moment(self, bound: Relative | str | None) -> datetime | None:
        if bound is None:
            return None
        if isinstance(bound, Relative):
            resolved = resolve_time(bound, FieldType.TIMESTAMP, self.now)
            assert isinstance(resolved, datetime)
            return resolved
        return parse_timestamp(bound)


def _reducer(fn: str, ftype: FieldType) -> Callable[[list[Any]], Any]:
    """sum (0 over no values), avg/min/max (None over no values) of non-null values."""
    if fn == "sum":
        if ftype is FieldType.DECIMAL:
            return lambda values: sum((_decimal(v) for v in values), Decimal(0))
        return lambda values: sum(values, 0)
    if fn == "avg":
        return lambda values: _avg(values, ftype) if values else None
    if fn == "min":
        return lambda values: min(values) if values else None
    if fn == "max":
        return lambda values: max(values) if values else None
    raise ValueError(f"unknown aggregate {fn!r}")


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


def _avg(values: list[Any], ftype: FieldType) -> Any:
    """The exact mean for integers (a Fraction), Decimal for decimals, float for floats."""
    if ftype is FieldType.DECIMAL:
        return sum((_decimal(v) for v in values), Decimal(0)) / len(values)
    if ftype is FieldType.INTEGER:
        return Fraction(sum(values), len(values))
    return sum(values) / len(values)
