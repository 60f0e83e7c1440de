"""Numbered SQL migrations, applied in order at start-up.

`NNNN_name.sql` runs on every engine; `NNNN_name.duckdb.sql` / `NNNN_name.postgres.sql` only on
that one (an engine-specific file replaces the shared one of the same number and name).
Statements are separated by `;` at the end of a line.
"""

from __future__ import annotations

import re
from importlib import resources

from cantata.store.base import Store

FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)(?:\.(duckdb|postgres))?\.sql$")


def pending(store: Store, applied: set[int]) -> list[tuple[int, str, str]]:
    chosen: dict[int, tuple[str, str, bool]] = {}
    for entry in resources.files(__package__).iterdir():
        m = FILE.match(entry.name)
        if not m or (m.group(3) and m.group(3) != store.dialect):
            continue
        number, name, specific = int(m.group(1)), m.group(2), bool(m.group(3))
        if number in chosen and chosen[number][2] and not specific:
            continue
        chosen[number] = (name, entry.read_text(encoding="utf-8"), specific)
    return [(n, name, sql) for n, (name, sql, _) in sorted(chosen.items()) if n not in applied]


def migrate(store: Store) -> list[int]:
    """Apply every migration not yet applied; return the numbers applied now."""
    store.execute(
        "CREATE TABLE IF NOT EXISTS cantata_migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    applied = {r[0] for r in store.fetchall("SELECT version FROM cantata_migrations")}
    done = []
    for number, name, sql in pending(store, applied):
        with store.transaction():
            for statement in re.split(r";\s*$", sql, flags=re.MULTILINE):
                if statement.strip() and not _only_comments(statement):
                    store.execute(statement)
            store.execute(
                "INSERT INTO cantata_migrations VALUES (%s, %s, CURRENT_TIMESTAMP)",
                [number, name],
            )
        done.append(number)
    return done


def _only_comments(statement: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in statement.splitlines())
