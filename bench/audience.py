"""Audience speed: our compiled SQL against hand-written SQL tuned for speed, same tables, one run.

Builds the travel company with the generator (DuckDB: 10M customers / ~50M bookings by
default; PostgreSQL: 1M / ~5M), plus a communication history, then for 8 representative rules
prints both counts (they must be equal), both times (best of 3) and the ratio ours / hand.

    python bench/audience.py [--customers N] [--engine duckdb|postgres] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from stores import bench_store, close_bench_store

from cantata.audience.compile import audience_sql
from cantata.audience.text import parse_text
from cantata.generate.travel import generate_travel
from cantata.ingest import ingest_file
from cantata.model import parse_model
from cantata.store import Store
from cantata.store.schema import apply_model
from cantata.workspace import starter_model

MODEL = parse_model(starter_model())
NOW = datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)
TODAY = NOW.date()


def rules(dialect: str) -> list[tuple[str, str, str, str]]:
    """(name, entity, rule text, hand-written SQL). Dates are those the rule resolves to.

    The hand-written anti-join takes each engine's fastest form: DuckDB hashes NOT IN over a
    non-null set; PostgreSQL needs NOT EXISTS (its NOT IN runs a subplan per row).
    """
    not_cancelled = (
        "customer_id NOT IN (SELECT customer_id FROM booking WHERE status = 'cancelled' "
        "AND customer_id IS NOT NULL)"
        if dialect == "duckdb"
        else "NOT EXISTS (SELECT 1 FROM booking b WHERE b.customer_id = c.customer_id "
        "AND b.status = 'cancelled')"
    )
    d30 = TODAY + timedelta(days=30)
    week_ago = NOW - timedelta(days=7)
    adult = TODAY.replace(year=TODAY.year - 30)
    return [
        (
            "simple filter",
            "customer",
            'country = "FR"',
            "SELECT customer_id FROM customer WHERE country = 'FR'",
        ),
        (
            "IN list",
            "customer",
            'country in ("FR", "DE", "IT", "ES") and tier in ("gold", "platinum")',
            "SELECT customer_id FROM customer WHERE country IN ('FR', 'DE', 'IT', 'ES') "
            "AND tier IN ('gold', 'platinum')",
        ),
        (
            "to-one path",
            "booking",
            'hotel.stars >= 4 and hotel.country = "FR"',
            "SELECT b.booking_id FROM booking b JOIN hotel h ON h.hotel_id = b.hotel_id "
            "WHERE h.stars >= 4 AND h.country = 'FR'",
        ),
        (
            "EXISTS with where",
            "customer",
            'exists(bookings where status = "confirmed" and check_in between today() and today() + 30d)',
            "SELECT customer_id FROM customer WHERE customer_id IN (SELECT customer_id FROM booking "
            f"WHERE status = 'confirmed' AND check_in BETWEEN DATE '{TODAY}' AND DATE '{d30}')",
        ),
        (
            "COUNT >= 2",
            "customer",
            "count(bookings) >= 2",
            "SELECT customer_id FROM customer WHERE customer_id IN (SELECT customer_id FROM booking "
            "GROUP BY customer_id HAVING count(*) >= 2)",
        ),
        (
            "SUM > x",
            "customer",
            'sum(bookings.amount where status = "completed") > 5000',
            "SELECT customer_id FROM customer WHERE customer_id IN (SELECT customer_id FROM booking "
            "WHERE status = 'completed' GROUP BY customer_id HAVING sum(amount) > 5000)",
        ),
        (
            "history within 7 days",
            "customer",
            'history(channel = "email", event = "opened", since today() - 7d)',
            "SELECT customer_id FROM customer WHERE CAST(customer_id AS TEXT) IN (SELECT recipient "
            f"FROM cantata_history WHERE channel = 'email' AND event = 'opened' AND \"at\" >= "
            f"TIMESTAMP '{week_ago}')",
        ),
        (
            "nested AND/OR/NOT",
            "customer",
            '(country in ("FR", "DE") or tier = "gold") and not exists(bookings where status = '
            '"cancelled") and birth_date < today() - 30y',
            "SELECT customer_id FROM customer c WHERE (country IN ('FR', 'DE') OR tier = 'gold') "
            f"AND birth_date < DATE '{adult}' AND {not_cancelled}",
        ),
    ]


def build(store: Store, customers: int, folder: Path) -> None:
    apply_model(store, MODEL)
    started = time.perf_counter()
    files = generate_travel(
        folder / "data", customers=customers, seed=3, fmt="parquet", today=TODAY
    )
    print(f"generated in {time.perf_counter() - started:.0f}s: {files.counts}")
    for entity in ("customer", "hotel", "booking"):
        started = time.perf_counter()
        result = ingest_file(
            store, MODEL, entity, getattr(files, entity), quarantine_dir=folder / "q"
        )
        print(
            f"ingested {entity}: {result.upserted:,} rows in {time.perf_counter() - started:.1f}s"
        )
    # A communication history: a send per customer in the last month, opens for a third.
    history = folder / "history.parquet"
    duckdb.connect().execute(
        f"COPY (SELECT 'm' || i AS message_id, 'spring' AS campaign, CAST(i % {customers} + 1 AS "
        "VARCHAR) AS recipient, 'email' AS channel, CASE WHEN i % 3 = 0 THEN 'opened' ELSE 'sent' "
        f"END AS event, TIMESTAMP '{NOW}' - to_minutes(CAST(i % 43200 AS BIGINT)) AS at "
        f"FROM range({customers * 2}) t(i)) TO '{history}' (FORMAT parquet)"
    )
    if store.dialect == "duckdb":
        store.execute(
            'INSERT INTO cantata_history (message_id, campaign, recipient, channel, event, "at") '
            f"SELECT * FROM read_parquet('{history}')"
        )
    else:
        csv_path = folder / "history.csv"
        duckdb.connect().execute(
            f"COPY (SELECT * FROM read_parquet('{history}')) TO '{csv_path}' (HEADER)"
        )
        store.copy_from_csv(
            "cantata_history",
            ["message_id", "campaign", "recipient", "channel", "event", "at"],
            csv_path,
        )
        store.execute("ANALYZE")


def best_of(store: Store, sql: str, runs: int = 3) -> tuple[int, float]:
    best, count = float("inf"), -1
    for _ in range(runs):
        started = time.perf_counter()
        count = int(store.scalar(f"SELECT count(*) FROM ({sql}) AS a"))
        best = min(best, time.perf_counter() - started)
    return count, best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--engine", choices=["duckdb", "postgres"], default="duckdb")
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the store and files here.")
    args = parser.parse_args()
    customers = args.customers or (10_000_000 if args.engine == "duckdb" else 1_000_000)
    with tempfile.TemporaryDirectory(prefix="cantata-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        store = bench_store(args.engine, folder, "audience")
        try:
            fresh = store.scalar("SELECT count(*) FROM cantata_model_state") == 0
            if (
                fresh
                or not store.table_exists("customer")
                or not store.scalar("SELECT count(*) FROM customer")
            ):
                build(store, customers, folder)
            n_c = store.scalar("SELECT count(*) FROM customer")
            n_b = store.scalar("SELECT count(*) FROM booking")
            print(
                f"\nmachine: {platform.machine()}, {os.cpu_count()} cores; engine: {store.dialect}; "
                f"{n_c:,} customers, {n_b:,} bookings; best of 3\n"
            )
            header = (
                f"{'rule':<24} {'ours':>10} {'hand':>10} {'ours s':>8} {'hand s':>8} {'ratio':>6}"
            )
            print(header)
            print("-" * len(header))
            for name, entity, text, hand in rules(store.dialect):
                rule = parse_text(text)
                ours_sql = audience_sql(rule, MODEL, entity, now=NOW, dialect=store.dialect)
                ours_n, ours_t = best_of(store, ours_sql)
                hand_n, hand_t = best_of(store, hand)
                flag = "" if ours_n == hand_n else "  COUNTS DIFFER"
                print(
                    f"{name:<24} {ours_n:>10,} {hand_n:>10,} {ours_t:>8.3f} {hand_t:>8.3f} "
                    f"{ours_t / hand_t:>6.2f}{flag}"
                )
            print("\nratio = our time ÷ hand-written time (target ≤ 1.3)")
        finally:
            close_bench_store(store)


if __name__ == "__main__":
    main()
