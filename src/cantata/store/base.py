"""What every store does; engines override only what differs (types, bulk load, locking).

SQL passed to `execute`/`fetch*` uses psycopg's positional placeholder `%s`; engines with
another paramstyle translate it. Identifiers come from the validated model (lower_snake_case)
and are still quoted with `quote_ident`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Literal

from cantata.errors import StoreError
from cantata.model import FieldType

Dialect = Literal["duckdb", "postgres"]


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def checked_params(params: Sequence[Any] | None) -> list[Any] | None:
    """The parameters, refused when a text one holds NUL: PostgreSQL cannot store it, and
    DuckDB refuses it too so a name or value means the same on every engine."""
    if params is None:
        return None
    found = list(params)
    for value in found:
        if isinstance(value, str) and "\x00" in value:
            raise StoreError(f"{value!r} contains a NUL character (\\x00), which text cannot hold")
    return found


class Store(ABC):
    dialect: Dialect
    url: str

    # --- statements -------------------------------------------------------------------
    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> int:
        """Run one statement; return the affected row count when the engine reports it."""

    @abstractmethod
    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]: ...

    def fetchone(self, sql: str, params: Sequence[Any] | None = None) -> tuple[Any, ...] | None:
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        row = self.fetchone(sql, params)
        return row[0] if row else None

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """All statements inside commit together or not at all (nesting joins the outer one)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- types and catalogue ----------------------------------------------------------
    @abstractmethod
    def sql_type(self, ftype: FieldType) -> str: ...

    @abstractmethod
    def table_exists(self, table: str) -> bool: ...

    @abstractmethod
    def table_columns(self, table: str) -> list[str]: ...

    # --- bulk data --------------------------------------------------------------------
    @abstractmethod
    def copy_from_csv(self, table: str, columns: Sequence[str], path: Path) -> int:
        """Append the rows of a headed CSV file (RFC 4180, empty unquoted cell = null) to
        `table` through the engine's bulk path; return the number of rows."""

    @abstractmethod
    def copy_to_csv(self, sql: str, path: Path) -> None:
        """Write a query's rows to a headed CSV file through the engine's bulk path."""

    @abstractmethod
    def iter_rows(
        self, sql: str, params: Sequence[Any] | None = None, batch: int = 10_000
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Stream a query's rows in batches (constant memory)."""
