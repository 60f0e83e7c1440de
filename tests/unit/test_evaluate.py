"""The in-memory evaluator, operator by operator: each case is (rule, rows, expected keys).

These tables are the executable form of docs/rules.md ("Semantics"); the SQL compiler is
property-tested against the same evaluator, so a case here is a case for every engine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from cantata.audience.evaluate import evaluate, like_regex
from cantata.audience.rules import RuleError, parse_rule
from cantata.model import Model, parse_model

MODEL = parse_model(
    """\
entities:
  customer:
    key: customer_id
    recipient: true
    fields:
      customer_id: integer
      email: {type: string, address: email}
      name: string
      country: string
      age: integer
      score: float
      balance: decimal
      vip: boolean
      birth_date: date
      last_visit: date
      seen_at: timestamp
  hotel:
    key: hotel_id
    fields: {hotel_id: string, city: string, stars: integer}
  booking:
    key: booking_id
    fields:
      booking_id: string
      customer_id: integer
      hotel_id: string
      status: string
      amount: decimal
      nights: integer
      check_in: date
    links:
      customer: {to: customer, on: customer_id, reverse: bookings}
      hotel: {to: hotel, on: hotel_id, reverse: bookings}
  flight:
    key: flight_id
    fields: {flight_id: string, booking_id: string, cabin: string}
    links:
      booking: {to: booking, on: booking_id, reverse: flights}
"""
)
NOW = datetime(2026, 3, 10, 15, 30)  # a Tuesday afternoon, UTC


def run(
    rule: dict[str, Any],
    data: dict[str, list[dict[str, Any]]],
    entity: str = "customer",
    model: Model = MODEL,
    **kwargs: Any,
) -> set[Any]:
    return evaluate(parse_rule(rule), model, entity, data, now=kwargs.pop("now", NOW), **kwargs)


def F(field: str, op: str, value: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"field": field, "op": op}
    if value is not None:
        out["value"] = value
    return out


def NOT(rule: dict[str, Any]) -> dict[str, Any]:
    return {"not": rule}


# --- field conditions: one field, a column of values, the values that match -----------------


@dataclass(frozen=True)
class Case:
    rule: dict[str, Any]
    values: list[Any]  # the tested field of customers 0, 1, 2...
    matches: list[Any]  # the values of the customers the rule selects

    def check(self) -> None:
        field = self.rule.get("field") or self.rule["not"]["field"]
        rows = [{"customer_id": i, field: v} for i, v in enumerate(self.values)]
        got = run(self.rule, {"customer": rows})
        assert [self.values[i] for i in sorted(got)] == self.matches


S = ["FR", "DE", "fr", None]
N = [20, 30, 40, None]
TEXT = ["abc", "xbcx", "ABC", "b%c", "a.c", "a\nc", None]
D = [Decimal("0.1"), Decimal("0.10"), Decimal("0.2"), 0.1, None]
FL = [0.1, 0.5, 1.0, None]
B = [True, False, None]
DT = [date(1990, 6, 15), date(2000, 1, 1), None]
VISITS = [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 10), date(2026, 3, 11), None]
TS = [NOW - timedelta(hours=2, seconds=1), NOW - timedelta(hours=2), NOW, None]

CASES: dict[str, Case] = {
    # equality and order; null never compares, except for ne (true)
    "eq": Case(F("country", "eq", "FR"), S, ["FR"]),
    "eq is case-sensitive": Case(F("country", "eq", "fr"), S, ["fr"]),
    "ne is true for null": Case(F("country", "ne", "FR"), S, ["DE", "fr", None]),
    "not eq is true for null": Case(NOT(F("country", "eq", "FR")), S, ["DE", "fr", None]),
    "not ne is false for null": Case(NOT(F("country", "ne", "FR")), S, ["FR"]),
    "lt": Case(F("age", "lt", 30), N, [20]),
    "lte": Case(F("age", "lte", 30), N, [20, 30]),
    "gt": Case(F("age", "gt", 30), N, [40]),
    "gte": Case(F("age", "gte", 30), N, [30, 40]),
    "not lt is true for null": Case(NOT(F("age", "lt", 30)), N, [30, 40, None]),
    "strings order by code point": Case(
        F("name", "lt", "a"), ["a", "B", "é", "Z", "", None], ["B", "Z", ""]
    ),
    # sets
    "in": Case(F("country", "in", ["FR", "fr"]), S, ["FR", "fr"]),
    "in one value": Case(F("age", "in", [30]), N, [30]),
    "not_in is true for null": Case(F("country", "not_in", ["FR", "fr"]), S, ["DE", None]),
    "not in is true for null": Case(NOT(F("country", "in", ["FR"])), S, ["DE", "fr", None]),
    "not not_in is false for null": Case(NOT(F("country", "not_in", ["FR"])), S, ["FR"]),
    # between: inclusive, empty when low > high
    "between is inclusive": Case(F("age", "between", [20, 30]), N, [20, 30]),
    "between low > high": Case(F("age", "between", [40, 20]), N, []),
    "between one point": Case(F("age", "between", [30, 30]), N, [30]),
    "not between is true for null": Case(NOT(F("age", "between", [20, 30])), N, [40, None]),
    # null tests
    "is_null": Case(F("country", "is_null"), S, [None]),
    "not_null": Case(F("country", "not_null"), S, ["FR", "DE", "fr"]),
    "not is_null": Case(NOT(F("country", "is_null")), S, ["FR", "DE", "fr"]),
    # text: literal, case-sensitive
    "contains": Case(F("name", "contains", "bc"), TEXT, ["abc", "xbcx"]),
    "contains empty": Case(F("name", "contains", ""), TEXT, TEXT[:-1]),
    "contains % literally": Case(F("name", "contains", "%"), TEXT, ["b%c"]),
    "not_contains is true for null": Case(
        F("name", "not_contains", "bc"), TEXT, ["ABC", "b%c", "a.c", "a\nc", None]
    ),
    "not contains is true for null": Case(
        NOT(F("name", "contains", "bc")), TEXT, ["ABC", "b%c", "a.c", "a\nc", None]
    ),
    "starts_with": Case(F("name", "starts_with", "a"), TEXT, ["abc", "a.c", "a\nc"]),
    "starts_with wildcards literally": Case(F("name", "starts_with", "b%"), TEXT, ["b%c"]),
    "not starts_with is true for null": Case(
        NOT(F("name", "starts_with", "a")), TEXT, ["xbcx", "ABC", "b%c", None]
    ),
    "ends_with": Case(F("name", "ends_with", "c"), TEXT, ["abc", "b%c", "a.c", "a\nc"]),
    "ends_with _ literally": Case(F("name", "ends_with", "_c"), TEXT, []),
    # like: % any run (also newlines), _ one character, the whole value, no escape
    "like %": Case(F("name", "like", "a%"), TEXT, ["abc", "a.c", "a\nc"]),
    "like _": Case(F("name", "like", "a_c"), TEXT, ["abc", "a.c", "a\nc"]),
    "like matches the whole value": Case(F("name", "like", "bc"), TEXT, []),
    "like . is literal": Case(F("name", "like", "a.c"), TEXT, ["a.c"]),
    "like is case-sensitive": Case(F("name", "like", "ABC"), TEXT, ["ABC"]),
    "like has no escape": Case(
        F("name", "like", "a\\%"), ["a\\", "a\\bc", "a%", None], ["a\\", "a\\bc"]
    ),
    "not like is true for null": Case(
        NOT(F("name", "like", "%b%")), TEXT, ["ABC", "a.c", "a\nc", None]
    ),
    # numbers: decimal vs float compares the float as Decimal(str(x))
    "decimal eq": Case(F("balance", "eq", 0.1), D, [Decimal("0.1"), Decimal("0.10"), 0.1]),
    "decimal gt": Case(F("balance", "gt", 0.15), D, [Decimal("0.2")]),
    "decimal in": Case(F("balance", "in", [0.2, 1]), D, [Decimal("0.2")]),
    "float eq int": Case(F("score", "eq", 1), FL, [1.0]),
    "float between": Case(F("score", "between", [0.1, 0.5]), FL, [0.1, 0.5]),
    "negative numbers": Case(F("age", "gt", -5), [-10, -5, 0, None], [0]),
    # booleans
    "bool eq true": Case(F("vip", "eq", True), B, [True]),
    "bool eq false": Case(F("vip", "eq", False), B, [False]),
    "bool ne true is true for null": Case(F("vip", "ne", True), B, [False, None]),
    "not bool eq false": Case(NOT(F("vip", "eq", False)), B, [True, None]),
    "bool in": Case(F("vip", "in", [True, False]), B, [True, False]),
    # dates and timestamps: ISO strings, offsets converted to UTC
    "date lt": Case(F("birth_date", "lt", "1995-01-01"), DT, [date(1990, 6, 15)]),
    "date between": Case(F("birth_date", "between", ["1990-06-15", "2000-01-01"]), DT, DT[:2]),
    "timestamp with offset": Case(F("seen_at", "eq", "2026-03-10T16:30:00+01:00"), TS, [NOW]),
    "timestamp Z": Case(F("seen_at", "gte", "2026-03-10T15:30:00Z"), TS, [NOW]),
    # relative times: days from today (UTC date of now) for dates, from now for timestamps
    "date ago": Case(F("last_visit", "gte", {"ago": "7d"}), VISITS, VISITS[1:4]),
    "date today": Case(F("last_visit", "eq", {"ahead": "0d"}), VISITS, [date(2026, 3, 10)]),
    "date ahead": Case(F("last_visit", "gt", {"ahead": "0d"}), VISITS, [date(2026, 3, 11)]),
    "date week": Case(F("last_visit", "lt", {"ago": "1w"}), VISITS, [date(2026, 3, 2)]),
    "date months": Case(
        F("last_visit", "between", [{"ago": "1mo"}, {"ago": "8d"}]), VISITS, [date(2026, 3, 2)]
    ),
    "date 'now' units is today": Case(
        F("last_visit", "eq", {"ago": "0m"}), VISITS, [date(2026, 3, 10)]
    ),
    "timestamp ago hours": Case(F("seen_at", "gte", {"ago": "2h"}), TS, TS[1:3]),
    "timestamp ago minutes": Case(F("seen_at", "lt", {"ago": "120m"}), TS, TS[:1]),
    "timestamp now": Case(F("seen_at", "eq", {"ahead": "0d"}), TS, [NOW]),
    "timestamp days are 24 hours": Case(F("seen_at", "gt", {"ago": "1d"}), TS, TS[:3]),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_field_condition(case: Case) -> None:
    case.check()


def test_relative_months_clamp_to_the_month_end() -> None:
    rows = [
        {"customer_id": i, "birth_date": d}
        for i, d in enumerate([date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1)])
    ]
    rule = F("birth_date", "eq", {"ago": "1mo"})
    assert run(rule, {"customer": rows}, now=datetime(2026, 3, 31, 23, 59)) == {1}


def test_now_with_an_offset_is_converted_to_utc() -> None:
    rows = [{"customer_id": i, "seen_at": v} for i, v in enumerate(TS)]
    paris = datetime(2026, 3, 10, 16, 30, tzinfo=timezone(timedelta(hours=1)))
    assert run(F("seen_at", "gte", {"ago": "2h"}), {"customer": rows}, now=paris) == {1, 2}


def test_an_entity_without_rows_has_no_keys() -> None:
    assert run({"all": []}, {}) == set()
    assert run({"link": "bookings"}, {"customer": [{"customer_id": 1}]}) == set()


def test_like_regex() -> None:
    assert like_regex("5%_[x]").fullmatch("5 % off![x]")
    assert not like_regex("5%_[x]").fullmatch("5[x]")


# --- logic ---------------------------------------------------------------------------------

PEOPLE: dict[str, list[dict[str, Any]]] = {
    "customer": [
        {"customer_id": 1, "country": "FR", "age": 30},
        {"customer_id": 2, "country": "DE", "age": None},
        {"customer_id": 3, "country": None, "age": 50},
    ]
}
LOGIC = {
    "empty all is true": ({"all": []}, {1, 2, 3}),
    "empty any is false": ({"any": []}, set()),
    "not empty all": (NOT({"all": []}), set()),
    "all": ({"all": [F("country", "ne", "DE"), F("age", "gt", 40)]}, {3}),
    "any": ({"any": [F("country", "eq", "DE"), F("age", "gt", 40)]}, {2, 3}),
    "not any with nulls": (NOT({"any": [F("country", "eq", "FR"), F("age", "gt", 40)]}), {2}),
    "double not": (NOT(NOT(F("age", "gt", 40))), {3}),
    "not all with nulls": (NOT({"all": [F("country", "in", ["FR"]), F("age", "lt", 99)]}), {2, 3}),
}


@pytest.mark.parametrize(("rule", "expected"), LOGIC.values(), ids=LOGIC.keys())
def test_logic(rule: dict[str, Any], expected: set[int]) -> None:
    assert run(rule, PEOPLE) == expected


# --- to-one paths --------------------------------------------------------------------------

TRAVEL: dict[str, list[dict[str, Any]]] = {
    "customer": [
        {"customer_id": 1, "country": "FR"},  # two bookings: confirmed 50, cancelled 500
        {"customer_id": 2, "country": "DE"},  # no bookings
        {"customer_id": 3, "country": "FR"},  # one booking, null amount and status
        {"customer_id": 4, "country": None},  # three confirmed bookings
    ],
    "hotel": [
        {"hotel_id": "h4", "city": "Paris", "stars": 4},
        {"hotel_id": "h5", "city": "Nice", "stars": 5},
        {"hotel_id": "hn", "city": None, "stars": None},
    ],
    "booking": [
        {
            "booking_id": "b1",
            "customer_id": 1,
            "hotel_id": "h4",
            "status": "confirmed",
            "amount": Decimal("50"),
            "nights": 2,
            "check_in": date(2026, 3, 20),
        },
        {
            "booking_id": "b2",
            "customer_id": 1,
            "hotel_id": "h5",
            "status": "cancelled",
            "amount": Decimal("500"),
            "nights": 5,
            "check_in": date(2026, 1, 5),
        },
        {
            "booking_id": "b3",
            "customer_id": 3,
            "hotel_id": "hn",
            "status": None,
            "amount": None,
            "nights": None,
            "check_in": None,
        },
        {
            "booking_id": "b4",
            "customer_id": 4,
            "hotel_id": "gone",
            "status": "confirmed",
            "amount": Decimal("100.5"),
            "nights": 1,
            "check_in": date(2026, 3, 11),
        },
        {
            "booking_id": "b5",
            "customer_id": 4,
            "hotel_id": None,
            "status": "confirmed",
            "amount": Decimal("0.5"),
            "nights": 3,
            "check_in": date(2026, 4, 1),
        },
        {
            "booking_id": "b6",
            "customer_id": 4,
            "hotel_id": "h5",
            "status": "confirmed",
            "amount": 99.0,
            "nights": 4,
            "check_in": date(2026, 3, 9),
        },
        {
            "booking_id": "b7",
            "customer_id": None,
            "hotel_id": "h4",
            "status": "confirmed",
            "amount": Decimal("1"),
            "nights": 1,
            "check_in": date(2026, 3, 10),
        },
        {
            "booking_id": "b8",
            "customer_id": 99,
            "hotel_id": "h4",
            "status": "confirmed",
            "amount": Decimal("1"),
            "nights": 1,
            "check_in": date(2026, 3, 10),
        },
    ],
    "flight": [
        {"flight_id": "f1", "booking_id": "b1", "cabin": "business"},
        {"flight_id": "f2", "booking_id": "b4", "cabin": "economy"},
        {"flight_id": "f3", "booking_id": None, "cabin": "business"},
    ],
}
PATHS = {
    # b1 → h4 (4 stars), b2/b6 → h5, b3 → hn (null stars), b4 → missing row, b5 → null FK
    "through a link": ("booking", F("hotel.stars", "gte", 4), {"b1", "b2", "b6", "b7", "b8"}),
    "missing row or null FK is null": ("booking", F("hotel.stars", "is_null"), {"b3", "b4", "b5"}),
    "ne is true through a missing row": (
        "booking",
        F("hotel.city", "ne", "Paris"),
        {"b2", "b3", "b4", "b5", "b6"},
    ),
    "not through a missing row": (
        "booking",
        NOT(F("hotel.stars", "gte", 5)),
        {"b1", "b3", "b4", "b5", "b7", "b8"},
    ),
    "to the recipient": ("booking", F("customer.country", "eq", "FR"), {"b1", "b2", "b3"}),
    "missing customer": (
        "booking",
        F("customer.country", "is_null"),
        {"b4", "b5", "b6", "b7", "b8"},
    ),
    "two hops": ("flight", F("booking.hotel.city", "eq", "Paris"), {"f1"}),
    "two hops, null FK at the first": ("flight", F("booking.hotel.city", "is_null"), {"f2", "f3"}),
    "to-one key of a missing row is null": (
        "booking",
        F("hotel.hotel_id", "not_null"),
        {"b1", "b2", "b3", "b6", "b7", "b8"},
    ),
}


@pytest.mark.parametrize(("entity", "rule", "expected"), PATHS.values(), ids=PATHS.keys())
def test_to_one_path(entity: str, rule: dict[str, Any], expected: set[str]) -> None:
    assert run(rule, TRAVEL, entity) == expected


# --- to-many links -------------------------------------------------------------------------


def L(where: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"link": "bookings", **extra}
    if where is not None:
        out["where"] = where
    return out


def AGG(fn: str, op: str, value: Any, field: str | None = "amount", where: Any = None) -> Any:
    agg: dict[str, Any] = {"fn": fn, "op": op, "value": value}
    if field is not None:
        agg["field"] = field
    return L(where, aggregate=agg)


CONFIRMED = F("status", "eq", "confirmed")
LINKS = {
    # at least one related row; a booking without a customer row, or with a null FK, is nobody's
    "exists": (L(), {1, 3, 4}),
    "not exists": (NOT(L()), {2}),
    "exists where": (L(CONFIRMED), {1, 4}),
    "where holds for the same row": (L({"all": [CONFIRMED, F("amount", "gt", 100)]}), {4}),
    "two links are two rows": ({"all": [L(CONFIRMED), L(F("amount", "gt", 100))]}, {1, 4}),
    "where with a null field": (L(F("status", "ne", "confirmed")), {1, 3}),
    "not exists where": (NOT(L(F("status", "eq", "cancelled"))), {2, 3, 4}),
    "exists where through a to-one path": (L(F("hotel.stars", "eq", 5)), {1, 4}),
    "nested link": (L({"link": "flights", "where": F("cabin", "eq", "business")}), {1}),
    "nested not exists": (L(NOT({"link": "flights"})), {1, 3, 4}),
    # count: over the rows satisfying where (all rows without where), 0 when none
    "count eq 0": (L(count={"op": "eq", "value": 0}), {2}),
    "count gte": (L(count={"op": "gte", "value": 2}), {1, 4}),
    "count where": (L(CONFIRMED, count={"op": "eq", "value": 1}), {1}),
    "count where none is 0": (L(CONFIRMED, count={"op": "lt", "value": 1}), {2, 3}),
    "count between": (L(count={"op": "between", "value": [1, 2]}), {1, 3}),
    "count ne": (L(count={"op": "ne", "value": 3}), {1, 2, 3}),
    # aggregates over the non-null values of the rows satisfying where
    "sum": (AGG("sum", "gt", 100), {1, 4}),
    "sum of none is 0": (AGG("sum", "eq", 0), {2, 3}),
    "sum where": (AGG("sum", "eq", 50, where=CONFIRMED), {1}),
    "sum decimal and float rows": (AGG("sum", "eq", 200), {4}),
    "avg": (AGG("avg", "gte", 275), {1}),
    "avg of decimals": (AGG("avg", "eq", 275), {1}),
    "avg of decimal and float rows": (AGG("avg", "between", [66.66, 66.67]), {4}),
    "avg of none is null": (AGG("avg", "lt", 1000000), {1, 4}),
    "not avg of none": (NOT(AGG("avg", "lt", 1000000)), {2, 3}),
    "avg of integers": (AGG("avg", "eq", 3.5, field="nights"), {1}),
    "min": (AGG("min", "lt", 1), {4}),
    "max": (AGG("max", "gte", 500), {1}),
    "max of none is null, and ne null is false": (AGG("max", "ne", 1), {1, 4}),
    "not max of none": (NOT(AGG("max", "ne", 1)), {2, 3}),
    "min date vs relative": (AGG("min", "lte", {"ago": "1d"}, field="check_in"), {1, 4}),
    "max through a to-one path": (AGG("max", "eq", 5, field="hotel.stars"), {1, 4}),
    "count aggregate": (AGG("count", "eq", 0, field=None), {2}),
    "count aggregate where": (AGG("count", "gte", 3, field=None, where=CONFIRMED), {4}),
}


@pytest.mark.parametrize(("rule", "expected"), LINKS.values(), ids=LINKS.keys())
def test_link(rule: dict[str, Any], expected: set[int]) -> None:
    assert run(rule, TRAVEL) == expected


def test_link_from_another_entity() -> None:
    rule = {"link": "bookings", "where": CONFIRMED, "count": {"op": "gte", "value": 2}}
    assert run(rule, TRAVEL, "hotel") == {"h4"}
    assert run(NOT({"link": "flights"}), TRAVEL, "booking") == {"b2", "b3", "b5", "b6", "b7", "b8"}


# --- audiences and history -----------------------------------------------------------------

AUDIENCES = {"vip": {"1", "3"}, "nobody": set()}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"audience": "vip"}, {1, 3}),
        ({"audience": "nobody"}, set()),
        (NOT({"audience": "vip"}), {2, 4}),
        ({"any": [{"audience": "vip"}, F("country", "eq", "DE")]}, {1, 2, 3}),
    ],
    ids=["member", "empty", "not member", "or"],
)
def test_in_audience(rule: dict[str, Any], expected: set[int]) -> None:
    assert run(rule, TRAVEL, audiences=AUDIENCES) == expected


def test_audience_in_a_link_uses_the_linked_key() -> None:
    rule = L({"audience": "big"})
    assert run(rule, TRAVEL, audiences={"big": ["b2", "b6"]}) == {1, 4}


def test_unknown_audience_is_an_error() -> None:
    with pytest.raises(RuleError, match=r"all\[1\]\.audience: no saved audience 'vipp'.*'vip'"):
        run({"all": [{"all": []}, {"audience": "vipp"}]}, TRAVEL, audiences=AUDIENCES)
    with pytest.raises(RuleError, match="no saved audience"):
        run({"audience": "vip"}, TRAVEL)


def event(recipient: str, channel: str, kind: str, campaign: str, at: datetime) -> dict[str, Any]:
    return {
        "recipient": recipient,
        "channel": channel,
        "event": kind,
        "campaign": campaign,
        "at": at,
    }


HISTORY = [
    event("1", "email", "sent", "spring", NOW - timedelta(days=10)),
    event("1", "email", "opened", "spring", NOW - timedelta(days=6, hours=23)),
    event("2", "sms", "sent", "flash", NOW - timedelta(hours=1)),
    event("3", "email", "sent", "summer", NOW + timedelta(days=1)),
    event("99", "email", "sent", "spring", NOW),
]
HISTORIES = {
    "any event": ({}, {1, 2, 3}),
    "channel": ({"channel": "email"}, {1, 3}),
    "event": ({"event": "opened"}, {1}),
    "campaign": ({"campaign": "spring"}, {1}),
    "all keys on the same event": ({"channel": "sms", "campaign": "spring"}, set()),
    "since relative": ({"event": "sent", "since": {"ago": "7d"}}, {2, 3}),
    "since is inclusive": ({"since": {"ago": "10d"}, "campaign": "spring", "event": "sent"}, {1}),
    "since and until": ({"since": {"ago": "7d"}, "until": {"ahead": "0d"}}, {1, 2}),
    "until ISO": ({"until": "2026-03-01T00:00:00Z"}, {1}),
    "since ISO with offset": ({"since": "2026-03-10T15:30:00+01:00"}, {2, 3}),
}


@pytest.mark.parametrize(("history", "expected"), HISTORIES.values(), ids=HISTORIES.keys())
def test_history(history: dict[str, Any], expected: set[int]) -> None:
    assert run({"history": history}, TRAVEL, history=HISTORY) == expected


def test_not_history() -> None:
    assert run(NOT({"history": {"event": "opened"}}), TRAVEL, history=HISTORY) == {2, 3, 4}
    assert run({"history": {}}, TRAVEL) == set()


# --- validation and scale ------------------------------------------------------------------


def test_invalid_rules_are_rejected_with_their_path() -> None:
    with pytest.raises(RuleError, match=r"all\[0\]\.field: 'customer' has no field 'contry'"):
        run({"all": [F("contry", "eq", "FR")]}, TRAVEL)
    with pytest.raises(RuleError, match="history conditions apply to recipients"):
        run({"history": {}}, TRAVEL, "booking")


def test_evaluation_is_linear_in_rows() -> None:
    n = 20_000
    data: dict[str, list[dict[str, Any]]] = {
        "customer": [{"customer_id": i, "country": "FR" if i % 2 else "DE"} for i in range(n)],
        "hotel": [{"hotel_id": f"h{i}", "stars": i % 6} for i in range(100)],
        "booking": [
            {
                "booking_id": f"b{i}",
                "customer_id": i % n,
                "hotel_id": f"h{i % 100}",
                "status": "confirmed" if i % 3 else "cancelled",
                "amount": Decimal(i % 500),
            }
            for i in range(3 * n)
        ],
    }
    rule = {
        "all": [
            F("country", "eq", "FR"),
            L({"all": [CONFIRMED, F("hotel.stars", "gte", 4)]}),
            AGG("sum", "gt", 100),
        ]
    }
    start = time.perf_counter()
    keys = run(rule, data)
    assert time.perf_counter() - start < 10
    assert keys and all(k % 2 for k in keys)
