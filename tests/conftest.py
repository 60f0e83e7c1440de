"""Shared fixtures: every engine test runs on DuckDB, and on PostgreSQL when
CANTATA_TEST_POSTGRES_URL is set (CI sets it and CANTATA_REQUIRE_POSTGRES, so nothing skips)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cantata.store import Store, open_store

POSTGRES_URL = os.environ.get("CANTATA_TEST_POSTGRES_URL")
ENGINES = ["duckdb", "postgres"] if POSTGRES_URL else ["duckdb"]

if os.environ.get("CANTATA_REQUIRE_POSTGRES") and not POSTGRES_URL:
    raise RuntimeError("CANTATA_REQUIRE_POSTGRES is set but CANTATA_TEST_POSTGRES_URL is not")


def store_url(engine: str, tmp_path: Path) -> tuple[str, str | None]:
    """A URL for a fresh, empty store of `engine`, and the PostgreSQL schema to drop after."""
    if engine == "duckdb":
        return f"duckdb:///{tmp_path / 'store.duckdb'}", None
    assert POSTGRES_URL
    schema = f"t_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{sep}schema={schema}", schema


def drop_schema(schema: str) -> None:
    import psycopg

    assert POSTGRES_URL
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(engine: str, tmp_path: Path) -> Iterator[Store]:
    """A fresh, migrated store on each engine."""
    url, schema = store_url(engine, tmp_path)
    s = open_store(url)
    try:
        yield s
    finally:
        s.close()
        if schema:
            drop_schema(schema)
