"""The few places where worktable SQL differs between DuckDB and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import date, datetime

from cantata.model import FieldType
from cantata.store.base import Store, quote_ident

# The advisory lock of a run is (hash of the workspace's schema, run id): run ids repeat
# across workspaces sharing a database.
_RUN_LOCK = "hashtext('cantata_run:' || current_schema()), CAST(%s AS INTEGER)"


def ordered(expr: str, ftype: FieldType | str | None, dialect: str) -> str:
    """An expression to ORDER BY: strings by code point on every engine (as the audience
    compiler compares them), so that sorts and picks agree across engines."""
    if dialect == "postgres" and ftype in (FieldType.STRING, FieldType.STRING.value):
        return f'({expr}) COLLATE "C"'
    return expr


def seeded_order(key: str, seed: int, dialect: str) -> str:
    """A repeatable pseudo-random order of keys for a seed: the same on both engines (md5 of
    the seed and the key as text), so a seeded sample draws the same rows everywhere."""
    digest = f"md5({sql_literal(f'{seed}:')} || CAST({key} AS TEXT))"
    return ordered(digest, FieldType.STRING, dialect)


def collection(dialect: str, items: Sequence[tuple[str, str]], order_by: str) -> str:
    """An aggregate of related rows as a list of records: DuckDB a LIST of STRUCTs, PostgreSQL
    a jsonb array of objects. Both read back in Python as a list of dicts."""
    if dialect == "postgres":
        pairs = ", ".join(f"{sql_literal(name)}, {expr}" for name, expr in items)
        return f"jsonb_agg(jsonb_build_object({pairs}) ORDER BY {order_by})"
    fields = ", ".join(f"{quote_ident(name)} := {expr}" for name, expr in items)
    return f"list(struct_pack({fields}) ORDER BY {order_by})"


def empty_collection(dialect: str) -> str:
    return "CAST('[]' AS jsonb)" if dialect == "postgres" else "[]"


def sql_literal(value: object) -> str:
    """A Python value as an SQL literal (strings quoted, times cast)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"CAST('{value.isoformat(sep=' ')}' AS TIMESTAMP)"
    if isinstance(value, date):
        return f"CAST('{value.isoformat()}' AS DATE)"
    return "'" + str(value).replace("'", "''") + "'"


def analyze(store: Store, table: str) -> None:
    """Give PostgreSQL's planner statistics on a fresh worktable: without them it guesses, and
    may nested-loop over a million rows downstream. DuckDB keeps its own."""
    if store.dialect == "postgres":
        store.execute(f"ANALYZE {quote_ident(table)}")


def others_can_watch(store: Store) -> bool:
    """Whether another process can read the store while this one runs an activity: only then
    is an activity worth recording as running before its transaction. A DuckDB store has one
    owner process, which holds the store through the activity's transaction."""
    return store.dialect == "postgres"


# Runs being advanced by a thread of this process, by store: the API's threads and the
# background worker of `cantata serve --all` share one store (one connection, so on
# PostgreSQL one session, whose advisory locks it may take twice).
_ADVANCING: set[tuple[int, int]] = set()
_ADVANCING_GUARD = threading.Lock()


def try_lock_run(store: Store, run_id: int) -> bool:
    """Take the run's lock; False when another thread of this process, or another process,
    holds it. A crashed process's session lock goes with its connection (PostgreSQL); a
    DuckDB store has one owner process."""
    key = (id(store), run_id)
    with _ADVANCING_GUARD:
        if key in _ADVANCING:
            return False
        _ADVANCING.add(key)
    if store.dialect == "postgres" and not store.scalar(
        f"SELECT pg_try_advisory_lock({_RUN_LOCK})", [run_id]
    ):
        with _ADVANCING_GUARD:
            _ADVANCING.discard(key)
        return False
    return True


def unlock_run(store: Store, run_id: int) -> None:
    try:
        if store.dialect == "postgres":
            store.scalar(f"SELECT pg_advisory_unlock({_RUN_LOCK})", [run_id])
    finally:
        with _ADVANCING_GUARD:
            _ADVANCING.discard((id(store), run_id))
