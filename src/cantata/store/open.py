"""Open the store a URL names: `duckdb:///relative/or/absolute.duckdb` or `postgresql://...`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

from cantata.errors import ConfigError
from cantata.store.base import Store
from cantata.store.migrations import migrate


def open_store(url: str, *, base: Path | None = None, schema: str | None = None) -> Store:
    """Open and migrate the store. `base` resolves relative DuckDB paths (the workspace).

    A PostgreSQL URL may carry `?schema=NAME` to keep a workspace in its own schema.
    """
    store: Store
    if url.startswith("duckdb://"):
        from cantata.store.duckdb import DuckDBStore

        # duckdb:///name.duckdb is relative to the workspace; duckdb:////abs/path is absolute.
        raw = url.removeprefix("duckdb://").removeprefix("/") or "cantata.duckdb"
        if raw == ":memory:":
            store = DuckDBStore(":memory:")
        else:
            path = Path(raw)
            store = DuckDBStore(path if path.is_absolute() else (base or Path.cwd()) / path)
    elif url.startswith(("postgresql://", "postgres://")):
        from cantata.store.postgres import PostgresStore

        parts = urlsplit(url)
        query = parse_qs(parts.query)
        schema = schema or (query.pop("schema", [None])[0])
        rest = "&".join(f"{k}={v[0]}" for k, v in query.items())
        clean = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment))
        store = PostgresStore(clean, schema=schema)
    else:
        raise ConfigError(
            f"unsupported store URL {url!r}: use duckdb:///FILE or postgresql://USER@HOST/DB"
        )
    migrate(store)
    return store
