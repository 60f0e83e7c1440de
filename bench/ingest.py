"""Ingestion throughput against the engine's bare bulk load of the same file, in one run.

For DuckDB and PostgreSQL (when CANTATA_BENCH_POSTGRES_URL or CANTATA_TEST_POSTGRES_URL is
set), and for CSV and Parquet: load N bookings of the travel model with `cantata ingest`'s
code path into an empty store, then the same file with the engine's bare load into a table
of the same shape (DuckDB: INSERT … SELECT FROM read_csv/read_parquet; PostgreSQL: COPY of
the CSV — PostgreSQL has no Parquet reader, so COPY of the same rows is its physical limit
for both formats). Prints rows/s for each and the ratio ours / bare.

    python bench/ingest.py [--rows 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

import duckdb
import psycopg

from cantata.generate.travel import generate_travel
from cantata.ingest import ingest_file
from cantata.model import parse_model
from cantata.store import open_store
from cantata.store.schema import apply_model
from cantata.workspace import starter_model

MODEL = parse_model(starter_model())
BOOKING = MODEL.entities["booking"]


def booking_files(folder: Path, rows: int) -> dict[str, Path]:
    """About `rows` bookings from the travel generator, as CSV and Parquet."""
    customers = max(1, rows // 5)
    files = {}
    for fmt in ("csv", "parquet"):
        out = folder / fmt
        generated = generate_travel(out, customers=customers, seed=1, fmt=fmt)
        files[fmt] = generated.booking
    return files


def count_rows(path: Path) -> int:
    reader = "read_csv" if path.suffix == ".csv" else "read_parquet"
    row = duckdb.connect().execute(f"SELECT count(*) FROM {reader}('{path}')").fetchone()
    assert row
    return int(row[0])


def ours(url: str, path: Path, folder: Path) -> float:
    store = open_store(url)
    try:
        apply_model(store, MODEL)
        started = time.perf_counter()
        result = ingest_file(store, MODEL, "booking", path, quarantine_dir=folder / "q")
        elapsed = time.perf_counter() - started
        assert result.rejected == 0 and result.upserted == result.read, result
        return elapsed
    finally:
        store.close()


def bare_duckdb(path: Path, folder: Path) -> float:
    con = duckdb.connect(str(folder / f"bare-{uuid.uuid4().hex}.duckdb"))
    store_types = {f.name: _duck_type(f.type.value) for f in BOOKING.fields.values()}
    cols = ", ".join(f'"{n}" {t}' for n, t in store_types.items())
    con.execute(f"CREATE TABLE booking ({cols})")
    reader = "read_csv" if path.suffix == ".csv" else "read_parquet"
    started = time.perf_counter()
    con.execute(f"INSERT INTO booking SELECT * FROM {reader}('{path}')")
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def _duck_type(t: str) -> str:
    return {
        "string": "VARCHAR",
        "integer": "BIGINT",
        "decimal": "DECIMAL(18,4)",
        "float": "DOUBLE",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "timestamp": "TIMESTAMP",
    }[t]


def bare_postgres(url: str, csv_path: Path) -> float:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            from cantata.store.postgres import TYPES

            cols = ", ".join(f'"{f.name}" {TYPES[f.type]}' for f in BOOKING.fields.values())
            conn.execute(f"CREATE TABLE {schema}.booking ({cols}, PRIMARY KEY (booking_id))")
            started = time.perf_counter()
            with (
                conn.cursor() as cur,
                cur.copy(
                    f"COPY {schema}.booking FROM STDIN WITH (FORMAT csv, HEADER true)"
                ) as copy,
                open(csv_path, "rb") as f,
            ):
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
            return time.perf_counter() - started
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None, help="Keep generated files here.")
    args = parser.parse_args()
    pg_url = os.environ.get("CANTATA_BENCH_POSTGRES_URL") or os.environ.get(
        "CANTATA_TEST_POSTGRES_URL"
    )
    with tempfile.TemporaryDirectory(prefix="cantata-bench-") as tmp:
        folder = args.keep or Path(tmp)
        files = booking_files(folder, args.rows)
        n = count_rows(files["csv"])
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{sys.version.split()[0]}, DuckDB {duckdb.__version__}"
        )
        print(
            f"bookings: {n:,} rows ({files['csv'].stat().st_size / 1e6:.0f} MB CSV, "
            f"{files['parquet'].stat().st_size / 1e6:.0f} MB Parquet)\n"
        )
        header = (
            f"{'engine':<10} {'format':<8} {'ours s':>8} {'ours rows/s':>12} "
            f"{'bare s':>8} {'bare rows/s':>12} {'ratio':>6}"
        )
        print(header)
        print("-" * len(header))
        for engine in ("duckdb", "postgres"):
            if engine == "postgres" and not pg_url:
                print("postgres   (skipped: set CANTATA_BENCH_POSTGRES_URL)")
                continue
            for fmt in ("csv", "parquet"):
                if engine == "duckdb":
                    url = f"duckdb:///{folder / f'ours-{uuid.uuid4().hex}.duckdb'}"
                    bare = bare_duckdb(files[fmt], folder)
                    schema = None
                else:
                    assert pg_url
                    schema = f"bench_{uuid.uuid4().hex[:8]}"
                    url = f"{pg_url}?schema={schema}"
                    bare = bare_postgres(pg_url, files["csv"])
                mine = ours(url, files[fmt], folder)
                if schema:
                    with psycopg.connect(pg_url, autocommit=True) as conn:
                        conn.execute(f"DROP SCHEMA {schema} CASCADE")
                print(
                    f"{engine:<10} {fmt:<8} {mine:>8.2f} {n / mine:>12,.0f} {bare:>8.2f} "
                    f"{n / bare:>12,.0f} {bare / mine:>6.2f}"
                )
        print("\nratio = our rows/s ÷ bare rows/s (1.0 = as fast as the engine's own bulk load)")


if __name__ == "__main__":
    main()
