"""Golden files of the Spark SQL the compiler generates (Spark is not executed in tests).

A changed golden file is a reviewable diff of the generated SQL. To accept the new output:
    CANTATA_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_compile_golden.py
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cantata.audience.compile import audience_sql
from cantata.audience.rules import parse_rule
from cantata.model import parse_model

GOLDEN = Path(__file__).parent.parent / "golden" / "spark"
NOW = datetime(2026, 3, 1, 12)

MODEL = parse_model(
    """\
entities:
  customer:
    key: customer_id
    recipient: true
    fields: {customer_id: integer, name: string, country: string, birth_date: date,
             tier: {type: string, values: [basic, silver, gold]}}
  hotel:
    key: hotel_id
    fields: {hotel_id: integer, city: string, stars: integer}
  booking:
    key: booking_id
    fields: {booking_id: integer, customer_id: integer, hotel_id: integer, amount: decimal,
             check_in: date}
    links:
      customer: {to: customer, on: customer_id, reverse: bookings}
      hotel: {to: hotel, on: hotel_id, reverse: bookings}
"""
)

RULES: dict[str, tuple[str, dict[str, Any]]] = {
    "fields": ("customer", {"all": [
        {"field": "country", "op": "in", "value": ["FR", "BE"]},
        {"not": {"field": "tier", "op": "eq", "value": "basic"}},
        {"field": "birth_date", "op": "lt", "value": {"ago": "18y"}},
    ]}),
    "text_ops": ("customer", {"any": [
        {"field": "name", "op": "contains", "value": "50%_off"},
        {"field": "name", "op": "like", "value": "O\\'%"},
        {"not": {"field": "name", "op": "starts_with", "value": "it's"}},
    ]}),
    "dotted_path": ("booking", {"all": [
        {"field": "hotel.city", "op": "eq", "value": "Paris"},
        {"field": "customer.country", "op": "ne", "value": "FR"},
    ]}),
    "link_count": ("customer", {"link": "bookings",
                                "where": {"field": "hotel.stars", "op": "gte", "value": 4},
                                "count": {"op": "lt", "value": 2}}),
    "link_aggregate": ("customer", {"any": [
        {"link": "bookings", "aggregate": {"fn": "sum", "field": "amount", "op": "gt",
                                           "value": 1000}},
        {"not": {"link": "bookings", "where": {"field": "check_in", "op": "gte",
                                               "value": {"ahead": "0d"}}}},
    ]}),
    "audience_history": ("customer", {"all": [
        {"audience": "vips"},
        {"not": {"history": {"channel": "email", "event": "opened", "since": {"ago": "30d"}}}},
    ]}),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(RULES))
def test_spark_sql(name: str) -> None:
    entity, rule = RULES[name]
    text = audience_sql(parse_rule(rule), MODEL, entity, now=NOW, dialect="spark", pretty=True)
    header = f"-- {entity}: {json.dumps(rule, ensure_ascii=False)}\n"
    actual = header + text + "\n"
    path = GOLDEN / f"{name}.sql"
    if os.environ.get("CANTATA_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}: run with CANTATA_UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8")
