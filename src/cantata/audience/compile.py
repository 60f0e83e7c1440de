"""Compile an audience rule (the AST of rules.py) to one SQL SELECT per dialect, with SQLGlot.

The semantics are SPEC "Audience rules": two-valued, every condition TRUE or FALSE.

*Polarity.* `_Compiler.cond(rule, negate)` yields SQL that is TRUE exactly when the rule (or, when
`negate`, its negation) holds, and FALSE or NULL otherwise. NOT is pushed down to the leaves
(De Morgan), where a negated comparison becomes `x IS NULL OR x <> v`; SQL NOT is therefore
only applied to expressions that cannot be NULL. A WHERE clause keeps TRUE rows only, so a
NULL that means "false" is harmless, and conditions stay plain column comparisons that
DuckDB pushes into scans and zone maps (no COALESCE wrappers).

*Set conditions* (link, audience, history) test whether the row's key belongs to a set that a
subquery computes. The SQL form depends on the position and on the planner:
- "in the set" is `key IN (SELECT fk ...)`: a hash semi-join (or, under OR, a hash MARK join
  on DuckDB);
- "not in the set" is, on DuckDB, `key NOT IN (SELECT fk ... WHERE fk IS NOT NULL)`: a hash
  MARK join 2-3x faster than its decorrelated NOT EXISTS; keys are never null and NULLs are
  filtered out of the set, so NOT IN is exact. On PostgreSQL and Spark it is
  `NOT EXISTS (SELECT ... WHERE fk = key)`, a hash anti-join (PostgreSQL cannot anti-join
  NOT IN, and runs it per row once the set outgrows work_mem);
- under OR, PostgreSQL runs IN/EXISTS as a SubPlan per outer row unless the whole set fits in
  work_mem, so there we LEFT JOIN the distinct set and test the joined key for NULL.

*Counts and aggregates* over a to-many link: the set is `SELECT fk ... GROUP BY fk HAVING Q`.
Entities without related rows are never in a grouped set, so when the comparison holds at
zero rows (`count lt 2`, `sum lte 10`, `not avg gt 3`) we test non-membership of the
complement instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlglot import exp
from sqlglot.errors import ErrorLevel

from cantata.audience.rules import (
    Aggregate,
    AllOf,
    AnyOf,
    FieldCondition,
    HistoryCondition,
    InAudience,
    LinkCondition,
    Not,
    Relative,
    ResolvedPath,
    Rule,
    RuleError,
    Value,
    check_rule,
    literal,
    parse_timestamp,
    resolve_path,
    resolve_time,
)
from cantata.errors import CantataError, did_you_mean
from cantata.model import FieldType, Model

__all__ = ["audience_sql", "compile_audience", "count_sql"]

_DIALECTS = ("duckdb", "postgres", "spark")

# Negative ops are the negation of a positive one (two-valued logic), e.g. ne = not eq.
_NEGATIVE = {"ne": "eq", "not_in": "in", "not_contains": "contains", "not_null": "is_null"}
_COMPARE: dict[str, type[exp.Binary]] = {
    "eq": exp.EQ,
    "ne": exp.NEQ,
    "lt": exp.LT,
    "lte": exp.LTE,
    "gt": exp.GT,
    "gte": exp.GTE,
}
_FLIP = {"eq": "ne", "ne": "eq", "lt": "gte", "gte": "lt", "gt": "lte", "lte": "gt"}
_ORDERING = ("lt", "lte", "gt", "gte", "between")
# System tables (store/migrations).
_HISTORY = "cantata_history"
_AUDIENCE = "cantata_audience"
_MEMBER = "cantata_audience_member"
_SET_KEY = "key"  # the column every set subquery projects
_MAX_ALIAS = 40  # PostgreSQL truncates identifiers at 63 bytes; leave room for suffixes


# --- public API ----------------------------------------------------------------------------


def compile_audience(
    rule: Rule, model: Model, entity: str, *, now: datetime, dialect: str
) -> exp.Select:
    """`SELECT <entity>.<key> FROM <entity> ... WHERE <rule>`: one row per matching row.

    Validates the rule first (RuleError); relative times resolve against `now`.
    """
    if dialect not in _DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r} (expected one of {_DIALECTS})")
    if entity not in model.entities:
        raise CantataError(f"unknown entity {entity!r}{did_you_mean(entity, model.entities)}")
    check_rule(rule, model, entity)
    compiler = _Compiler(model, now, dialect)
    scope = compiler.scope(entity, entity)
    condition = compiler.cond(rule, scope, negate=False, top=True)
    return compiler.select(scope, [compiler.key(scope)], condition)


def audience_sql(
    rule: Rule,
    model: Model,
    entity: str,
    *,
    now: datetime,
    dialect: str,
    pretty: bool = False,
) -> str:
    """The SQL text of `compile_audience` for `dialect` ("duckdb", "postgres" or "spark")."""
    select = compile_audience(rule, model, entity, now=now, dialect=dialect)
    return _generate(select, dialect, pretty)


def count_sql(
    rule: Rule,
    model: Model,
    entity: str,
    *,
    now: datetime,
    dialect: str,
    pretty: bool = False,
) -> str:
    """`SELECT count(*) ...`: the number of rows of `entity` matching the rule."""
    select = compile_audience(rule, model, entity, now=now, dialect=dialect)
    counted = select.select(exp.Count(this=exp.Star()), append=False)
    return _generate(counted, dialect, pretty)


def _generate(select: exp.Select, dialect: str, pretty: bool) -> str:
    # Raise rather than emit SQL that a dialect would silently read differently.
    return select.sql(dialect=dialect, pretty=pretty, unsupported_level=ErrorLevel.RAISE)


# --- scopes: one SELECT under construction -------------------------------------------------


@dataclass
class _Scope:
    """The rows of one table in one SELECT, with the LEFT JOINs its conditions need.

    `entity` is None for a system table (history, audience members): no key, paths or links.
    """

    table: str
    entity: str | None
    alias: str
    joins: list[exp.Join] = field(default_factory=list)
    paths: dict[tuple[str, ...], str] = field(default_factory=dict)  # to-one path → alias


@dataclass(frozen=True)
class _Set:
    """`SELECT column FROM scope WHERE where [GROUP BY column HAVING having]`."""

    scope: _Scope
    column: exp.Expr
    where: exp.Expr
    having: exp.Expr | None = None


def _table(name: str, alias: str) -> exp.Table:
    return exp.Table(
        this=exp.to_identifier(name, quoted=True),
        alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True)),
    )


def _col(name: str, alias: str) -> exp.Column:
    return exp.column(name, alias, quoted=True)


def _is_bool(node: exp.Expr, value: bool) -> bool:
    return isinstance(node, exp.Boolean) and node.this is value


def _flat(parts: list[exp.Expr], connector: type[exp.Connector]) -> list[exp.Expr]:
    return [q for p in parts for q in (p.flatten() if isinstance(p, connector) else [p])]


def _and(parts: list[exp.Expr]) -> exp.Expr:
    """AND with constant folding (an empty AND is TRUE), flattened."""
    if any(_is_bool(p, False) for p in parts):
        return exp.false()
    kept = [p for p in _flat(parts, exp.And) if not _is_bool(p, True)]
    return exp.and_(*kept) if kept else exp.true()


def _or(parts: list[exp.Expr]) -> exp.Expr:
    """OR with constant folding (an empty OR is FALSE), flattened."""
    if any(_is_bool(p, True) for p in parts):
        return exp.true()
    kept = [p for p in _flat(parts, exp.Or) if not _is_bool(p, False)]
    return exp.or_(*kept) if kept else exp.false()


# --- the compiler --------------------------------------------------------------------------


class _Compiler:
    def __init__(self, model: Model, now: datetime, dialect: str) -> None:
        self.model = model
        self.now = now
        self.dialect = dialect
        self.aliases: set[str] = set()

    # scopes and columns

    def alias(self, base: str) -> str:
        """A table alias unique in the whole statement, so nested scopes never shadow."""
        base = base[:_MAX_ALIAS]
        name, n = base, 1
        while name in self.aliases:
            n += 1
            name = f"{base}_{n}"
        self.aliases.add(name)
        return name

    def scope(self, entity: str, alias_base: str) -> _Scope:
        return _Scope(self.model.entities[entity].table, entity, self.alias(alias_base))

    def entity(self, scope: _Scope) -> str:
        assert scope.entity is not None, "conditions apply to entity scopes only"
        return scope.entity

    def key(self, scope: _Scope) -> exp.Column:
        return _col(self.model.entities[self.entity(scope)].key, scope.alias)

    def key_text(self, scope: _Scope) -> exp.Expr:
        """The key as text, as system tables store keys (recipients, audience members)."""
        entity = self.model.entities[self.entity(scope)]
        if entity.key_field.type is FieldType.STRING:
            return self.key(scope)
        return exp.cast(self.key(scope), exp.DataType.Type.TEXT)

    def column(self, scope: _Scope, resolved: ResolvedPath) -> exp.Column:
        """The column of a (dotted) path, LEFT JOINing each to-one step once per scope."""
        alias = scope.alias
        for i, rel in enumerate(resolved.relations):
            path = tuple(r.name for r in resolved.relations[: i + 1])
            if path not in scope.paths:
                joined = self.alias("_".join(path))
                on = exp.EQ(
                    this=_col(rel.source_field, alias), expression=_col(rel.target_field, joined)
                )
                target = self.model.entities[rel.target].table
                scope.joins.append(exp.Join(this=_table(target, joined), side="LEFT", on=on))
                scope.paths[path] = joined
            alias = scope.paths[path]
        return _col(resolved.field.name, alias)

    def select(
        self,
        scope: _Scope,
        projections: list[exp.Expr],
        where: exp.Expr,
        group: exp.Expr | None = None,
        having: exp.Expr | None = None,
    ) -> exp.Select:
        select = exp.select(*projections).from_(_table(scope.table, scope.alias))
        select.set("joins", list(scope.joins))
        if not _is_bool(where, True):
            select = select.where(where)
        if group is not None:
            select = select.group_by(group)
        if having is not None:
            select = select.having(having)
        return select

    # conditions

    def cond(self, rule: Rule, scope: _Scope, *, negate: bool, top: bool) -> exp.Expr:
        """SQL TRUE exactly when `rule` (or, with `negate`, its negation) holds.

        `top`: the result is ANDed straight into a WHERE (no OR above it), where semi- and
        anti-joins are planned as joins.
        """
        if isinstance(rule, Not):
            return self.cond(rule.rule, scope, negate=not negate, top=top)
        if isinstance(rule, AllOf | AnyOf):
            items = rule.all if isinstance(rule, AllOf) else rule.any
            conjunction = isinstance(rule, AllOf) != negate  # De Morgan
            inner_top = top and (conjunction or len(items) == 1)
            parts = [self.cond(r, scope, negate=negate, top=inner_top) for r in items]
            return _and(parts) if conjunction else _or(parts)
        if isinstance(rule, FieldCondition):
            return self.field_condition(rule, scope, negate)
        if isinstance(rule, LinkCondition):
            return self.link(rule, scope, negate, top)
        if isinstance(rule, InAudience):
            return self.member(
                scope, self.key_text(scope), self.audience_set(rule), not negate, top
            )
        return self.member(scope, self.key_text(scope), self.history_set(rule), not negate, top)

    def field_condition(self, rule: FieldCondition, scope: _Scope, negate: bool) -> exp.Expr:
        entity = self.entity(scope)
        resolved = resolve_path(self.model, entity, rule.field)
        column = self.column(scope, resolved)
        # Only the scope's own key is known to be non-null (a joined key may be missing).
        nullable = bool(resolved.relations) or (
            resolved.field.name != self.model.entities[entity].key
        )
        return self.predicate(column, resolved.field.type, rule.op, rule.value, negate, nullable)

    def predicate(
        self,
        expr: exp.Expr,
        ftype: FieldType,
        op: str,
        value: Value,
        negate: bool,
        nullable: bool,
        *,
        collate: bool = True,
        aggregate: bool = False,
    ) -> exp.Expr:
        """`expr OP value` in two-valued logic: a null `expr` makes the positive form false.

        A null field is true for `ne`, but a null aggregate (avg/min/max of no values) makes
        every comparison false, `ne` included: for aggregates `ne` is a plain comparison.
        """
        if op in _NEGATIVE and not (aggregate and op == "ne"):
            op, negate = _NEGATIVE[op], not negate
        if op == "is_null":
            test = exp.Is(this=expr, expression=exp.Null())
            return exp.Not(this=test) if negate else test
        positive = self.positive(expr, ftype, op, value, collate)
        if not negate:
            return positive
        # For a non-null expr the positive form is TRUE or FALSE, so NOT is exact there.
        if op in _COMPARE:
            assert isinstance(positive, exp.Binary)
            complement: exp.Expr = _COMPARE[_FLIP[op]](
                this=positive.this, expression=positive.expression
            )
        else:
            complement = exp.Not(this=positive)
        if not nullable:
            return complement
        return _or([exp.Is(this=expr.copy(), expression=exp.Null()), complement])

    def positive(
        self, expr: exp.Expr, ftype: FieldType, op: str, value: Value, collate: bool
    ) -> exp.Expr:
        if op in _ORDERING and collate:
            expr = self.ordered(expr, ftype)
        if op in _COMPARE:
            return _COMPARE[op](this=expr, expression=self.value(value, ftype))
        if op == "between":
            assert isinstance(value, tuple)
            low, high = (self.value(v, ftype) for v in value)
            return exp.Between(this=expr, low=low, high=high)
        if op == "in":
            assert isinstance(value, tuple)
            return exp.In(this=expr, expressions=[self.value(v, ftype) for v in value])
        assert isinstance(value, str)
        if op == "like":
            return self.like(expr, value)
        return self.text(expr, op, value)

    def ordered(self, expr: exp.Expr, ftype: FieldType) -> exp.Expr:
        """Strings order by code point (Python's order): binary collation on PostgreSQL.

        DuckDB and Spark compare UTF-8 bytes already, which is code-point order.
        """
        if self.dialect == "postgres" and ftype is FieldType.STRING:
            return exp.Collate(this=expr, expression=exp.to_identifier("C", quoted=True))
        return expr

    def text(self, expr: exp.Expr, op: str, value: str) -> exp.Expr:
        """Literal, case-sensitive substring / prefix / suffix tests: no wildcards."""
        if self.dialect == "postgres":
            # PostgreSQL has no contains/ends_with: LIKE with every wildcard escaped.
            escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = {
                "contains": f"%{escaped}%",
                "starts_with": f"{escaped}%",
                "ends_with": f"%{escaped}",
            }[op]
            like = exp.Like(this=expr, expression=exp.Literal.string(pattern))
            return exp.Escape(this=like, expression=exp.Literal.string("\\"))
        # DuckDB's optimizer rewrites LIKE 'x%' into these very functions; Spark has them too.
        func = {"contains": exp.Contains, "starts_with": exp.StartsWith, "ends_with": exp.EndsWith}
        return func[op](this=expr, expression=exp.Literal.string(value))

    def like(self, expr: exp.Expr, pattern: str) -> exp.Expr:
        """SQL LIKE with `%` and `_` wildcards and no escape character on every engine."""
        if self.dialect == "postgres":
            # PostgreSQL's default escape is a backslash; ESCAPE '' disables it.
            like = exp.Like(this=expr, expression=exp.Literal.string(pattern))
            return exp.Escape(this=like, expression=exp.Literal.string(""))
        if self.dialect == "spark":
            # Spark's default escape is a backslash and it takes no empty ESCAPE: double them.
            pattern = pattern.replace("\\", "\\\\")
        # DuckDB has no default escape character; a plain LIKE keeps its prefix/suffix rewrites.
        return exp.Like(this=expr, expression=exp.Literal.string(pattern))

    def value(self, value: Value, ftype: FieldType) -> exp.Expr:
        """A rule value as an SQL literal of the field's type (quoted by SQLGlot)."""
        if isinstance(value, Relative):
            return _sql_literal(resolve_time(value, ftype, self.now), ftype)
        assert value is not None and not isinstance(value, tuple), "checked by check_rule"
        return _sql_literal(literal(value, ftype), ftype)

    # to-many links

    def link(self, rule: LinkCondition, scope: _Scope, negate: bool, top: bool) -> exp.Expr:
        rel = self.model.to_many(self.entity(scope))[rule.link]
        inner = self.scope(rel.target, rule.link)
        outer_key = _col(rel.source_field, scope.alias)
        inner_key = _col(rel.target_field, inner.alias)
        where = (
            self.cond(rule.where, inner, negate=False, top=True)
            if rule.where is not None
            else exp.true()
        )
        test = rule.aggregate or (
            Aggregate(fn="count", op=rule.count.op, value=rule.count.value)
            if rule.count is not None
            else None
        )
        if test is None:  # at least one related row satisfies `where`
            return self.member(scope, outer_key, _Set(inner, inner_key, where), not negate, top)
        value, ftype, zero = self.aggregate(test, inner)
        nullable = zero is None
        holds_at_zero = _compare_py(zero, test) != negate
        # Grouped sets never hold keys without related rows: when the comparison holds at
        # zero rows, the rule is "not in the set where it fails". Either way the HAVING
        # predicate is false at zero.
        having_negate = negate != holds_at_zero
        having: exp.Expr | None = self.predicate(
            value,
            ftype,
            test.op,
            test.value,
            having_negate,
            nullable,
            collate=False,
            aggregate=True,
        )
        if test.fn == "count" and _count_always(test.op, test.value, having_negate):
            having = None  # true for every group: a plain (anti-)semi-join
        found = _Set(inner, inner_key, where, having)
        return self.member(scope, outer_key, found, not holds_at_zero, top)

    def aggregate(self, test: Aggregate, scope: _Scope) -> tuple[exp.Expr, FieldType, int | None]:
        """The aggregate expression, the type it compares as, and its value over no rows."""
        if test.fn == "count":
            return exp.Count(this=exp.Star()), FieldType.INTEGER, 0
        assert test.field is not None, "checked by check_rule"
        resolved = resolve_path(self.model, self.entity(scope), test.field)
        ftype = resolved.field.type
        column = self.column(scope, resolved)
        if test.fn == "sum":
            # No COALESCE(.., 0) for a group of nulls: by construction the HAVING predicate is
            # false at 0, and a NULL is false there too.
            return exp.Sum(this=column), ftype, 0
        if test.fn == "avg":
            # A float on every engine (PostgreSQL's avg of integers and decimals is numeric).
            return exp.cast(exp.Avg(this=column), exp.DataType.Type.DOUBLE), FieldType.FLOAT, None
        func = exp.Min if test.fn == "min" else exp.Max
        # The aggregate of a collated argument keeps that collation for the comparison.
        return func(this=self.ordered(column, ftype)), ftype, None

    # saved audiences and history

    def audience_set(self, rule: InAudience) -> _Set:
        """Members of the latest version of the saved audience (none if it does not exist)."""
        members = _Scope(_MEMBER, None, self.alias("member"))
        versions = self.alias("audience")
        name = exp.Literal.string(rule.audience)
        latest = (
            exp.select(exp.Max(this=_col("version", versions)))
            .from_(_table(_AUDIENCE, versions))
            .where(exp.EQ(this=_col("name", versions), expression=name))
        )
        where = _and(
            [
                exp.EQ(this=_col("audience", members.alias), expression=name.copy()),
                exp.EQ(this=_col("version", members.alias), expression=latest.subquery()),
            ]
        )
        return _Set(members, _col("key", members.alias), where)

    def history_set(self, rule: HistoryCondition) -> _Set:
        """Recipients with at least one matching communication-history event."""
        history = _Scope(_HISTORY, None, self.alias("history"))
        conditions: list[exp.Expr] = []
        for name in ("channel", "event", "campaign"):
            wanted = getattr(rule, name)
            if wanted is not None:
                conditions.append(
                    exp.EQ(this=_col(name, history.alias), expression=exp.Literal.string(wanted))
                )
        at = _col("at", history.alias)
        if rule.since is not None:
            since = self.history_time(rule.since, "since")
            conditions.append(exp.GTE(this=at, expression=since))
        if rule.until is not None:
            until = self.history_time(rule.until, "until")
            conditions.append(exp.LTE(this=at.copy(), expression=until))
        return _Set(history, _col("recipient", history.alias), _and(conditions))

    def history_time(self, bound: Relative | str, key: str) -> exp.Expr:
        if isinstance(bound, Relative):
            moment = resolve_time(bound, FieldType.TIMESTAMP, self.now)
        else:
            try:
                moment = parse_timestamp(bound)
            except ValueError as exc:
                raise RuleError([(f"history.{key}", str(exc))]) from None
        return _sql_literal(moment, FieldType.TIMESTAMP)

    # membership: the planner-dependent part

    def member(
        self, scope: _Scope, key: exp.Expr, found: _Set, member: bool, top: bool
    ) -> exp.Expr:
        """TRUE when `key` is (`member`) or is not in `found`, in the fastest form per planner.

        `key` is never null: an entity key, or one cast to text.
        """
        if self.dialect != "postgres" or top:
            if member:
                subquery = self.set_select(found, [found.column]).subquery()
                return exp.In(this=key, query=subquery)
            if self.dialect == "duckdb":
                # A hash MARK join on plain equality: 2-3x faster on DuckDB than the
                # decorrelated NOT EXISTS (null-safe equality). With NULLs filtered out of
                # the set and a non-null key, NOT IN means exactly "not a member".
                known = exp.Not(this=exp.Is(this=found.column.copy(), expression=exp.Null()))
                subquery = self.set_select(found, [found.column], extra=known).subquery()
                return exp.Not(this=exp.In(this=key, query=subquery))
            return exp.Not(this=exp.Exists(this=self.probe(found, key)))
        # PostgreSQL under OR: LEFT JOIN the distinct set and test the join's result.
        derived, joined = self.derived(found, distinct=found.having is None)
        on = exp.EQ(this=joined, expression=key)
        scope.joins.append(exp.Join(this=derived, side="LEFT", on=on))
        missing = exp.Is(this=joined.copy(), expression=exp.Null())
        return exp.Not(this=missing) if member else missing

    def probe(self, found: _Set, key: exp.Expr) -> exp.Select:
        """The correlated subquery of NOT EXISTS: planned as an anti-join."""
        one = exp.Literal.number(1)
        if found.having is None:
            correlated = exp.EQ(this=found.column, expression=key)
            return self.set_select(found, [one], extra=correlated)
        # PostgreSQL does not pull up EXISTS over a grouped subquery, but does over a grouped
        # derived table (DuckDB decorrelates both).
        derived, joined = self.derived(found, distinct=False)
        return exp.select(one).from_(derived).where(exp.EQ(this=joined, expression=key))

    def derived(self, found: _Set, *, distinct: bool) -> tuple[exp.Subquery, exp.Column]:
        """The set as a derived table with one column, `key`, and that column."""
        alias = self.alias(f"{found.scope.alias}_set")
        select = self.set_select(found, [exp.alias_(found.column, _SET_KEY, quoted=True)])
        if distinct:
            select = select.distinct()
        subquery = select.subquery(exp.to_identifier(alias, quoted=True))
        return subquery, _col(_SET_KEY, alias)

    def set_select(
        self,
        found: _Set,
        projections: list[exp.Expr],
        extra: exp.Expr | None = None,
    ) -> exp.Select:
        where = found.where if extra is None else _and([found.where, extra])
        group = found.column.copy() if found.having is not None else None
        return self.select(found.scope, projections, where, group, found.having)


# --- values --------------------------------------------------------------------------------


def _sql_literal(value: Any, ftype: FieldType) -> exp.Expr:
    """A Python value as an SQL literal: strings quoted by SQLGlot, exact numbers."""
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, datetime):
        text = value.isoformat(sep=" ")
        return exp.cast(exp.Literal.string(text), exp.DataType.Type.TIMESTAMP)
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.DATE)
    if isinstance(value, Decimal):
        return exp.Literal.number(format(value, "f"))  # never exponent notation (a double)
    if isinstance(value, float):
        # Parsed from its shortest repr: the exact same double on every engine.
        return exp.cast(exp.Literal.string(repr(value)), exp.DataType.Type.DOUBLE)
    if isinstance(value, int):
        return exp.Literal.number(str(value))
    if isinstance(value, str):
        return exp.Literal.string(value)
    raise TypeError(f"no SQL literal for {value!r} ({ftype})")


def _compare_py(left: int | None, test: Aggregate) -> bool:
    """The comparison at zero related rows (0 for count/sum, null for avg/min/max)."""
    if left is None:
        return False
    value = test.value
    if test.op == "between":
        assert isinstance(value, tuple)
        low, high = (_number(v) for v in value)
        return low <= left <= high
    right = _number(value)
    return {
        "eq": left == right,
        "ne": left != right,
        "lt": left < right,
        "lte": left <= right,
        "gt": left > right,
        "gte": left >= right,
    }[test.op]


def _number(value: Value) -> Decimal:
    assert isinstance(value, int | float) and not isinstance(value, bool), "checked by check_rule"
    return Decimal(str(value))


def _count_always(op: str, value: Value, negate: bool) -> bool:
    """Whether `count OP value` (negated if `negate`) holds for every count ≥ 1."""
    if op == "between" or not isinstance(value, int):
        return False
    if negate:
        op = _FLIP[op]
    return (op in ("gt", "ne") and value < 1) or (op == "gte" and value <= 1)
