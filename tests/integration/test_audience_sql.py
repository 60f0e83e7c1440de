"""The SQL compiler, operator by operator, on every engine: each case is a rule and the keys
it must select from a small fixed data set (SPEC "Audience rules" is the contract).

The data set covers string and integer keys, every field type, nulls, a to-many link, to-one
paths two levels deep (and through a one-to-one reverse link), a null and a dangling foreign
key, saved audiences and communication history. Cases only read, so the store is loaded once
per module and engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from cantata.audience.compile import audience_sql, count_sql
from cantata.audience.rules import parse_rule
from cantata.model import Model, parse_model
from cantata.store import Store, open_store
from cantata.store.schema import apply_model
from tests.conftest import ENGINES, drop_schema, store_url

NOW = datetime(2026, 3, 1, 12, 0, 0)

MODEL_YAML = """\
entities:
  customer:
    key: customer_id
    recipient: true
    fields:
      customer_id: string
      name: string
      country: string
      age: integer
      score: float
      balance: decimal
      vip: boolean
      birth_date: date
      signup_at: timestamp
      tier: {type: string, values: [basic, silver, gold]}
  loyalty:
    key: loyalty_id
    fields: {loyalty_id: integer, customer_id: string, points: integer}
    links:
      customer: {to: customer, on: customer_id, reverse: loyalty, one_to_one: true}
  chain:
    key: chain_id
    fields: {chain_id: integer, name: string, country: string}
  hotel:
    key: hotel_id
    fields: {hotel_id: integer, city: string, stars: integer, chain_id: integer}
    links:
      chain: {to: chain, on: chain_id, reverse: hotels}
  booking:
    key: booking_id
    fields:
      booking_id: integer
      customer_id: string
      hotel_id: integer
      amount: decimal
      nights: integer
      check_in: date
      status: string
    links:
      customer: {to: customer, on: customer_id, reverse: bookings}
      hotel: {to: hotel, on: hotel_id, reverse: bookings}
  flight:
    key: flight_id
    fields: {flight_id: integer, booking_id: integer, cabin: string, fare: float}
    links:
      booking: {to: booking, on: booking_id, reverse: flights}
  note:
    key: note_id
    fields: {note_id: integer, text: string}
"""

OH = "o'hara"  # a key that needs quoting
D = Decimal
CUSTOMERS = [
    # key, name, country, age, score, balance, vip, birth_date, signup_at, tier
    ("c1", "Ann", "FR", 30, 1.5, D("100.5"), True, date(1990, 5, 1), datetime(2026, 1, 10, 8), "gold"),
    ("c2", "Bob", "DE", 45, 2.25, D("0"), False, date(1980, 12, 31),
     datetime(2026, 2, 27, 23, 59, 59), "silver"),
    ("c3", None, None, None, None, None, None, None, None, None),
    ("c4", "Émile", "fr", 18, -0.5, D("99999.9999"), True, date(2000, 2, 29),
     datetime(2026, 3, 1), "basic"),
    (OH, "O'Hara", "US", 61, 1e10, D("12.3456"), False, date(1965, 3, 1),
     datetime(2025, 12, 31, 23), "gold"),
    ("c6", "Zoë", "FR", None, None, None, None, date(1996, 3, 1), NOW, None),
]  # fmt: skip
LOYALTY = [(1, "c1", 500), (2, "c2", None), (3, "ghost", 10)]
CHAINS = [(1, "Accor", "FR"), (2, "Motel One", "DE")]
HOTELS = [(10, "Paris", 5, 1), (20, "Berlin", 3, 2), (30, "nice", None, None), (40, "Rome", 4, 99)]
BOOKINGS = [
    # key, customer, hotel, amount, nights, check_in, status
    (1, "c1", 10, D("100"), 2, date(2026, 3, 5), "confirmed"),
    (2, "c1", 20, D("250.5"), 5, date(2026, 4, 1), "confirmed"),
    (3, "c1", None, None, 1, date(2026, 1, 15), "cancelled"),  # null FK
    (4, "c2", 10, D("80"), 3, date(2026, 2, 10), "confirmed"),
    (5, "c2", 999, D("20"), 1, date(2026, 3, 2), "completed"),  # dangling hotel
    (6, "c4", 30, None, None, None, "cancelled"),
    (7, "ghost", 10, D("500"), 7, date(2026, 5, 1), "confirmed"),  # dangling customer
    (8, None, 20, D("10"), 1, date(2026, 3, 10), "confirmed"),  # null customer
    (9, OH, 40, D("1000"), 10, date(2026, 6, 1), "confirmed"),
]
FLIGHTS = [
    (100, 1, "business", 900.0),
    (101, 1, "economy", 100.0),
    (102, 4, "economy", 50.5),
    (103, None, "first", 2000.0),
    (104, 77, "economy", 10.0),  # dangling booking
    (105, 9, None, None),
]
NOTES = {
    1: "50% off",
    2: "50_off",
    3: "5000 off",
    4: "back\\slash",
    5: "trailing\\",
    6: "it's",
    7: "'; drop table x; --",
    8: "😀 party",
    9: "\u200fשלום",  # right-to-left mark + Hebrew
    10: "e\u0301",  # e + combining acute
    11: "é",  # precomposed
    12: "x" * 10_000,
    13: "line\nbreak",
    14: None,
    15: "Zebra",
    16: "apple",
    17: "50\\%",
    18: '"double" quotes',
    19: "",
}
AUDIENCES = [("vips", 1, "customer"), ("vips", 2, "customer"), ("top_hotels", 1, "hotel"),
             ("o'hara's", 1, "customer")]  # fmt: skip
MEMBERS = [("vips", 1, "c1"), ("vips", 1, "c2"), ("vips", 2, "c2"), ("vips", 2, OH),
           ("top_hotels", 1, "10"), ("top_hotels", 1, "40"), ("o'hara's", 1, OH)]  # fmt: skip
HISTORY = [
    # message, campaign, recipient, channel, event, at
    ("m1", "spring", "c1", "email", "sent", datetime(2026, 2, 28, 10)),
    ("m1", "spring", "c1", "email", "opened", datetime(2026, 2, 28, 11)),
    ("m2", "winter", "c2", "sms", "sent", datetime(2026, 1, 1, 9)),
    ("m3", "spring", "c4", "email", "bounced", datetime(2026, 2, 20)),
    ("m4", "spring", "ghost", "email", "sent", datetime(2026, 2, 28, 10)),
    ("m5", "it's", OH, "push", "clicked", NOW),
]

TABLES: dict[str, list[tuple[Any, ...]]] = {
    "customer": CUSTOMERS,
    "loyalty": LOYALTY,
    "chain": CHAINS,
    "hotel": HOTELS,
    "booking": BOOKINGS,
    "flight": FLIGHTS,
    "note": list(NOTES.items()),
}


@pytest.fixture(scope="module")
def model() -> Model:
    return parse_model(MODEL_YAML)


def _load(store: Store, model: Model) -> None:
    apply_model(store, model)
    for table, rows in TABLES.items():
        marks = ", ".join(["%s"] * len(rows[0]))
        for row in rows:
            store.execute(f'INSERT INTO "{table}" VALUES ({marks})', list(row))
    for name, version, entity in AUDIENCES:
        store.execute(
            "INSERT INTO cantata_audience (name, version, entity, size, source, mode, created_at)"
            " VALUES (%s, %s, %s, 0, '{}', 'replace', %s)",
            [name, version, entity, NOW],
        )
    for row in MEMBERS:
        store.execute("INSERT INTO cantata_audience_member VALUES (%s, %s, %s)", list(row))
    for message, campaign, recipient, channel, event, at in HISTORY:
        store.execute(
            'INSERT INTO cantata_history (message_id, campaign, recipient, channel, event, "at")'
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [message, campaign, recipient, channel, event, at],
        )
    if store.dialect == "postgres":
        # A linguistic column collation: string order must still be by code point.
        for table, column in (("customer", "name"), ("note", "text"), ("hotel", "city")):
            store.execute(
                f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE text COLLATE "en-x-icu"'
            )


@pytest.fixture(scope="module", params=ENGINES)
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model: Model
) -> Iterator[Store]:
    """The conftest `store` fixture, loaded once per module: the cases only read."""
    url, schema = store_url(str(request.param), tmp_path_factory.mktemp("audience_sql"))
    store = open_store(url)
    try:
        _load(store, model)
        yield store
    finally:
        store.close()
        if schema:
            drop_schema(schema)


def select_keys(store: Store, model: Model, entity: str, rule: dict[str, Any]) -> set[Any]:
    parsed = parse_rule(rule)
    sql = audience_sql(parsed, model, entity, now=NOW, dialect=store.dialect)
    rows = store.fetchall(sql)
    assert len(rows) == len({r[0] for r in rows}), f"duplicate keys from {sql}"
    count = store.scalar(count_sql(parsed, model, entity, now=NOW, dialect=store.dialect))
    assert count == len(rows)
    return {r[0] for r in rows}


# --- the cases -----------------------------------------------------------------------------

ALL = {"c1", "c2", "c3", "c4", OH, "c6"}
ALL_BOOKINGS = set(range(1, 10))


def f(path: str, op: str, value: Any = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"field": path, "op": op}
    if op not in ("is_null", "not_null"):
        rule["value"] = value
    return rule


def no(rule: dict[str, Any]) -> dict[str, Any]:
    return {"not": rule}


Case = tuple[str, str, dict[str, Any], set[Any]]  # id, entity, rule, expected keys

FIELD_CASES: list[Case] = [
    # eq / ne: ne and not-eq hold for null fields
    ("eq", "customer", f("country", "eq", "FR"), {"c1", "c6"}),
    ("eq case-sensitive", "customer", f("country", "eq", "fr"), {"c4"}),
    ("not eq", "customer", no(f("country", "eq", "FR")), {"c2", "c3", "c4", OH}),
    ("ne includes null", "customer", f("country", "ne", "FR"), {"c2", "c3", "c4", OH}),
    ("not ne", "customer", no(f("country", "ne", "FR")), {"c1", "c6"}),
    ("not not", "customer", no(no(f("country", "eq", "FR"))), {"c1", "c6"}),
    # ordering: a null field compares false, its negation true
    ("lt", "customer", f("age", "lt", 30), {"c4"}),
    ("lte", "customer", f("age", "lte", 30), {"c1", "c4"}),
    ("gt", "customer", f("age", "gt", 45), {OH}),
    ("gte", "customer", f("age", "gte", 45), {"c2", OH}),
    ("not lt", "customer", no(f("age", "lt", 30)), {"c1", "c2", "c3", OH, "c6"}),
    ("not gte", "customer", no(f("age", "gte", 45)), {"c1", "c3", "c4", "c6"}),
    # float, decimal, boolean
    ("float gt", "customer", f("score", "gt", 1.5), {"c2", OH}),
    ("float lte", "customer", f("score", "lte", 1.5), {"c1", "c4"}),
    ("float eq", "customer", f("score", "eq", 2.25), {"c2"}),
    ("float vs int", "customer", f("score", "lt", 0), {"c4"}),
    ("decimal eq", "customer", f("balance", "eq", 100.5), {"c1"}),
    ("decimal eq 4 places", "customer", f("balance", "eq", 12.3456), {OH}),
    ("decimal gt", "customer", f("balance", "gt", 99999.9998), {"c4"}),
    ("decimal lt", "customer", f("balance", "lt", 0.0001), {"c2"}),
    ("decimal between", "customer", f("balance", "between", [0, 100.5]), {"c1", "c2", OH}),
    ("bool eq true", "customer", f("vip", "eq", True), {"c1", "c4"}),
    ("bool eq false", "customer", f("vip", "eq", False), {"c2", OH}),
    ("bool ne true", "customer", f("vip", "ne", True), {"c2", "c3", OH, "c6"}),
    ("bool in", "customer", f("vip", "in", [True, False]), {"c1", "c2", "c4", OH}),
    ("bool not_in", "customer", f("vip", "not_in", [True]), {"c2", "c3", OH, "c6"}),
    # in / not_in
    ("in", "customer", f("country", "in", ["FR", "DE"]), {"c1", "c2", "c6"}),
    ("not_in includes null", "customer", f("country", "not_in", ["FR", "DE"]), {"c3", "c4", OH}),
    ("not in", "customer", no(f("country", "in", ["FR", "DE"])), {"c3", "c4", OH}),
    ("not not_in", "customer", no(f("country", "not_in", ["FR", "DE"])), {"c1", "c2", "c6"}),
    ("in values list", "customer", f("tier", "in", ["gold"]), {"c1", OH}),
    # between: inclusive, empty when lo > hi
    ("between", "customer", f("age", "between", [18, 45]), {"c1", "c2", "c4"}),
    ("between point", "customer", f("age", "between", [30, 30]), {"c1"}),
    ("between lo > hi", "customer", f("age", "between", [45, 18]), set()),
    ("not between lo > hi", "customer", no(f("age", "between", [45, 18])), ALL),
    ("not between", "customer", no(f("age", "between", [18, 45])), {"c3", OH, "c6"}),
    # null tests
    ("is_null", "customer", f("age", "is_null"), {"c3", "c6"}),
    ("not_null", "customer", f("age", "not_null"), {"c1", "c2", "c4", OH}),
    ("not is_null", "customer", no(f("age", "is_null")), {"c1", "c2", "c4", OH}),
    ("not not_null", "customer", no(f("age", "not_null")), {"c3", "c6"}),
    # strings order by code point (É > Z), whatever the column collation
    ("string lt", "customer", f("name", "lt", "B"), {"c1"}),
    ("string gt", "customer", f("name", "gt", "Z"), {"c4", "c6"}),
    ("string between", "customer", f("name", "between", ["A", "Zz"]), {"c1", "c2", OH, "c6"}),
    ("not string gt", "customer", no(f("name", "gt", "Z")), {"c1", "c2", "c3", OH}),
    # text ops: literal and case-sensitive
    ("contains", "customer", f("name", "contains", "o"), {"c2", "c6"}),
    ("not_contains includes null", "customer", f("name", "not_contains", "o"),
     {"c1", "c3", "c4", OH}),
    ("not contains", "customer", no(f("name", "contains", "o")), {"c1", "c3", "c4", OH}),
    ("contains empty", "customer", f("name", "contains", ""), ALL - {"c3"}),
    ("starts_with", "customer", f("name", "starts_with", "O'"), {OH}),
    ("not starts_with", "customer", no(f("name", "starts_with", "O'")), ALL - {OH}),
    ("ends_with", "customer", f("name", "ends_with", "e"), {"c4"}),
    ("ends_with non-ascii", "customer", f("name", "ends_with", "ë"), {"c6"}),
    ("like", "customer", f("name", "like", "_o%"), {"c2", "c6"}),
    ("like quote", "customer", f("name", "like", "%'%"), {OH}),
    ("not like", "customer", no(f("name", "like", "%a%")), ALL - {OH}),
    # the key (never null)
    ("key eq", "customer", f("customer_id", "eq", OH), {OH}),
    ("key ne", "customer", f("customer_id", "ne", "c1"), ALL - {"c1"}),
    ("key in", "customer", f("customer_id", "in", ["c1", "ghost"]), {"c1"}),
    ("int key lt", "booking", f("booking_id", "lt", 3), {1, 2}),
    ("not int key lt", "booking", no(f("booking_id", "lt", 3)), ALL_BOOKINGS - {1, 2}),
    # dates and timestamps, absolute and relative to NOW (2026-03-01 12:00 UTC)
    ("date lt", "customer", f("birth_date", "lt", "1990-05-01"), {"c2", OH}),
    ("date eq", "customer", f("birth_date", "eq", "2000-02-29"), {"c4"}),
    ("date ago", "customer", f("birth_date", "gte", {"ago": "30y"}), {"c4", "c6"}),
    ("not date ago", "customer", no(f("birth_date", "gte", {"ago": "30y"})),
     {"c1", "c2", "c3", OH}),
    ("date ahead", "booking", f("check_in", "between", ["2026-03-01", {"ahead": "1w"}]), {1, 5}),
    ("timestamp ago", "customer", f("signup_at", "gte", {"ago": "2d"}), {"c2", "c4", "c6"}),
    ("timestamp ago lt", "customer", f("signup_at", "lt", {"ago": "2d"}), {"c1", OH}),
    ("not timestamp ago", "customer", no(f("signup_at", "gte", {"ago": "2d"})),
     {"c1", "c3", OH}),
    ("timestamp months", "customer", f("signup_at", "gte", {"ago": "2mo"}),
     {"c1", "c2", "c4", "c6"}),
    ("timestamp hours", "customer", f("signup_at", "gt", {"ago": "12h"}), {"c6"}),
    ("timestamp ahead", "customer", f("signup_at", "lt", {"ahead": "1h"}), ALL - {"c3"}),
    ("timestamp eq Z", "customer", f("signup_at", "eq", "2026-03-01T12:00:00Z"), {"c6"}),
    ("timestamp eq offset", "customer", f("signup_at", "eq", "2026-03-01T13:00:00+01:00"),
     {"c6"}),
    ("timestamp between", "customer",
     f("signup_at", "between", ["2026-01-01", "2026-02-28T00:00:00"]), {"c1", "c2"}),
]  # fmt: skip

LOGIC_CASES: list[Case] = [
    ("all empty", "customer", {"all": []}, ALL),
    ("any empty", "customer", {"any": []}, set()),
    ("not all empty", "customer", no({"all": []}), set()),
    ("not any empty", "customer", no({"any": []}), ALL),
    ("all", "customer", {"all": [f("country", "eq", "FR"), f("vip", "eq", True)]}, {"c1"}),
    ("any", "customer", {"any": [f("country", "eq", "DE"), f("age", "gt", 60)]}, {"c2", OH}),
    ("not all", "customer", no({"all": [f("country", "eq", "FR"), f("vip", "eq", True)]}),
     ALL - {"c1"}),
    ("not any", "customer", no({"any": [f("country", "eq", "FR"), f("age", "is_null")]}),
     {"c2", "c4", OH}),
    ("any of one", "customer", {"any": [f("country", "eq", "FR")]}, {"c1", "c6"}),
    ("nested", "customer",
     {"any": [{"all": [f("country", "eq", "FR"), no(f("age", "gte", 18))]},
              {"all": [f("vip", "eq", False), f("age", "gt", 50)]}]},
     {"c6", OH}),
    ("not nested", "customer",
     no({"any": [{"all": [f("country", "eq", "FR"), no(f("age", "gte", 18))]},
                 {"all": [f("vip", "eq", False), f("age", "gt", 50)]}]}),
     {"c1", "c2", "c3", "c4"}),
]  # fmt: skip

PATH_CASES: list[Case] = [
    ("to-one", "booking", f("hotel.city", "eq", "Paris"), {1, 4, 7}),
    ("to-one ne: null and dangling FKs", "booking", f("hotel.city", "ne", "Paris"),
     {2, 3, 5, 6, 8, 9}),
    ("to-one is_null", "booking", f("hotel.city", "is_null"), {3, 5}),
    ("to-one not", "booking", no(f("hotel.stars", "gte", 4)), {2, 3, 5, 6, 8}),
    ("two levels", "booking", f("hotel.chain.name", "eq", "Accor"), {1, 4, 7}),
    ("two levels is_null", "booking", f("hotel.chain.name", "is_null"), {3, 5, 6, 9}),
    ("not two levels", "booking", no(f("hotel.chain.country", "eq", "FR")), {2, 3, 5, 6, 8, 9}),
    ("dangling customer", "booking", f("customer.country", "is_null"), {7, 8}),
    ("same path twice", "booking",
     {"all": [f("hotel.city", "eq", "Paris"), f("hotel.stars", "gte", 5)]}, {1, 4, 7}),
    ("paths under or", "booking",
     {"any": [f("hotel.stars", "lt", 4), f("customer.tier", "eq", "gold")]}, {1, 2, 3, 8, 9}),
    ("three levels from flight", "flight", f("booking.customer.country", "eq", "FR"), {100, 101}),
    ("three levels is_null", "flight", f("booking.customer.name", "is_null"), {103, 104}),
    ("hotel chain from flight", "flight", f("booking.hotel.chain.name", "eq", "Accor"),
     {100, 101, 102}),
    ("one-to-one reverse", "customer", f("loyalty.points", "gte", 100), {"c1"}),
    ("one-to-one reverse null", "customer", f("loyalty.points", "is_null"), ALL - {"c1"}),
]  # fmt: skip


def bookings(**parts: Any) -> dict[str, Any]:
    return {"link": "bookings", **parts}


def agg(fn: str, field: str | None, op: str, value: Any) -> dict[str, Any]:
    out = {"fn": fn, "op": op, "value": value}
    if field is not None:
        out["field"] = field
    return out


CONFIRMED = f("status", "eq", "confirmed")
LINK_CASES: list[Case] = [
    # at least one related row (c1: bookings 1-3, c2: 4-5, c4: 6, o'hara: 9; c3, c6: none)
    ("exists", "customer", bookings(), {"c1", "c2", "c4", OH}),
    ("not exists", "customer", no(bookings()), {"c3", "c6"}),
    ("exists where", "customer", bookings(where=f("status", "eq", "cancelled")), {"c1", "c4"}),
    ("not exists where", "customer", no(bookings(where=f("status", "eq", "cancelled"))),
     {"c2", "c3", OH, "c6"}),
    ("where path", "customer", bookings(where=f("hotel.city", "eq", "Paris")), {"c1", "c2"}),
    ("where path two levels", "customer", bookings(where=f("hotel.chain.country", "eq", "FR")),
     {"c1", "c2"}),
    ("where path null", "customer", bookings(where=f("hotel.city", "is_null")), {"c1", "c2"}),
    ("where same row", "customer",
     bookings(where={"all": [f("hotel.stars", "gte", 4), f("nights", "gte", 5)]}), {OH}),
    ("where any", "customer",
     bookings(where={"any": [f("hotel.stars", "gte", 5), f("amount", "gt", 900)]}),
     {"c1", "c2", OH}),
    # count: zero related rows count as 0
    ("count gte 2", "customer", bookings(count={"op": "gte", "value": 2}), {"c1", "c2"}),
    ("count lt 2", "customer", bookings(count={"op": "lt", "value": 2}), {"c3", "c4", OH, "c6"}),
    ("count eq 0", "customer", bookings(count={"op": "eq", "value": 0}), {"c3", "c6"}),
    ("count eq 1", "customer", bookings(count={"op": "eq", "value": 1}), {"c4", OH}),
    ("count ne 1", "customer", bookings(count={"op": "ne", "value": 1}), {"c1", "c2", "c3", "c6"}),
    ("count gt 0", "customer", bookings(count={"op": "gt", "value": 0}), {"c1", "c2", "c4", OH}),
    ("count lte 3", "customer", bookings(count={"op": "lte", "value": 3}), ALL),
    ("count between", "customer", bookings(count={"op": "between", "value": [1, 2]}),
     {"c2", "c4", OH}),
    ("count between from 0", "customer", bookings(count={"op": "between", "value": [0, 1]}),
     {"c3", "c4", OH, "c6"}),
    ("count between empty", "customer", bookings(count={"op": "between", "value": [2, 1]}),
     set()),
    ("not count gte 2", "customer", no(bookings(count={"op": "gte", "value": 2})),
     {"c3", "c4", OH, "c6"}),
    ("not count eq 0", "customer", no(bookings(count={"op": "eq", "value": 0})),
     {"c1", "c2", "c4", OH}),
    ("not count between empty", "customer",
     no(bookings(count={"op": "between", "value": [2, 1]})), ALL),
    ("count where gte 2", "customer", bookings(where=CONFIRMED, count={"op": "gte", "value": 2}),
     {"c1"}),
    ("count where eq 0", "customer", bookings(where=CONFIRMED, count={"op": "eq", "value": 0}),
     {"c3", "c4", "c6"}),
    ("count where lt 1", "customer", bookings(where=CONFIRMED, count={"op": "lt", "value": 1}),
     {"c3", "c4", "c6"}),
    ("aggregate count", "customer",
     bookings(where=f("hotel.city", "not_null"), aggregate=agg("count", None, "gte", 2)), {"c1"}),
    # sum: of non-null values, 0 over no rows (or only nulls)
    ("sum gt", "customer", bookings(aggregate=agg("sum", "amount", "gt", 300)), {"c1", OH}),
    ("sum eq", "customer", bookings(aggregate=agg("sum", "amount", "eq", 350.5)), {"c1"}),
    ("sum lt: zero rows and only nulls", "customer",
     bookings(aggregate=agg("sum", "amount", "lt", 50)), {"c3", "c4", "c6"}),
    ("sum eq 0", "customer", bookings(aggregate=agg("sum", "amount", "eq", 0)),
     {"c3", "c4", "c6"}),
    ("not sum gt", "customer", no(bookings(aggregate=agg("sum", "amount", "gt", 300))),
     {"c2", "c3", "c4", "c6"}),
    ("not sum lt", "customer", no(bookings(aggregate=agg("sum", "amount", "lt", 50))),
     {"c1", "c2", OH}),
    ("sum integer", "customer", bookings(aggregate=agg("sum", "nights", "gte", 10)), {OH}),
    ("sum where", "customer",
     bookings(where=f("status", "eq", "cancelled"), aggregate=agg("sum", "amount", "eq", 0)), ALL),
    # avg / min / max: of non-null values, null over none (comparison false, its not true)
    ("avg gt", "customer", bookings(aggregate=agg("avg", "amount", "gt", 100)), {"c1", OH}),
    ("avg eq", "customer", bookings(aggregate=agg("avg", "amount", "eq", 175.25)), {"c1"}),
    ("avg lte", "customer", bookings(aggregate=agg("avg", "amount", "lte", 100)), {"c2"}),
    ("not avg gt", "customer", no(bookings(aggregate=agg("avg", "amount", "gt", 100))),
     {"c2", "c3", "c4", "c6"}),
    ("avg integer", "customer", bookings(aggregate=agg("avg", "nights", "eq", 2)), {"c2"}),
    ("min lt", "customer", bookings(aggregate=agg("min", "amount", "lt", 50)), {"c2"}),
    ("not min lt", "customer", no(bookings(aggregate=agg("min", "amount", "lt", 50))),
     ALL - {"c2"}),
    ("max gte", "customer", bookings(aggregate=agg("max", "amount", "gte", 1000)), {OH}),
    ("min date", "customer", bookings(aggregate=agg("min", "check_in", "lt", "2026-02-01")),
     {"c1"}),
    ("max date ahead", "customer",
     bookings(aggregate=agg("max", "check_in", "gte", {"ahead": "30d"})), {"c1", OH}),
    ("min string path", "customer", bookings(aggregate=agg("min", "hotel.city", "lt", "C")),
     {"c1"}),
    ("max string by code point", "customer",
     bookings(aggregate=agg("max", "hotel.city", "gt", "Z")), {"c4"}),
    ("max string", "customer", bookings(aggregate=agg("max", "status", "eq", "confirmed")),
     {"c1", "c2", OH}),
    ("max between", "customer",
     bookings(aggregate=agg("max", "nights", "between", [4, 10])), {"c1", OH}),
    # nested links and links from other entities
    ("nested link", "customer",
     bookings(where={"all": [f("hotel.stars", "gte", 4),
                             {"link": "flights", "where": f("cabin", "eq", "business")}]}),
     {"c1"}),
    ("nested exists", "customer", bookings(where={"link": "flights"}), {"c1", "c2", OH}),
    ("nested not exists", "customer", bookings(where=no({"link": "flights"})), {"c1", "c2", "c4"}),
    ("not nested exists", "customer", no(bookings(where={"link": "flights"})), {"c3", "c4", "c6"}),
    ("nested count", "customer",
     bookings(where={"link": "flights", "count": {"op": "gte", "value": 2}}), {"c1"}),
    ("nested sum", "customer",
     bookings(where={"link": "flights", "aggregate": agg("sum", "fare", "gt", 500)}), {"c1"}),
    ("nested under or", "customer",
     bookings(where={"any": [f("status", "eq", "cancelled"),
                             {"link": "flights", "where": f("cabin", "eq", "economy")}]}),
     {"c1", "c2", "c4"}),
    ("link under or", "customer",
     {"any": [f("country", "eq", "US"), bookings(count={"op": "gte", "value": 2})]},
     {"c1", "c2", OH}),
    ("not link under or", "customer",
     {"any": [f("country", "eq", "US"), no(bookings())]}, {"c3", "c6", OH}),
    ("count under or", "customer",
     {"any": [f("country", "eq", "DE"), bookings(count={"op": "lt", "value": 1})]},
     {"c2", "c3", "c6"}),
    ("avg under or", "customer",
     {"any": [f("country", "eq", "DE"), no(bookings(aggregate=agg("avg", "amount", "gt", 100)))]},
     {"c2", "c3", "c4", "c6"}),
    ("integer key link", "hotel", {"link": "bookings", "where": f("customer.country", "eq", "FR")},
     {10, 20}),
    ("integer key count", "hotel", {"link": "bookings", "count": {"op": "gte", "value": 2}},
     {10, 20}),
    ("two links deep", "chain",
     {"link": "hotels", "where": {"link": "bookings", "where": f("customer.tier", "eq", "gold")}},
     {1, 2}),
    ("not link from chain", "chain", no({"link": "hotels", "where": f("stars", "gte", 5)}), {2}),
]  # fmt: skip

SET_CASES: list[Case] = [
    # saved audiences: the latest version's members
    ("audience", "customer", {"audience": "vips"}, {"c2", OH}),
    ("not audience", "customer", no({"audience": "vips"}), {"c1", "c3", "c4", "c6"}),
    ("audience unknown", "customer", {"audience": "nope"}, set()),
    ("not audience unknown", "customer", no({"audience": "nope"}), ALL),
    ("audience quoted name", "customer", {"audience": "o'hara's"}, {OH}),
    ("audience integer key", "hotel", {"audience": "top_hotels"}, {10, 40}),
    ("audience under or", "customer", {"any": [{"audience": "vips"}, f("country", "eq", "FR")]},
     {"c1", "c2", OH, "c6"}),
    ("not audience under or", "customer",
     {"any": [no({"audience": "vips"}), f("customer_id", "eq", OH)]}, {"c1", "c3", "c4", "c6", OH}),
    # communication history
    ("history any event", "customer", {"history": {}}, {"c1", "c2", "c4", OH}),
    ("history channel", "customer", {"history": {"channel": "email"}}, {"c1", "c4"}),
    ("history event", "customer", {"history": {"event": "opened"}}, {"c1"}),
    ("history campaign", "customer", {"history": {"campaign": "spring"}}, {"c1", "c4"}),
    ("history quoted campaign", "customer", {"history": {"campaign": "it's"}}, {OH}),
    ("history channel and event", "customer",
     {"history": {"channel": "email", "event": "sent"}}, {"c1"}),
    ("history since ago", "customer", {"history": {"since": {"ago": "7d"}}}, {"c1", OH}),
    ("history since now", "customer", {"history": {"event": "clicked", "since": {"ago": "0d"}}},
     {OH}),
    ("history until", "customer", {"history": {"until": "2026-02-01T00:00:00Z"}}, {"c2"}),
    ("history since until inclusive", "customer",
     {"history": {"since": "2026-02-20T00:00:00", "until": "2026-02-20T00:00:00"}}, {"c4"}),
    ("not history", "customer", no({"history": {"channel": "email"}}), {"c2", "c3", OH, "c6"}),
    ("history under or", "customer",
     {"any": [{"history": {"channel": "sms"}}, f("country", "eq", "FR")]}, {"c1", "c2", "c6"}),
    ("not history under or", "customer",
     {"any": [no({"history": {}}), f("country", "eq", "FR")]}, {"c1", "c3", "c6"}),
]  # fmt: skip

CASES = FIELD_CASES + LOGIC_CASES + PATH_CASES + LINK_CASES + SET_CASES


def test_case_ids_are_unique() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("entity", "rule", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_rule_selects(
    db: Store, model: Model, entity: str, rule: dict[str, Any], expected: set[Any]
) -> None:
    assert select_keys(db, model, entity, rule) == expected


# --- hostile strings: expected keys computed from the Python meaning of each op ---------------


def _like(pattern: str) -> Callable[[str], bool]:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return lambda v: re.fullmatch(regex, v, re.DOTALL) is not None


def _python(op: str, value: Any) -> Callable[[str], bool]:
    return {
        "eq": lambda v: v == value,
        "lt": lambda v: v < value,
        "gt": lambda v: v > value,
        "between": lambda v: value[0] <= v <= value[1],
        "in": lambda v: v in value,
        "contains": lambda v: value in v,
        "starts_with": lambda v: v.startswith(value),
        "ends_with": lambda v: v.endswith(value),
        "like": lambda v: _like(value)(v),
    }[op]


HOSTILE: list[tuple[str, Any]] = [
    *(("eq", text) for text in NOTES.values() if text is not None),
    ("in", ["it's", "'; drop table x; --", "e\u0301"]),
    ("contains", "%"),
    ("contains", "_"),
    ("contains", "\\"),
    ("contains", "'"),
    ("contains", '"'),
    ("contains", "'; drop table x; --"),
    ("contains", "😀"),
    ("contains", "\u0301"),
    ("contains", "x" * 5_000),
    ("contains", "\n"),
    ("contains", "\u200f"),
    ("starts_with", "50%"),
    ("starts_with", "50_"),
    ("starts_with", "50\\"),
    ("ends_with", "\\"),
    ("ends_with", "%"),
    ("ends_with", "e\u0301"),
    ("like", "50\\%"),
    ("like", "%\\"),
    ("like", "%\\%"),
    ("like", "50_off"),
    ("like", "e_"),
    ("like", "_"),
    ("like", "line_break"),
    ("like", "%"),
    ("like", ""),
    ("lt", "a"),
    ("gt", "Z"),
    ("gt", "é"),
    ("between", ["A", "z"]),
    ("between", ["\u0300", "\U0001f600"]),
]


@pytest.mark.parametrize(("op", "value"), HOSTILE, ids=[f"{i}-{op}" for i, (op, _) in
                                                        enumerate(HOSTILE)])  # fmt: skip
def test_hostile_strings(db: Store, model: Model, op: str, value: Any) -> None:
    test = _python(op, value)
    matching = {k for k, v in NOTES.items() if v is not None and test(v)}
    rule = f("text", op, value)
    assert select_keys(db, model, "note", rule) == matching
    # ...and the negation holds exactly for the others (null included)
    assert select_keys(db, model, "note", no(rule)) == set(NOTES) - matching


def test_hostile_negative_ops(db: Store, model: Model) -> None:
    others = {k for k, v in NOTES.items() if v is None or "%" not in v}
    assert select_keys(db, model, "note", f("text", "not_contains", "%")) == others
    assert select_keys(db, model, "note", f("text", "ne", "it's")) == set(NOTES) - {6}
    assert select_keys(db, model, "note", f("text", "not_in", ["it's", "é"])) == set(NOTES) - {
        6,
        11,
    }
