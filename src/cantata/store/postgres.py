"""The production store: PostgreSQL over psycopg 3, many processes, one schema per workspace."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from cantata.errors import StoreError
from cantata.model import FieldType
from cantata.store.base import Store, checked_params, quote_ident

TYPES = {
    FieldType.STRING: "text",
    FieldType.INTEGER: "bigint",
    FieldType.DECIMAL: "numeric(18,4)",
    FieldType.FLOAT: "double precision",
    FieldType.BOOLEAN: "boolean",
    FieldType.DATE: "date",
    FieldType.TIMESTAMP: "timestamp",
}

COPY_CHUNK = 1 << 20


class PostgresStore(Store):
    dialect = "postgres"

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema
        try:
            self.conn = psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}".strip(), where=url) from None
        self.conn.execute("SET TIME ZONE 'UTC'")
        if schema:
            self.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
            self.conn.execute(f"SET search_path TO {quote_ident(schema)}")
        self._lock = threading.RLock()

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> int:
        with self._lock:
            cur = self.conn.execute(sql.encode(), checked_params(params))
            return cur.rowcount

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.conn.execute(sql.encode(), checked_params(params)).fetchall()

    def iter_rows(
        self, sql: str, params: Sequence[Any] | None = None, batch: int = 10_000
    ) -> Iterator[list[tuple[Any, ...]]]:
        # A server-side cursor on its own connection keeps memory constant.
        with psycopg.connect(self.url) as conn:
            if self.schema:
                conn.execute(f"SET search_path TO {quote_ident(self.schema)}")
            conn.execute("SET TIME ZONE 'UTC'")
            with conn.cursor(name="cantata_stream") as cur:
                cur.execute(sql.encode(), checked_params(params))
                while rows := cur.fetchmany(batch):
                    yield rows

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock, self.conn.transaction():
            yield

    def close(self) -> None:
        self.conn.close()

    def sql_type(self, ftype: FieldType) -> str:
        return TYPES[ftype]

    def table_exists(self, table: str) -> bool:
        return bool(self.scalar("SELECT to_regclass(%s) IS NOT NULL", [quote_ident(table)]))

    def table_columns(self, table: str) -> list[str]:
        rows = self.fetchall(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            [table],
        )
        return [r[0] for r in rows]

    def copy_to_csv(self, sql: str, path: Path) -> None:
        copy_sql = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)"
        with (
            self._lock,
            self.conn.cursor() as cur,
            open(path, "wb") as f,
            cur.copy(copy_sql.encode()) as copy,
        ):
            for chunk in copy:
                f.write(chunk)

    def copy_from_csv(self, table: str, columns: Sequence[str], path: Path) -> int:
        cols = ", ".join(quote_ident(c) for c in columns)
        sql = f"COPY {quote_ident(table)} ({cols}) FROM STDIN WITH (FORMAT csv, HEADER true)"
        with self._lock, self.conn.cursor() as cur:
            with cur.copy(sql.encode()) as copy, open(path, "rb") as f:
                while chunk := f.read(COPY_CHUNK):
                    copy.write(chunk)
            return cur.rowcount
