"""The embedded store: one DuckDB file owned by one process, which serialises writes."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from cantata.errors import StoreError
from cantata.model import FieldType
from cantata.store.base import Store, checked_params, quote_ident

TYPES = {
    FieldType.STRING: "VARCHAR",
    FieldType.INTEGER: "BIGINT",
    FieldType.DECIMAL: "DECIMAL(18,4)",
    FieldType.FLOAT: "DOUBLE",
    FieldType.BOOLEAN: "BOOLEAN",
    FieldType.DATE: "DATE",
    FieldType.TIMESTAMP: "TIMESTAMP",
}

_PLACEHOLDER = re.compile(r"%s|%%")


def _to_qmark(sql: str) -> str:
    return _PLACEHOLDER.sub(lambda m: "?" if m.group() == "%s" else "%", sql)


class DuckDBStore(Store):
    dialect = "duckdb"

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = str(path)
        self.url = f"duckdb:///{self.path}"
        try:
            self.con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.IOException as exc:
            raise StoreError(
                f"cannot open the DuckDB store: {exc}. Only one process may own it; stop the "
                "other cantata process or point it at PostgreSQL.",
                where=self.path,
            ) from None
        self.con.execute("SET TimeZone = 'UTC'")
        # Runs write whole worktables: checkpointing every 16 MB of WAL (the default) stalls
        # them mid-run; a larger WAL is checkpointed at close or when it reaches this size.
        self.con.execute("SET checkpoint_threshold = '512MB'")
        self._lock = threading.RLock()
        self._depth = 0

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> int:
        with self._lock:
            cur = self.con.execute(_to_qmark(sql), checked_params(params) or None)
            try:
                row = cur.fetchone()
            except duckdb.InvalidInputException:
                return -1
            # DML returns its affected row count as a single row; DDL returns nothing.
            return int(row[0]) if row and len(row) == 1 and isinstance(row[0], int) else -1

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.con.execute(_to_qmark(sql), checked_params(params) or None).fetchall()

    def iter_rows(
        self, sql: str, params: Sequence[Any] | None = None, batch: int = 10_000
    ) -> Iterator[list[tuple[Any, ...]]]:
        with self._lock:
            cur = self.con.cursor()
        cur.execute(_to_qmark(sql), checked_params(params) or None)
        while rows := cur.fetchmany(batch):
            yield rows

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self.con.begin()
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self.con.rollback()
                raise
            self._depth = 0
            self.con.commit()

    def close(self) -> None:
        self.con.close()

    def sql_type(self, ftype: FieldType) -> str:
        return TYPES[ftype]

    def table_exists(self, table: str) -> bool:
        return bool(
            self.scalar(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_name = %s",
                [table],
            )
        )

    def table_columns(self, table: str) -> list[str]:
        rows = self.fetchall(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            [table],
        )
        return [r[0] for r in rows]

    def copy_to_csv(self, sql: str, path: Path) -> None:
        target = str(path).replace("'", "''")
        self.execute(f"COPY ({sql}) TO '{target}' (HEADER, DELIMITER ',')")

    def copy_from_csv(self, table: str, columns: Sequence[str], path: Path) -> int:
        cols = ", ".join(quote_ident(c) for c in columns)
        return self.execute(
            f"INSERT INTO {quote_ident(table)} ({cols}) SELECT {cols} FROM "
            "read_csv(%s, header = true, auto_detect = false, "
            f"columns = {{{', '.join(_column_spec(self, table, c) for c in columns)}}})",
            [str(path)],
        )


def _column_spec(store: DuckDBStore, table: str, column: str) -> str:
    dtype = store.scalar(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s AND column_name = %s",
        [table, column],
    )
    return f"'{column}': '{dtype}'"
