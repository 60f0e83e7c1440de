"""Where a benchmark keeps its data: a DuckDB file in its folder, or a fresh PostgreSQL schema
(CANTATA_BENCH_POSTGRES_URL, else CANTATA_TEST_POSTGRES_URL), dropped after the run."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from cantata.store import Store, open_store


def bench_store(engine: str, folder: Path, name: str) -> Store:
    if engine == "duckdb":
        return open_store(f"duckdb:///{folder / f'{name}.duckdb'}")
    base = os.environ.get("CANTATA_BENCH_POSTGRES_URL") or os.environ.get(
        "CANTATA_TEST_POSTGRES_URL"
    )
    if not base:
        raise SystemExit("set CANTATA_BENCH_POSTGRES_URL for the PostgreSQL run")
    return open_store(f"{base}?schema=bench_{uuid.uuid4().hex[:8]}")


def close_bench_store(store: Store) -> None:
    if store.dialect == "postgres":
        schema = store.scalar("SELECT current_schema()")
        store.execute(f'DROP SCHEMA "{schema}" CASCADE')
    store.close()
