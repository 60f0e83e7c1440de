"""Query plans of compiled rules: set conditions must be hash joins, never per-row work.

DuckDB: no nested-loop, piecewise-merge, blockwise or cross-product join in the plan.
PostgreSQL: no SubPlan (a subquery run per outer row, or a hashed one bounded by work_mem):
semi- and anti-joins at conjunctive positions, LEFT JOINs to the distinct set under OR.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from cantata.audience.compile import audience_sql
from cantata.audience.rules import parse_rule
from cantata.model import Model, parse_model
from cantata.store import Store
from cantata.store.schema import apply_model

NOW = datetime(2026, 3, 1, 12)
CUSTOMERS = 20_000
BOOKINGS = 60_000

MODEL = parse_model(
    """\
entities:
  customer:
    key: customer_id
    recipient: true
    fields: {customer_id: integer, country: string, age: integer}
  hotel:
    key: hotel_id
    fields: {hotel_id: integer, stars: integer}
  booking:
    key: booking_id
    fields: {booking_id: integer, customer_id: integer, hotel_id: integer, amount: decimal}
    links:
      customer: {to: customer, on: customer_id, reverse: bookings}
      hotel: {to: hotel, on: hotel_id, reverse: bookings}
  flight:
    key: flight_id
    fields: {flight_id: integer, booking_id: integer, cabin: string}
    links:
      booking: {to: booking, on: booking_id, reverse: flights}
"""
)

COUNT_GTE_2 = {"link": "bookings", "count": {"op": "gte", "value": 2}}
FR = {"field": "country", "op": "eq", "value": "FR"}
RULES: dict[str, dict[str, Any]] = {
    "count gte 2": COUNT_GTE_2,
    "count lt 2": {"link": "bookings", "count": {"op": "lt", "value": 2}},
    "exists where path": {"link": "bookings", "where": {"field": "hotel.stars", "op": "gte",
                                                        "value": 4}},
    "not exists": {"not": {"link": "bookings", "where": {"field": "amount", "op": "gt",
                                                         "value": 500}}},
    "sum": {"link": "bookings", "aggregate": {"fn": "sum", "field": "amount", "op": "lt",
                                              "value": 100}},
    "avg": {"link": "bookings", "aggregate": {"fn": "avg", "field": "amount", "op": "gt",
                                              "value": 100}},
    "nested": {"link": "bookings", "where": {"link": "flights", "where": {
        "field": "cabin", "op": "eq", "value": "business"}}},
    "count under or": {"any": [FR, COUNT_GTE_2]},
    "not count under or": {"any": [FR, {"not": COUNT_GTE_2}]},
    "not exists under or": {"any": [FR, {"not": {"link": "bookings"}}]},
    "audience": {"audience": "vips"},
    "history": {"not": {"history": {"channel": "email", "since": {"ago": "30d"}}}},
    "sets under or": {"any": [{"audience": "vips"}, {"not": {"history": {}}},
                              {"field": "age", "op": "lt", "value": 30}]},
}  # fmt: skip

NESTED_LOOPS = re.compile(r"nested.?loop|piecewise|blockwise|cross.?product", re.IGNORECASE)

DATA = {
    "duckdb": [
        "INSERT INTO customer SELECT i, 'C' || (i % 50), 18 + i % 60 FROM range({c}) t(i)",
        "INSERT INTO hotel SELECT i, 1 + i % 5 FROM range(500) t(i)",
        "INSERT INTO booking SELECT i, CASE WHEN i % 97 = 0 THEN NULL ELSE (i * 7) % {c} END,"
        " i % 500, (i % 1000)::DECIMAL(18,4) FROM range({b}) t(i)",
        "INSERT INTO flight SELECT i, i % {b}, CASE WHEN i % 5 = 0 THEN 'business' ELSE 'eco' END"
        " FROM range({b}) t(i)",
        "INSERT INTO cantata_audience_member SELECT 'vips', 1, CAST(i * 3 AS VARCHAR)"
        " FROM range({c}) t(i)",
        'INSERT INTO cantata_history (message_id, recipient, channel, event, "at")'
        " SELECT 'm' || i, CAST(i % {c} AS VARCHAR), 'email', 'sent',"
        " TIMESTAMP '2026-01-01' + INTERVAL (i % 90) DAY FROM range({b}) t(i)",
    ],
    "postgres": [
        "INSERT INTO customer SELECT i, 'C' || (i % 50), 18 + i % 60"
        " FROM generate_series(0, {c} - 1) i",
        "INSERT INTO hotel SELECT i, 1 + i % 5 FROM generate_series(0, 499) i",
        "INSERT INTO booking SELECT i, CASE WHEN i % 97 = 0 THEN NULL ELSE (i * 7) % {c} END,"
        " i % 500, (i % 1000)::numeric(18,4) FROM generate_series(0, {b} - 1) i",
        "INSERT INTO flight SELECT i, i % {b}, CASE WHEN i % 5 = 0 THEN 'business' ELSE 'eco'"
        " END FROM generate_series(0, {b} - 1) i",
        "INSERT INTO cantata_audience_member SELECT 'vips', 1, (i * 3)::text"
        " FROM generate_series(0, {c} - 1) i",
        "INSERT INTO cantata_history (message_id, recipient, channel, event, at)"
        " SELECT 'm' || i, (i % {c})::text, 'email', 'sent',"
        " TIMESTAMP '2026-01-01' + (i % 90) * INTERVAL '1 day' FROM generate_series(0, {b} - 1) i",
        "ANALYZE",
    ],
}


def _load(store: Store, model: Model) -> None:
    apply_model(store, model)
    store.execute(
        "INSERT INTO cantata_audience VALUES ('vips', 1, 'customer', 0, '{}', 'replace', %s)",
        [NOW],
    )
    for statement in DATA[store.dialect]:
        store.execute(statement.format(c=CUSTOMERS, b=BOOKINGS))


def _plan(store: Store, sql: str) -> str:
    rows = store.fetchall("EXPLAIN " + sql)
    return "\n".join(str(row[-1]) for row in rows)


def test_set_conditions_are_hash_joins(store: Store) -> None:
    _load(store, MODEL)
    for name, rule in RULES.items():
        sql = audience_sql(parse_rule(rule), MODEL, "customer", now=NOW, dialect=store.dialect)
        plan = _plan(store, sql)
        if store.dialect == "duckdb":
            assert not NESTED_LOOPS.search(plan), f"{name}: nested loop in\n{plan}"
            assert re.search(r"hash.?join", plan, re.IGNORECASE), f"{name}: no hash join\n{plan}"
        else:
            assert "SubPlan" not in plan, f"{name}: per-row subquery in\n{plan}"
        assert store.fetchall(sql) is not None
