"""Targeting activities at run time, activity by activity, on every engine: each case is a
small canvas run in test mode over a fixed travel data set, and the rows (keys, and columns
where they matter) expected on its transitions.

The data covers shared and missing e-mail addresses, null and dangling foreign keys, a null
sort value, and rows on both sides of every rule. Cases only read, so the data is loaded once
per module and engine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import yaml

from cantata.canvas import parse_campaign
from cantata.canvas.runtime import Runner, node_runs, transitions
from cantata.model import Model, parse_model
from cantata.store import Store, open_store
from cantata.store.schema import apply_model
from cantata.workspace import starter_model
from tests.conftest import ENGINES, drop_schema, store_url

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)  # today() is 2026-06-01
D = Decimal

CUSTOMERS = [
    # customer_id, email, first_name, tier, country, updated_at
    (1, "a@x.org", "Ann", "gold", "FR", datetime(2026, 1, 1)),
    (2, "a@x.org", "Bob", "basic", "FR", datetime(2026, 2, 1)),  # shares Ann's address
    (3, "c@x.org", "Cid", "silver", "DE", datetime(2026, 1, 15)),
    (4, None, "Dee", "platinum", "DE", datetime(2026, 1, 20)),  # no address
    (5, None, "Eve", "basic", "US", datetime(2026, 1, 5)),
    (6, "f@x.org", "Fay", "gold", "US", None),  # null sort value
    (7, "f@x.org", None, "gold", "US", datetime(2026, 1, 10)),
    (8, "h@x.org", "Hal", "basic", "FR", datetime(2026, 3, 1)),
]
HOTELS = [(10, "Ritz", "Paris", 5), (20, "Adlon", "Berlin", 4), (30, "Hassler", "Rome", None)]
BOOKINGS = [
    # booking_id, customer_id, hotel_id, check_in, nights, amount, status
    (100, 1, 10, date(2026, 6, 5), 2, D("200"), "confirmed"),
    (101, 1, 20, date(2026, 6, 3), 1, D("100"), "confirmed"),
    (102, 2, 10, date(2026, 6, 10), 3, D("300"), "cancelled"),
    (103, 3, 30, date(2026, 7, 1), 5, D("500"), "confirmed"),
    (104, 3, None, date(2026, 6, 2), 1, D("50"), "confirmed"),  # null hotel
    (105, 99, 10, date(2026, 6, 4), 1, D("80"), "confirmed"),  # dangling customer
    (106, None, 20, date(2026, 6, 6), 2, D("90"), "confirmed"),  # null customer
    (107, 6, 20, date(2026, 5, 1), 4, D("400"), "completed"),
    (108, 8, 10, date(2026, 6, 1), 2, D("150"), "confirmed"),
]
ALL_CUSTOMERS = {1, 2, 3, 4, 5, 6, 7, 8}


@pytest.fixture(scope="module")
def model() -> Model:
    return parse_model(starter_model())


def load_sample(store: Store, model: Model) -> None:
    apply_model(store, model)
    for row in CUSTOMERS:
        store.execute(
            "INSERT INTO customer (customer_id, email, first_name, tier, country, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            list(row),
        )
    for row in HOTELS:
        store.execute(
            "INSERT INTO hotel (hotel_id, name, city, stars) VALUES (%s, %s, %s, %s)", list(row)
        )
    for row in BOOKINGS:
        store.execute(
            "INSERT INTO booking (booking_id, customer_id, hotel_id, check_in, nights, amount, "
            "status) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            list(row),
        )
    # A saved audience with two versions; '99' is no customer.
    for version, members in ((1, ["1", "2", "99"]), (2, ["2", "3"])):
        store.execute(
            "INSERT INTO cantata_audience (name, version, entity, size, source, mode, created_at)"
            " VALUES ('vips', %s, 'customer', %s, '{}', 'replace', %s)",
            [version, len(members), datetime(2026, 5, version)],
        )
        for key in members:
            store.execute(
                "INSERT INTO cantata_audience_member VALUES ('vips', %s, %s)", [version, key]
            )


@pytest.fixture(scope="module", params=ENGINES)
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model: Model
) -> Iterator[Store]:
    url, schema = store_url(str(request.param), tmp_path_factory.mktemp("activities"))
    store = open_store(url)
    try:
        load_sample(store, model)
        yield store
    finally:
        store.close()
        if schema:
            drop_schema(schema)


# --- running a case -----------------------------------------------------------------------------


def node(node_id: str, kind: str, **settings: Any) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "settings": settings}


def customers(node_id: str = "src", rule: str | None = None) -> dict[str, Any]:
    return node(node_id, "build_audience", entity="customer", **({"rule": rule} if rule else {}))


def bookings(node_id: str = "src", rule: str | None = None) -> dict[str, Any]:
    return node(node_id, "build_audience", entity="booking", **({"rule": rule} if rule else {}))


def run_canvas(
    store: Store, model: Model, nodes: list[dict[str, Any]], edges: Sequence[str]
) -> tuple[Runner, int]:
    pairs = [e.split(" -> ") for e in edges]
    text = yaml.safe_dump(
        {"name": "t", "nodes": nodes, "edges": [{"from": a, "to": b} for a, b in pairs]},
        sort_keys=False,
    )
    runner = Runner(store, model)
    run = runner.test(parse_campaign(text), now=NOW)
    failed = {n: r.error for n, r in node_runs(store, run.id).items() if r.error}
    assert run.status == "completed", (run.error, failed)
    return runner, run.id


def rows_of(runner: Runner, run_id: int, ref: str) -> dict[Any, dict[str, Any]]:
    """The rows of a transition: key → its columns (collections normalised)."""
    names, rows = runner.transition_rows(run_id, ref, limit=1000)
    out = {}
    for row in rows:
        values = {n: _plain(v) for n, v in zip(names[1:], row[1:], strict=True)}
        out[row[0]] = values
    assert len(out) == len(rows), f"duplicate keys on {ref}"
    return out


def _plain(value: Any) -> Any:
    """Collections as lists of dicts of text: DuckDB returns dates, PostgreSQL's jsonb text."""
    if isinstance(value, list):
        return [{k: None if v is None else str(v) for k, v in item.items()} for item in value]
    return value


def md5_first(seed: int, keys: Sequence[int], n: int) -> set[int]:
    """The n keys a seeded pick takes: smallest md5('<seed>:<key>')."""
    return set(sorted(keys, key=lambda k: hashlib.md5(f"{seed}:{k}".encode()).hexdigest())[:n])


# --- keys only: (id, nodes, edges, {transition: expected keys}) --------------------------------

KeyCase = tuple[str, list[dict[str, Any]], list[str], dict[str, set[Any]]]

GOLD = 'tier in ("gold", "platinum")'
KEY_CASES: list[KeyCase] = [
    # build_audience
    ("build_all", [customers()], [], {"src": ALL_CUSTOMERS}),
    ("build_rule", [customers(rule=GOLD)], [], {"src": {1, 4, 6, 7}}),
    (
        "build_bookings_relative_dates",
        [bookings(rule='status = "confirmed" and check_in between today() and today() + 7d')],
        [],
        {"src": {100, 101, 104, 105, 106, 108}},
    ),
    # read_audience: the latest version saved by the run's time, or a fixed one; keys that
    # are no customer are not read
    ("read_latest", [node("src", "read_audience", audience="vips")], [], {"src": {2, 3}}),
    (
        "read_version",
        [node("src", "read_audience", audience="vips", version=1)],
        [],
        {"src": {1, 2}},
    ),
    # incremental_query, first run: every matching row
    (
        "incremental_first_run",
        [node("src", "incremental_query", entity="customer", rule=GOLD)],
        [],
        {"src": {1, 4, 6, 7}},
    ),
    # combine
    *(
        (
            f"combine_{op}",
            [
                customers("a", 'tier = "gold"'),
                customers("b", 'country = "FR"'),
                node(
                    "c", "combine", operation=op, **({"primary": "a"} if op == "exclusion" else {})
                ),
            ],
            ["a -> c", "b -> c"],
            expected,
        )
        for op, expected in (
            ("union", {"c": {1, 2, 6, 7, 8}}),
            ("intersection", {"c": {1}, "c.complement": {2, 6, 7, 8}}),
            ("exclusion", {"c": {6, 7}, "c.complement": {1}}),
        )
    ),
    (
        "combine_three_way_intersection",
        [
            customers("a", 'tier = "gold"'),
            customers("b", 'country = "US"'),
            customers("d", 'email = "f@x.org"'),
            node("c", "combine", operation="intersection"),
        ],
        ["a -> c", "b -> c", "d -> c"],
        {"c": {6, 7}, "c.complement": {1, 5}},
    ),
    # dedupe: by e-mail; rows without one are nobody's duplicates
    (
        "dedupe_lowest_key",
        [customers(), node("d", "dedupe", by=["email"])],
        ["src -> d"],
        {"d": {1, 3, 4, 5, 6, 8}, "d.complement": {2, 7}},
    ),
    (
        "dedupe_max_nulls_last",
        [customers(), node("d", "dedupe", by=["email"], choose={"max": "updated_at"})],
        ["src -> d"],
        {"d": {2, 3, 4, 5, 7, 8}, "d.complement": {1, 6}},
    ),
    (
        "dedupe_min_nulls_last",
        [customers(), node("d", "dedupe", by=["email"], choose={"min": "updated_at"})],
        ["src -> d"],
        {"d": {1, 3, 4, 5, 7, 8}, "d.complement": {2, 6}},
    ),
    (
        "dedupe_non_empty",
        [customers(), node("d", "dedupe", by=["email"], choose={"non_empty": ["first_name"]})],
        ["src -> d"],
        {"d": {1, 3, 4, 5, 6, 8}, "d.complement": {2, 7}},
    ),
    (
        "dedupe_keep_two_per_country",
        [customers(), node("d", "dedupe", by=["country"], keep=2, choose={"max": "updated_at"})],
        ["src -> d"],
        {"d": {2, 8, 3, 4, 7, 5}, "d.complement": {1, 6}},
    ),
    (
        "dedupe_by_path",
        [bookings(), node("d", "dedupe", by=["hotel.city"], choose={"max": "check_in"})],
        ["src -> d"],
        # Paris {100,102,105,108} → 102; Berlin {101,106,107} → 106; Rome 103; no hotel: 104
        {"d": {102, 106, 103, 104}},
    ),
    (
        "dedupe_seeded",
        [customers(), node("d", "dedupe", by=["country"], choose={"random_seed": 42})],
        ["src -> d"],
        {"d": md5_first(42, [1, 2, 8], 1) | md5_first(42, [3, 4], 1) | md5_first(42, [5, 6, 7], 1)},
    ),
    # split: ordered, a row goes to the first subset that takes it
    (
        "split_ordered",
        [
            customers(),
            node(
                "s",
                "split",
                subsets=[
                    {"name": "gold", "rule": GOLD},
                    {"name": "fr", "rule": 'country = "FR"'},
                    {"name": "others"},
                ],
            ),
        ],
        ["src -> s"],
        {"s.gold": {1, 4, 6, 7}, "s.fr": {2, 8}, "s.others": {3, 5}, "s.complement": set()},
    ),
    (
        "split_complement",
        [customers(), node("s", "split", subsets=[{"name": "fr", "rule": 'country = "FR"'}])],
        ["src -> s"],
        {"s.fr": {1, 2, 8}, "s.complement": {3, 4, 5, 6, 7}},
    ),
    (
        "split_overlap",
        [
            customers(),
            node(
                "s",
                "split",
                overlap=True,
                subsets=[
                    {"name": "gold", "rule": GOLD},
                    {"name": "fr", "rule": 'country = "FR"'},
                ],
            ),
        ],
        ["src -> s"],
        {"s.gold": {1, 4, 6, 7}, "s.fr": {1, 2, 8}, "s.complement": {3, 5}},
    ),
    (
        # The limit takes the newest gold customer (nulls last); the others go on.
        "split_limit_sort",
        [
            customers(),
            node(
                "s",
                "split",
                subsets=[
                    {
                        "name": "top",
                        "rule": 'tier = "gold"',
                        "limit": {"count": 1, "sort": ["updated_at desc"]},
                    },
                    {"name": "rest"},
                ],
            ),
        ],
        ["src -> s"],
        {"s.top": {7}, "s.rest": {1, 2, 3, 4, 5, 6, 8}},
    ),
    (
        "split_percent_floor_lowest_keys",
        [customers(), node("s", "split", subsets=[{"name": "p", "limit": {"percent": 30}}])],
        ["src -> s"],
        {"s.p": {1, 2}, "s.complement": {3, 4, 5, 6, 7, 8}},
    ),
    (
        "split_seeded_sample_then_rule",
        [
            customers(),
            node(
                "s",
                "split",
                subsets=[
                    {"name": "holdout", "limit": {"percent": 50, "random_seed": 7}},
                    {"name": "gold", "rule": GOLD},
                ],
            ),
        ],
        ["src -> s"],
        {
            "s.holdout": md5_first(7, sorted(ALL_CUSTOMERS), 4),
            "s.gold": {1, 4, 6, 7} - md5_first(7, sorted(ALL_CUSTOMERS), 4),
        },
    ),
    (
        # Percent of the rows left after earlier subsets, among those matching the rule.
        "split_limit_counts_remaining_rows",
        [
            customers(),
            node(
                "s",
                "split",
                subsets=[
                    {"name": "fr", "rule": 'country = "FR"'},
                    {"name": "half", "limit": {"percent": 50}},
                ],
            ),
        ],
        ["src -> s"],
        {"s.fr": {1, 2, 8}, "s.half": {3, 4}, "s.complement": {5, 6, 7}},
    ),
    # change_dimension
    (
        "change_to_one",
        [bookings(), node("c", "change_dimension", link="customer")],
        ["src -> c"],
        {"c": {1, 2, 3, 6, 8}, "c.complement": {105, 106}},
    ),
    (
        "change_to_many",
        [customers(rule='tier = "gold"'), node("c", "change_dimension", link="bookings")],
        ["src -> c"],
        {"c": {100, 101, 107}, "c.complement": {7}},
    ),
    (
        "change_then_combine",
        [
            bookings("b", 'status = "confirmed"'),
            node("c", "change_dimension", link="customer"),
            customers("g", GOLD),
            node("x", "combine", operation="exclusion", primary="c"),
        ],
        ["b -> c", "c -> x", "g -> x"],
        {"x": {3, 8}, "x.complement": {1}},
    ),
]


@pytest.mark.parametrize("case", KEY_CASES, ids=[c[0] for c in KEY_CASES])
def test_activity_keys(db: Store, model: Model, case: KeyCase) -> None:
    _, nodes, edges, expected = case
    runner, run_id = run_canvas(db, model, nodes, edges)
    got = {ref: set(rows_of(runner, run_id, ref)) for ref in expected}
    assert got == expected
    counts = {f"{n}.{p}": t.row_count for (n, p), t in transitions(db, run_id).items()}
    for ref, keys in expected.items():
        assert counts[ref if "." in ref else f"{ref}.out"] == len(keys)


# --- columns: (id, nodes, edges, transition, {key: {column: value}}) ---------------------------

ColumnCase = tuple[str, list[dict[str, Any]], list[str], str, dict[Any, dict[str, Any]]]

COLUMN_CASES: list[ColumnCase] = [
    (
        "enrich_to_one_attributes",
        [
            bookings(rule='status = "confirmed"'),
            node(
                "e",
                "enrich",
                attributes=[{"path": "hotel.city"}, {"path": "customer.first_name", "as": "name"}],
            ),
        ],
        ["src -> e"],
        "e",
        {
            100: {"hotel_city": "Paris", "name": "Ann"},
            101: {"hotel_city": "Berlin", "name": "Ann"},
            103: {"hotel_city": "Rome", "name": "Cid"},
            104: {"hotel_city": None, "name": "Cid"},  # null hotel
            105: {"hotel_city": "Paris", "name": None},  # dangling customer
            106: {"hotel_city": "Berlin", "name": None},
            108: {"hotel_city": "Paris", "name": "Hal"},
        },
    ),
    (
        "enrich_aggregates",
        [
            customers(rule='country in ("FR", "DE")'),
            node(
                "e",
                "enrich",
                aggregates=[
                    {"link": "bookings", "fn": "count", "where": 'status = "confirmed"'},
                    {"link": "bookings", "fn": "sum", "field": "amount"},
                    {"link": "bookings", "fn": "avg", "field": "nights", "as": "avg_nights"},
                    {"link": "bookings", "fn": "min", "field": "check_in"},
                    {"link": "bookings", "fn": "max", "field": "hotel.stars", "as": "stars"},
                ],
            ),
        ],
        ["src -> e"],
        "e",
        {
            1: {
                "count_bookings": 2,
                "sum_bookings_amount": D("300"),
                "avg_nights": 1.5,
                "min_bookings_check_in": date(2026, 6, 3),
                "stars": 5,
            },
            2: {
                "count_bookings": 0,
                "sum_bookings_amount": D("300"),
                "avg_nights": 3.0,
                "min_bookings_check_in": date(2026, 6, 10),
                "stars": 5,
            },
            3: {
                "count_bookings": 2,
                "sum_bookings_amount": D("550"),
                "avg_nights": 3.0,
                "min_bookings_check_in": date(2026, 6, 2),
                "stars": None,  # Rome has no stars, 104 no hotel
            },
            4: {  # no bookings: count and sum 0, the others null
                "count_bookings": 0,
                "sum_bookings_amount": D("0"),
                "avg_nights": None,
                "min_bookings_check_in": None,
                "stars": None,
            },
            8: {
                "count_bookings": 1,
                "sum_bookings_amount": D("150"),
                "avg_nights": 2.0,
                "min_bookings_check_in": date(2026, 6, 1),
                "stars": 5,
            },
        },
    ),
    (
        "enrich_top_n_related",
        [
            customers(rule='country in ("FR", "DE")'),
            node(
                "e",
                "enrich",
                related=[
                    {
                        "link": "bookings",
                        "as": "next",
                        "where": 'status = "confirmed" and check_in >= today()',
                        "sort": ["check_in asc"],
                        "limit": 2,
                        "fields": ["booking_id", "check_in", "hotel.city"],
                    }
                ],
            ),
        ],
        ["src -> e"],
        "e",
        {
            1: {
                "next": [
                    {"booking_id": "101", "check_in": "2026-06-03", "hotel_city": "Berlin"},
                    {"booking_id": "100", "check_in": "2026-06-05", "hotel_city": "Paris"},
                ]
            },
            2: {"next": []},  # only a cancelled booking
            3: {
                "next": [
                    {"booking_id": "104", "check_in": "2026-06-02", "hotel_city": None},
                    {"booking_id": "103", "check_in": "2026-07-01", "hotel_city": "Rome"},
                ]
            },
            4: {"next": []},
            8: {"next": [{"booking_id": "108", "check_in": "2026-06-01", "hotel_city": "Paris"}]},
        },
    ),
    (
        # Columns travel through a split and a dedupe, which may also read them.
        "columns_carried_and_used",
        [
            customers(rule='country = "FR"'),
            node(
                "e",
                "enrich",
                aggregates=[{"link": "bookings", "fn": "count", "as": "n"}],
                attributes=[{"path": "first_name"}],
            ),
            node("d", "dedupe", by=["email"], choose={"min": "n"}),
            node(
                "s",
                "split",
                subsets=[
                    {
                        "name": "busy",
                        "rule": 'tier = "gold"',
                        "limit": {"count": 5, "sort": ["n desc"]},
                    }
                ],
            ),
        ],
        ["src -> e", "e -> d", "d -> s"],
        "s.complement",
        {2: {"n": 1, "first_name": "Bob"}, 8: {"n": 1, "first_name": "Hal"}},
    ),
    (
        "combine_union_shared_columns_first_input_wins",
        [
            customers("a", 'tier = "gold"'),
            node("ea", "enrich", attributes=[{"path": "first_name", "as": "n"}]),
            customers("b", 'country = "FR"'),
            node("eb", "enrich", attributes=[{"path": "email", "as": "n"}]),
            node("c", "combine", operation="union", columns="shared"),
        ],
        ["a -> ea", "b -> eb", "ea -> c", "eb -> c"],
        "c",
        {
            1: {"n": "Ann"},
            2: {"n": "a@x.org"},
            6: {"n": "Fay"},
            7: {"n": None},
            8: {"n": "h@x.org"},
        },
    ),
    (
        "combine_exclusion_keeps_primary_columns",
        [
            customers("a", 'tier = "gold"'),
            node("ea", "enrich", attributes=[{"path": "first_name", "as": "n"}]),
            customers("b", 'country = "FR"'),
            node("c", "combine", operation="exclusion", primary="ea", columns="shared"),
        ],
        ["a -> ea", "ea -> c", "b -> c"],
        "c.complement",
        {1: {"n": "Ann"}},
    ),
    (
        "change_dimension_complement_keeps_columns",
        [
            bookings(),
            node("e", "enrich", attributes=[{"path": "nights"}]),
            node("c", "change_dimension", link="customer"),
        ],
        ["src -> e", "e -> c"],
        "c.complement",
        {105: {"nights": 1}, 106: {"nights": 2}},
    ),
]


@pytest.mark.parametrize("case", COLUMN_CASES, ids=[c[0] for c in COLUMN_CASES])
def test_activity_columns(db: Store, model: Model, case: ColumnCase) -> None:
    _, nodes, edges, ref, expected = case
    runner, run_id = run_canvas(db, model, nodes, edges)
    assert rows_of(runner, run_id, ref) == expected


# --- ports that are not taken -------------------------------------------------------------------


def test_skip_empty_subset_does_not_activate_its_transition(db: Store, model: Model) -> None:
    nodes = [
        customers(),
        node(
            "s",
            "split",
            skip_empty=True,
            subsets=[{"name": "jp", "rule": 'country = "JP"'}, {"name": "rest"}],
        ),
        node("after_jp", "dedupe", by=["email"]),
        node("after_rest", "dedupe", by=["email"]),
    ]
    _, run_id = run_canvas(
        db, model, nodes, ["src -> s", "s.jp -> after_jp", "s.rest -> after_rest"]
    )
    trans = transitions(db, run_id)
    assert (trans["s", "jp"].row_count, trans["s", "jp"].activated) == (0, False)
    statuses = {n: r.status for n, r in node_runs(db, run_id).items()}
    assert statuses["after_jp"] == "skipped" and statuses["after_rest"] == "done"


def test_an_empty_subset_without_skip_empty_runs_what_follows(db: Store, model: Model) -> None:
    nodes = [
        customers(),
        node("s", "split", subsets=[{"name": "jp", "rule": 'country = "JP"'}]),
        node("after_jp", "dedupe", by=["email"]),
    ]
    _, run_id = run_canvas(db, model, nodes, ["src -> s", "s.jp -> after_jp"])
    assert node_runs(db, run_id)["after_jp"].status == "done"
    assert transitions(db, run_id)["after_jp", "out"].row_count == 0


def test_save_audience_saves_nothing_in_test_mode(db: Store, model: Model) -> None:
    nodes = [customers(), node("keep", "save_audience", name="test_only")]
    runner, run_id = run_canvas(db, model, nodes, ["src -> keep"])
    assert set(rows_of(runner, run_id, "keep")) == ALL_CUSTOMERS
    assert db.scalar("SELECT count(*) FROM cantata_audience WHERE name = 'test_only'") == 0
