"""Move a DuckDB table's rows into a temporary table of the store through its bulk path."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import duckdb

from cantata.ingest.validate import q
from cantata.store.base import Store


def validation_connection(store: Store) -> duckdb.DuckDBPyConnection:
    """The DuckDB connection that reads and checks files: the store's own for a DuckDB store
    (so staged tables are visible to it), a fresh in-memory one otherwise (close it after)."""
    own: duckdb.DuckDBPyConnection | None = getattr(store, "con", None)
    if store.dialect == "duckdb" and own is not None:
        return own
    fresh = duckdb.connect()
    fresh.execute("SET TimeZone = 'UTC'")
    return fresh


def release(store: Store, con: duckdb.DuckDBPyConnection) -> None:
    if store.dialect != "duckdb":
        con.close()


def transfer(
    store: Store,
    con: duckdb.DuckDBPyConnection,
    source: str,
    target: str,
    columns: Sequence[tuple[str, str]],
) -> str:
    """Make `target` (a temp table in the store, inside the caller's transaction on
    PostgreSQL) hold `source`'s columns; return the name to query. On a DuckDB store the
    validation connection is the store's own, so the source table is used as is."""
    if store.dialect == "duckdb":
        return source
    names = [name for name, _ in columns]
    defs = ", ".join(f"{q(n)} {t}" for n, t in columns)
    store.execute(f"CREATE TEMP TABLE {q(target)} ({defs}) ON COMMIT DROP")
    copy_rows(store, con, f"SELECT {', '.join(q(n) for n in names)} FROM {source}", target, names)
    return target


def copy_rows(
    store: Store, con: duckdb.DuckDBPyConnection, select: str, table: str, columns: Sequence[str]
) -> int:
    """Append the rows of a DuckDB query to a store table by COPY (PostgreSQL)."""
    with tempfile.TemporaryDirectory(prefix="cantata-transfer-") as tmp:
        csv_path = Path(tmp) / "rows.csv"
        con.execute(f"COPY ({select}) TO '{csv_path}' (HEADER, DELIMITER ',')")
        return store.copy_from_csv(table, columns, csv_path)
