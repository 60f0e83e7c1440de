"""The shape of compiled SQL, without a database: validation first, literals quoted by
SQLGlot, the forms chosen per dialect and position. Results are checked on real engines in
tests/integration/test_audience_sql.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from cantata.audience.compile import audience_sql, compile_audience, count_sql
from cantata.audience.rules import RuleError, parse_rule
from cantata.errors import CantataError
from cantata.model import parse_model

NOW = datetime(2026, 3, 1, 12)
DIALECTS = ["duckdb", "postgres", "spark"]

MODEL = parse_model(
    """\
entities:
  customer:
    key: customer_id
    recipient: true
    fields:
      customer_id: integer
      name: string
      age: integer
      score: float
      balance: decimal
      signup_at: timestamp
  hotel:
    key: hotel_id
    fields: {hotel_id: integer, city: string, stars: integer}
  booking:
    key: booking_id
    fields: {booking_id: integer, customer_id: integer, hotel_id: integer, nights: integer,
             status: string}
    links:
      customer: {to: customer, on: customer_id, reverse: bookings}
      hotel: {to: hotel, on: hotel_id, reverse: bookings}
"""
)


def sql(rule: dict[str, Any], dialect: str = "duckdb", entity: str = "customer") -> str:
    return audience_sql(parse_rule(rule), MODEL, entity, now=NOW, dialect=dialect)


def f(path: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": path, "op": op, "value": value}


# --- validation comes first --------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "entity", "path"),
    [
        ({"all": [f("nope", "eq", 1)]}, "customer", "all[0].field"),
        ({"any": [f("name", "eq", "x"), f("age", "contains", "x")]}, "customer", "any[1].op"),
        (f("age", "eq", "old"), "customer", "value"),
        ({"not": f("hotel.city", "eq", "x")}, "customer", "not.field"),
        ({"link": "bokings"}, "customer", "link"),
        ({"link": "bookings", "where": f("nights", "gt", "x")}, "customer", "where.value"),
        (
            {"link": "bookings", "aggregate": {"fn": "sum", "field": "status", "op": "gt",
                                               "value": 1}},
            "customer",
            "aggregate.field",
        ),
        ({"history": {"channel": "email"}}, "booking", "history"),
    ],
)  # fmt: skip
def test_invalid_rules_raise_rule_error_with_the_json_path(
    rule: dict[str, Any], entity: str, path: str
) -> None:
    with pytest.raises(RuleError) as info:
        compile_audience(parse_rule(rule), MODEL, entity, now=NOW, dialect="duckdb")
    assert path in [p for p, _ in info.value.problems]


def test_unknown_entity_and_dialect() -> None:
    rule = parse_rule(f("age", "gt", 1))
    with pytest.raises(CantataError, match=r"unknown entity 'custmer'.*'customer'"):
        compile_audience(rule, MODEL, "custmer", now=NOW, dialect="duckdb")
    with pytest.raises(ValueError, match="unknown SQL dialect"):
        compile_audience(rule, MODEL, "customer", now=NOW, dialect="mysql")


# --- the statement -------------------------------------------------------------------------


def test_select_projects_the_key_and_count_counts() -> None:
    select = compile_audience(parse_rule(f("age", "gt", 1)), MODEL, "customer", now=NOW,
                              dialect="duckdb")  # fmt: skip
    assert [p.sql() for p in select.expressions] == ['"customer"."customer_id"']
    counted = count_sql(parse_rule(f("age", "gt", 1)), MODEL, "customer", now=NOW,
                        dialect="postgres")  # fmt: skip
    assert counted.startswith("SELECT COUNT(*) FROM")


def test_true_rule_has_no_where() -> None:
    assert "WHERE" not in sql({"all": []})
    assert sql({"any": []}).endswith("WHERE FALSE")


def test_pretty_output() -> None:
    text = audience_sql(parse_rule(f("age", "gt", 1)), MODEL, "customer", now=NOW,
                        dialect="postgres", pretty=True)  # fmt: skip
    assert text.splitlines()[0] == "SELECT"


# --- literals --------------------------------------------------------------------------------

HOSTILE = [
    "it's",
    "'; drop table x; --",
    "back\\slash\\",
    '"double"',
    "😀 \u200fשלום e\u0301",
    "line\nbreak\ttab",
    "x" * 10_000,
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_values_are_quoted_literals(dialect: str, value: str) -> None:
    rule = {"any": [f("name", "eq", value), f("name", "in", ["a", value])]}
    parsed = sqlglot.parse_one(sql(rule, dialect), read=dialect)
    literals = [lit.this for lit in parsed.find_all(exp.Literal) if lit.is_string]
    assert literals.count(value) == 2
    assert len(list(parsed.find_all(exp.Select))) == 1  # nothing smuggled in


def test_values_take_the_field_type() -> None:
    text = sql(
        {
            "all": [
                f("score", "lt", 0.1),
                f("balance", "gt", 1e-7),
                f("balance", "lt", 1234.5678),
                f("age", "gt", -5),
                f("signup_at", "gte", {"ago": "2d"}),
                f("signup_at", "lt", "2026-03-01T13:00:00+01:00"),
            ]
        }
    )
    assert "\"score\" < CAST('0.1' AS DOUBLE)" in text  # the exact double, parsed
    assert '"balance" > 0.0000001' in text  # an exact decimal, never exponent notation
    assert '"balance" < 1234.5678' in text
    assert '"age" > -5' in text
    assert "CAST('2026-02-27 12:00:00' AS TIMESTAMP)" in text  # resolved against now
    assert "CAST('2026-03-01 12:00:00' AS TIMESTAMP)" in text  # converted to naive UTC


# --- operators per dialect -----------------------------------------------------------------


def test_negation_is_two_valued_without_coalesce() -> None:
    text = sql({"not": f("age", "gt", 30)})
    assert text.endswith('WHERE "customer"."age" IS NULL OR "customer"."age" <= 30')
    assert "COALESCE" not in sql({"not": {"all": [f("age", "gt", 30), f("name", "ne", "x")]}})
    # the key is never null
    assert sql({"not": f("customer_id", "eq", 1)}).endswith('"customer"."customer_id" <> 1')


def test_postgres_orders_strings_by_code_point() -> None:
    assert '"name" COLLATE "C" < \'b\'' in sql(f("name", "lt", "b"), "postgres")
    assert 'COLLATE "C" BETWEEN' in sql(f("name", "between", ["a", "b"]), "postgres")
    assert "COLLATE" not in sql(f("name", "eq", "b"), "postgres")
    assert "COLLATE" not in sql(f("name", "lt", "b"), "duckdb")
    agg = {"link": "bookings", "aggregate": {"fn": "min", "field": "status", "op": "lt",
                                             "value": "b"}}  # fmt: skip
    assert 'MIN("bookings"."status" COLLATE "C") < \'b\'' in sql(agg, "postgres")


@pytest.mark.parametrize(
    ("op", "value", "dialect", "expected"),
    [
        ("contains", "5%_\\", "postgres", "LIKE '%5\\%\\_\\\\%' ESCAPE '\\'"),
        ("starts_with", "a_", "postgres", "LIKE 'a\\_%' ESCAPE '\\'"),
        ("ends_with", "%", "postgres", "LIKE '%\\%' ESCAPE '\\'"),
        ("like", "a\\%", "postgres", "LIKE 'a\\%' ESCAPE ''"),
        ("contains", "5%_", "duckdb", 'CONTAINS("customer"."name", \'5%_\')'),
        ("starts_with", "a_", "duckdb", 'STARTS_WITH("customer"."name", \'a_\')'),
        ("ends_with", "%", "duckdb", 'ENDS_WITH("customer"."name", \'%\')'),
        ("like", "a\\%", "duckdb", '"customer"."name" LIKE \'a\\%\''),
        ("contains", "%", "spark", "CONTAINS(`customer`.`name`, '%')"),
        ("like", "a\\%", "spark", "`customer`.`name` LIKE 'a\\\\\\\\%'"),
    ],
)
def test_text_ops_have_no_wildcards_and_like_no_escape(
    op: str, value: str, dialect: str, expected: str
) -> None:
    assert expected in sql(f("name", op, value), dialect)


def test_one_join_per_path_per_scope() -> None:
    rule = {"all": [f("hotel.city", "eq", "Paris"), {"not": f("hotel.stars", "gte", 5)}]}
    assert sql(rule, entity="booking").count("JOIN") == 1


# --- set conditions: the form depends on position and planner --------------------------------

COUNT_GTE_2 = {"link": "bookings", "count": {"op": "gte", "value": 2}}
UNDER_OR = {"any": [f("age", "lt", 30), COUNT_GTE_2]}


def _forms(text: str, dialect: str) -> set[str]:
    forms = set()
    tree = sqlglot.parse_one(text, read=dialect)
    for node in tree.find_all(exp.In):
        if node.args.get("query") is not None:
            forms.add("not in" if isinstance(node.parent, exp.Not) else "in")
    if list(tree.find_all(exp.Exists)):
        forms.add("not exists")
    if any(isinstance(j.this, exp.Subquery) for j in tree.find_all(exp.Join)):
        forms.add("left join set")
    if list(tree.find_all(exp.Group)):
        forms.add("group by")
    return forms


@pytest.mark.parametrize(
    ("rule", "dialect", "forms"),
    [
        ({"link": "bookings"}, "postgres", {"in"}),
        ({"not": {"link": "bookings"}}, "postgres", {"not exists"}),
        (COUNT_GTE_2, "postgres", {"in", "group by"}),
        ({"link": "bookings", "count": {"op": "lt", "value": 2}}, "postgres",
         {"not exists", "group by"}),
        ({"link": "bookings", "count": {"op": "gt", "value": 0}}, "postgres", {"in"}),
        ({"link": "bookings", "count": {"op": "eq", "value": 0}}, "postgres", {"not exists"}),
        ({"not": {"link": "bookings", "count": {"op": "gte", "value": 1}}}, "postgres",
         {"not exists"}),
        (UNDER_OR, "postgres", {"left join set", "group by"}),
        (UNDER_OR, "duckdb", {"in", "group by"}),
        (UNDER_OR, "spark", {"in", "group by"}),
        ({"not": {"link": "bookings"}}, "duckdb", {"not in"}),
        ({"link": "bookings", "count": {"op": "lt", "value": 2}}, "duckdb", {"not in", "group by"}),
        ({"any": [f("age", "lt", 1), {"not": {"history": {}}}]}, "duckdb", {"not in"}),
        ({"not": {"link": "bookings"}}, "spark", {"not exists"}),
        ({"any": [{"audience": "a"}]}, "postgres", {"in"}),  # OR of one is conjunctive
        ({"any": [{"audience": "a"}, {"history": {}}]}, "postgres", {"left join set"}),
        ({"not": {"any": [{"audience": "a"}, {"history": {}}]}}, "postgres", {"not exists"}),
    ],
)  # fmt: skip
def test_set_forms(rule: dict[str, Any], dialect: str, forms: set[str]) -> None:
    assert _forms(sql(rule, dialect), dialect) == forms


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "rule",
    [
        {"link": "bookings"},
        COUNT_GTE_2,
        {"link": "bookings", "aggregate": {"fn": "avg", "field": "nights", "op": "gt",
                                           "value": 1}},
        {"audience": "a"},
        {"history": {}},
        UNDER_OR,
    ],
)  # fmt: skip
def test_not_in_only_over_sets_without_nulls(dialect: str, rule: dict[str, Any]) -> None:
    """NOT IN over a subquery is unknown for every row once the set holds a NULL."""
    for variant in (rule, {"not": rule}, {"any": [f("age", "lt", 1), {"not": rule}]}):
        tree = sqlglot.parse_one(sql(variant, dialect), read=dialect)
        for node in tree.find_all(exp.In):
            query = node.args.get("query")
            if query is None or not isinstance(node.parent, exp.Not):
                continue
            assert dialect == "duckdb"
            select = query.this
            column = select.expressions[0]
            where = select.args["where"].this
            guards = [
                n for n in where.find_all(exp.Not)
                if isinstance(n.this, exp.Is) and n.this.this == column
            ]  # fmt: skip
            assert guards, select.sql(dialect)


def test_aggregates_over_no_rows() -> None:
    def compiled(fn: str, op: str, value: int, negate: bool = False) -> str:
        test = {"fn": fn, "field": "nights", "op": op, "value": value}
        rule: dict[str, Any] = {"link": "bookings", "aggregate": test}
        return sql({"not": rule} if negate else rule)

    # sum is 0 over no rows: `sum lt 5` holds there, so it is "not in the set of sum >= 5"
    assert _forms(compiled("sum", "lt", 5), "duckdb") == {"not in", "group by"}
    assert 'HAVING SUM("bookings"."nights") >= 5' in compiled("sum", "lt", 5)
    # avg is null over no rows: false, and its negation true
    assert _forms(compiled("avg", "gt", 5), "duckdb") == {"in", "group by"}
    assert 'HAVING CAST(AVG("bookings"."nights") AS DOUBLE) > 5' in compiled("avg", "gt", 5)
    assert _forms(compiled("avg", "gt", 5, negate=True), "duckdb") == {"not in", "group by"}
