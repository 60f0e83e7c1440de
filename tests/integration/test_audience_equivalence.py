"""The proof that compiled SQL means what the rule means: on random data and random rules over
every operator and form, compiled SQL on each engine returns exactly the keys the in-memory
evaluator returns. 100 data sets × 5 rules = 500 rules per engine per run."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cantata.audience.compile import audience_sql
from cantata.audience.evaluate import evaluate
from cantata.audience.rules import Rule, parse_rule
from cantata.model import FieldType, parse_model
from cantata.store import Store
from cantata.store.base import quote_ident
from cantata.store.schema import apply_model

MODEL = parse_model(
    """
entities:
  customer:
    key: customer_id
    recipient: true
    fields:
      customer_id: string
      name: string
      tier: string
      score: integer
      balance: decimal
      ratio: float
      vip: boolean
      birth_date: date
      seen_at: timestamp
  booking:
    key: booking_id
    fields:
      booking_id: integer
      customer_id: string
      hotel_id: integer
      status: string
      nights: integer
      amount: decimal
      check_in: date
      paid: boolean
    links:
      customer: {to: customer, on: customer_id, reverse: bookings}
      hotel: {to: hotel, on: hotel_id, reverse: bookings}
  hotel:
    key: hotel_id
    fields: {hotel_id: integer, city: string, stars: integer}
"""
)
NOW = datetime(2026, 3, 15, 12, 0, 0)
TODAY = NOW.date()

STRINGS = ["", "a", "A", "ab", "a%b", "a_b", "O'Brien", "back\\slash", "é", "日本", "b", "zz", " a"]
CUSTOMER_KEYS = ["c1", "c2", "c3", "c'4", "c5", "ç6"]
DATES = [TODAY + timedelta(days=d) for d in (-400, -31, -30, -7, -1, 0, 1, 7, 14, 30, 31, 365)]
TIMES = [NOW + timedelta(hours=h) for h in (-24 * 40, -24 * 7, -25, -2, 0, 1, 3, 24 * 8)]
EVENTS = ["sent", "opened", "clicked", "bounced"]

null = st.none()
strings = st.sampled_from(STRINGS)
ints = st.integers(-3, 12)
decimals = st.sampled_from(
    [Decimal("0"), Decimal("1.5"), Decimal("-2.25"), Decimal("10.0001"), Decimal("99.99")]
)
floats = st.sampled_from([0.0, 0.5, -1.25, 3.0, 10.75])


def _maybe(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(null, s, s, s)


customers = st.lists(
    st.fixed_dictionaries(
        {
            "customer_id": st.sampled_from(CUSTOMER_KEYS),
            "name": _maybe(strings),
            "tier": _maybe(st.sampled_from(["gold", "silver", "basic"])),
            "score": _maybe(ints),
            "balance": _maybe(decimals),
            "ratio": _maybe(floats),
            "vip": _maybe(st.booleans()),
            "birth_date": _maybe(st.sampled_from(DATES)),
            "seen_at": _maybe(st.sampled_from(TIMES)),
        }
    ),
    max_size=6,
    unique_by=lambda r: r["customer_id"],
)
hotels = st.lists(
    st.fixed_dictionaries(
        {"hotel_id": st.integers(1, 4), "city": _maybe(strings), "stars": _maybe(st.integers(1, 5))}
    ),
    max_size=3,
    unique_by=lambda r: r["hotel_id"],
)
bookings = st.lists(
    st.fixed_dictionaries(
        {
            "booking_id": st.integers(1, 40),
            "customer_id": _maybe(st.sampled_from([*CUSTOMER_KEYS, "ghost"])),
            "hotel_id": _maybe(st.integers(1, 5)),
            "status": _maybe(st.sampled_from(["confirmed", "cancelled"])),
            "nights": _maybe(st.integers(0, 5)),
            "amount": _maybe(decimals),
            "check_in": _maybe(st.sampled_from(DATES)),
            "paid": _maybe(st.booleans()),
        }
    ),
    max_size=12,
    unique_by=lambda r: r["booking_id"],
)
history = st.lists(
    st.fixed_dictionaries(
        {
            "recipient": st.sampled_from(CUSTOMER_KEYS),
            "channel": st.sampled_from(["email", "sms"]),
            "event": st.sampled_from(EVENTS),
            "campaign": st.sampled_from(["spring", "summer"]),
            "at": st.sampled_from(TIMES),
        }
    ),
    max_size=6,
)
audience_members = st.lists(st.sampled_from(CUSTOMER_KEYS), max_size=4, unique=True)

VALUES: dict[FieldType, st.SearchStrategy[Any]] = {
    FieldType.STRING: strings,
    FieldType.INTEGER: ints,
    FieldType.DECIMAL: st.sampled_from([0, 1.5, -2.25, 10, 99.99, 10.0001]),
    FieldType.FLOAT: st.sampled_from([0, 0.5, -1.25, 3, 10.75]),
    FieldType.BOOLEAN: st.booleans(),
    FieldType.DATE: st.one_of(
        st.sampled_from([d.isoformat() for d in DATES]),
        st.builds(
            lambda d, n, u: {d: f"{n}{u}"},
            st.sampled_from(["ago", "ahead"]),
            st.sampled_from([0, 1, 7, 30]),
            st.sampled_from(["d", "w", "mo", "y"]),
        ),
    ),
    FieldType.TIMESTAMP: st.one_of(
        st.sampled_from([t.isoformat() + "Z" for t in TIMES]),
        st.builds(
            lambda d, n, u: {d: f"{n}{u}"},
            st.sampled_from(["ago", "ahead"]),
            st.sampled_from([0, 1, 2, 7]),
            st.sampled_from(["h", "d", "w"]),
        ),
    ),
}
PATHS = {
    "customer": ["name", "tier", "score", "balance", "ratio", "vip", "birth_date", "seen_at"],
    "booking": [
        "status",
        "nights",
        "amount",
        "check_in",
        "paid",
        "hotel.city",
        "hotel.stars",
        "customer.tier",
        "customer.score",
        "customer_id",
        "hotel_id",
    ],
    "hotel": ["city", "stars"],
}
COMPARE = ["eq", "ne", "lt", "lte", "gt", "gte"]


def _type(entity: str, path: str) -> FieldType:
    current = entity
    *links, name = path.split(".")
    for link in links:
        current = MODEL.to_one(current)[link].target
    return MODEL.entities[current].fields[name].type


@st.composite
def field_condition(draw: st.DrawFn, entity: str) -> dict[str, Any]:
    path = draw(st.sampled_from(PATHS[entity]))
    ftype = _type(entity, path)
    ops = ["eq", "ne", "in", "not_in", "is_null", "not_null"]
    if ftype is not FieldType.BOOLEAN:
        ops += ["lt", "lte", "gt", "gte", "between"]
    if ftype is FieldType.STRING:
        ops += ["contains", "not_contains", "starts_with", "ends_with", "like"]
    op = draw(st.sampled_from(ops))
    value = VALUES[ftype]
    if op in ("is_null", "not_null"):
        return {"field": path, "op": op}
    if op in ("in", "not_in"):
        return {"field": path, "op": op, "value": draw(st.lists(value, min_size=1, max_size=3))}
    if op == "between":
        return {"field": path, "op": op, "value": [draw(value), draw(value)]}
    if op == "like":
        return {
            "field": path,
            "op": op,
            "value": draw(st.sampled_from(["a%", "%b", "_", "a_b", "%", "O'%", "%\\%", "é%"])),
        }
    return {"field": path, "op": op, "value": draw(value)}


@st.composite
def link_condition(draw: st.DrawFn, entity: str, depth: int) -> dict[str, Any]:
    link = draw(st.sampled_from(sorted(MODEL.to_many(entity))))
    target = MODEL.to_many(entity)[link].target
    out: dict[str, Any] = {"link": link}
    if draw(st.booleans()):
        out["where"] = draw(rules(target, depth + 1))
    kind = draw(st.sampled_from(["exists", "count", "aggregate"]))
    if kind == "count":
        out["count"] = {"op": draw(st.sampled_from(COMPARE)), "value": draw(st.integers(0, 3))}
    elif kind == "aggregate":
        numeric = [
            p
            for p in PATHS[target]
            if "." not in p and _type(target, p) in (FieldType.INTEGER, FieldType.DECIMAL)
        ]
        fn = draw(st.sampled_from(["sum", "avg", "min", "max", "count"]))
        agg: dict[str, Any] = {"fn": fn, "op": draw(st.sampled_from(COMPARE))}
        if fn == "count":
            agg["value"] = draw(st.integers(0, 3))
        else:
            agg["field"] = draw(st.sampled_from(numeric))
            whole = fn != "avg" and _type(target, agg["field"]) is FieldType.INTEGER
            agg["value"] = draw(
                st.sampled_from([0, 1, 2, 10, -1] if whole else [0, 1, 3.5, 10, -1.25])
            )
        out["aggregate"] = agg
    return out


def rules(entity: str, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    leaves: list[st.SearchStrategy[dict[str, Any]]] = [field_condition(entity)]
    if entity == "customer":
        leaves.append(st.builds(lambda n: {"audience": n}, st.sampled_from(["vip", "lapsed"])))
        leaves.append(
            st.builds(
                lambda c, e, camp, since: {
                    "history": {
                        k: v
                        for k, v in (
                            ("channel", c),
                            ("event", e),
                            ("campaign", camp),
                            ("since", since),
                        )
                        if v is not None
                    }
                },
                _maybe(st.sampled_from(["email", "sms"])),
                _maybe(st.sampled_from(EVENTS)),
                _maybe(st.sampled_from(["spring", "summer"])),
                _maybe(st.builds(lambda n: {"ago": f"{n}d"}, st.sampled_from([1, 7, 30]))),
            )
        )
    if depth < 2 and MODEL.to_many(entity):
        leaves.append(link_condition(entity, depth))
    leaf = st.one_of(*leaves)
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(lambda rs: {"all": rs}, st.lists(inner, max_size=3)),
            st.builds(lambda rs: {"any": rs}, st.lists(inner, max_size=3)),
            st.builds(lambda r: {"not": r}, inner),
        ),
        max_leaves=5,
    )


def _insert(store: Store, table: str, columns: list[str], rows: list[list[Any]]) -> None:
    """One multi-row INSERT per table: per-statement overhead dominates these tiny data sets."""
    if not rows:
        return
    cols = ", ".join(quote_ident(c) for c in columns)
    marks = ", ".join("(" + ", ".join(["%s"] * len(columns)) + ")" for _ in rows)
    store.execute(
        f"INSERT INTO {quote_ident(table)} ({cols}) VALUES {marks}", [v for r in rows for v in r]
    )


def load(
    store: Store,
    data: dict[str, list[dict[str, Any]]],
    hist: list[dict[str, Any]],
    audiences: dict[str, list[str]],
) -> None:
    with store.transaction():
        for table in (
            "booking",
            "hotel",
            "customer",
            "cantata_history",
            "cantata_audience",
            "cantata_audience_member",
        ):
            store.execute(f"DELETE FROM {quote_ident(table)}")
        for entity, rows in data.items():
            fields = list(MODEL.entities[entity].fields)
            _insert(store, entity, fields, [[row[f] for f in fields] for row in rows])
        _insert(
            store,
            "cantata_history",
            ["message_id", "campaign", "recipient", "channel", "event", "at"],
            [
                [f"m{i}", h["campaign"], h["recipient"], h["channel"], h["event"], h["at"]]
                for i, h in enumerate(hist)
            ],
        )
        # Two versions of each audience: only the latest counts (c5 is only in version 1).
        _insert(
            store,
            "cantata_audience",
            ["name", "version", "entity", "size", "source", "mode", "created_at"],
            [
                [name, v, "customer", len(m), "{}", "replace", NOW]
                for name, m in audiences.items()
                for v in (1, 2)
            ],
        )
        _insert(
            store,
            "cantata_audience_member",
            ["audience", "version", "key"],
            [[name, 2, key] for name, m in audiences.items() for key in m]
            + [[name, 1, "c5"] for name in audiences],
        )


@pytest.fixture
def schema_store(store: Store) -> Store:
    apply_model(store, MODEL)
    return store


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    customers=customers,
    bookings=bookings,
    hotels=hotels,
    hist=history,
    vip=audience_members,
    lapsed=audience_members,
    entity_rules=st.lists(
        st.sampled_from(["customer", "booking", "hotel"]).flatmap(
            lambda e: st.tuples(st.just(e), rules(e))
        ),
        min_size=5,
        max_size=5,
    ),
)
def test_compiled_sql_equals_the_evaluator(
    schema_store: Store,
    customers: list[dict[str, Any]],
    bookings: list[dict[str, Any]],
    hotels: list[dict[str, Any]],
    hist: list[dict[str, Any]],
    vip: list[str],
    lapsed: list[str],
    entity_rules: list[tuple[str, dict[str, Any]]],
) -> None:
    data = {"customer": customers, "booking": bookings, "hotel": hotels}
    audiences = {"vip": vip, "lapsed": lapsed}
    load(schema_store, data, hist, audiences)
    for entity, raw in entity_rules:
        rule: Rule = parse_rule(raw)
        expected = evaluate(rule, MODEL, entity, data, now=NOW, audiences=audiences, history=hist)
        sql = audience_sql(rule, MODEL, entity, now=NOW, dialect=schema_store.dialect)
        got = {r[0] for r in schema_store.fetchall(sql)}
        assert got == expected, f"{entity}: {raw}\n{sql}"
