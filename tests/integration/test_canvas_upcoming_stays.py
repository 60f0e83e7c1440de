"""examples/upcoming_stays.yaml test-runs on a generated travel company (2,000 customers,
fixed seed and day, households sharing an address planted), on every engine; every transition
count — and the rows behind the important ones — equals hand-written SQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from cantata.canvas import load_campaign
from cantata.canvas.runtime import Runner, node_runs, transitions
from cantata.generate.travel import generate_travel
from cantata.ingest import ingest_file
from cantata.model import parse_model
from cantata.store import Store, open_store
from cantata.store.schema import apply_model
from cantata.workspace import starter_model
from tests.conftest import ENGINES, drop_schema, store_url

EXAMPLE = Path(__file__).parents[2] / "examples" / "upcoming_stays.yaml"
TODAY = date(2026, 6, 1)
NOW = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)  # 08:00 in Paris, the campaign's fire time
MODEL = parse_model(starter_model())

# The campaign, by hand: confirmed stays checking in within 14 days, their customers, one per
# e-mail address (the latest updated; rows without an address stand alone).
STAYS = (
    "SELECT booking_id, customer_id FROM booking WHERE status = 'confirmed' "
    "AND check_in BETWEEN DATE '2026-06-01' AND DATE '2026-06-15'"
)
CUSTOMERS = f"SELECT * FROM customer WHERE customer_id IN (SELECT customer_id FROM ({STAYS}) s)"
KEPT = (
    "SELECT customer_id, tier FROM (SELECT customer_id, tier, row_number() OVER ("
    "PARTITION BY COALESCE(email, 'no address ' || CAST(customer_id AS TEXT)) "
    f"ORDER BY updated_at DESC NULLS LAST, customer_id) AS rn FROM ({CUSTOMERS}) c) r "
    "WHERE rn = 1"
)
# The first confirmed booking from today, per kept customer.
NEXT_BOOKING = (
    "SELECT customer_id, booking_id, hotel_id FROM (SELECT b.customer_id, b.booking_id, "
    "b.hotel_id, row_number() OVER (PARTITION BY b.customer_id ORDER BY b.check_in, "
    "b.booking_id) AS rn FROM booking b WHERE b.status = 'confirmed' "
    f"AND b.check_in >= DATE '2026-06-01' AND b.customer_id IN (SELECT customer_id FROM ({KEPT}) k)"
    ") r WHERE rn = 1"
)


@pytest.fixture(scope="module", params=ENGINES)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    tmp = tmp_path_factory.mktemp("stays")
    url, schema = store_url(str(request.param), tmp)
    store = open_store(url)
    try:
        apply_model(store, MODEL)
        files = generate_travel(tmp / "data", customers=2000, seed=11, today=TODAY)
        for entity in ("customer", "hotel", "booking"):
            ingest_file(store, MODEL, entity, getattr(files, entity), quarantine_dir=tmp / "q")
        # Households: every 4th customer shares an address with others (about 16 per group).
        store.execute(
            "UPDATE customer SET email = 'family' || CAST(customer_id % 31 AS TEXT) || "
            "'@example.org' WHERE customer_id % 4 = 0"
        )
        yield store
    finally:
        store.close()
        if schema:
            drop_schema(schema)


def count(store: Store, sql: str) -> int:
    return int(store.scalar(f"SELECT count(*) FROM ({sql}) AS q"))


def keys(store: Store, sql: str) -> set[Any]:
    return {r[0] for r in store.fetchall(sql)}


def test_upcoming_stays_counts_match_hand_written_sql(db: Store) -> None:
    runner = Runner(db, MODEL)
    run = runner.test(load_campaign(EXAMPLE), now=NOW)
    assert run.status == "completed", {n: r.error for n, r in node_runs(db, run.id).items()}
    got = {f"{n}.{p}": t.row_count for (n, p), t in transitions(db, run.id).items()}

    stays = count(db, STAYS)
    customers = count(db, CUSTOMERS)
    kept = keys(db, f"SELECT customer_id FROM ({KEPT}) k")
    holdout_n = len(kept) * 10 // 100
    holdout = keys(
        db,
        f"SELECT customer_id FROM ({KEPT}) k ORDER BY "
        f"md5('20260401:' || CAST(customer_id AS TEXT)) LIMIT {holdout_n}",
    )
    gold = keys(db, f"SELECT customer_id FROM ({KEPT}) k WHERE tier IN ('gold', 'platinum')")
    gold -= holdout
    others = kept - holdout - gold
    orphans = count(
        db,
        f"SELECT booking_id FROM ({STAYS}) s WHERE NOT EXISTS "
        "(SELECT 1 FROM customer c WHERE c.customer_id = s.customer_id)",
    )
    expected = {
        "stays.out": stays,
        "customers.out": customers,
        "customers.complement": orphans,
        "one_per_address.out": len(kept),
        "one_per_address.complement": customers - len(kept),
        "next_stay.out": len(kept),
        "segments.holdout": holdout_n,
        "segments.gold": len(gold),
        "segments.others": len(others),
        "segments.complement": 0,
        "email_gold.out": len(gold),
        "sms_others.out": len(others),
    }
    assert got == expected
    # The data exercises every step: a real population, households merged, all three segments.
    assert stays > 100 and customers - len(kept) > 5 and holdout_n and gold and others

    def rows(ref: str) -> dict[Any, Any]:
        names, found = runner.transition_rows(run.id, ref, limit=100_000)
        return {r[0]: dict(zip(names[1:], r[1:], strict=True)) for r in found}

    assert set(rows("one_per_address")) == kept
    assert set(rows("segments.holdout")) == holdout
    assert set(rows("segments.gold")) == gold
    # The next booking: the first confirmed one from today, with its hotel's name and city.
    expected_next = {
        r[0]: (r[1], r[2], r[3])
        for r in db.fetchall(
            f"SELECT n.customer_id, n.booking_id, h.name, h.city FROM ({NEXT_BOOKING}) n "
            "LEFT JOIN hotel h ON h.hotel_id = n.hotel_id"
        )
    }
    enriched = rows("next_stay")
    assert len(enriched) == len(kept)
    for key, values in enriched.items():
        [item] = values["next_booking"]
        assert (int(item["booking_id"]), item["hotel_name"], item["hotel_city"]) == expected_next[
            key
        ]
    assert set(enriched) == set(expected_next)  # every kept customer has a stay ahead
    # Split rows keep the enrichment.
    assert all(v["next_booking"] for v in rows("segments.others").values())
