"""Apply validated rows to the entity table in one transaction.

Per key, the winning row of the file is the one with the highest version (then the last in
the file); it is skipped if the store holds a newer version or a newer delete (tombstone).
Then: delete the winners' keys, insert the upserts, record deletes as tombstones. The same SQL
runs on both engines; only how the winners reach the store differs (same DuckDB connection, or
PostgreSQL COPY into a temporary table).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from cantata.ingest.transfer import copy_rows, transfer
from cantata.ingest.validate import q
from cantata.model import Entity
from cantata.store.base import Store
from cantata.store.schema import tombstone_table


@dataclass
class Applied:
    upserted: int
    deleted: int
    stale: int


def pick_winners(con: duckdb.DuckDBPyConnection, entity: Entity, stage: str, winners: str) -> int:
    """Keep one row per key among the valid ones; return how many rows lost within the file.

    Most files hold each key once: then the winners are a view over the stage, not a copy.
    """
    key = q(entity.key)
    fields = ", ".join(q(f) for f in entity.fields)
    row = con.execute(f"SELECT count(*), count(DISTINCT {key}) FROM {stage} WHERE _ok").fetchone()
    assert row
    valid, distinct = int(row[0]), int(row[1])
    if valid == distinct:
        con.execute(f"CREATE TEMP VIEW {winners} AS SELECT _op, {fields} FROM {stage} WHERE _ok")
        return 0
    order = f"{q(entity.version)} DESC NULLS LAST, rowid DESC" if entity.version else "rowid DESC"
    con.execute(
        f"CREATE TEMP TABLE {winners} AS SELECT _op, {fields} FROM {stage} WHERE _ok "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {order}) = 1"
    )
    return valid - distinct


def apply_winners(
    store: Store, con: duckdb.DuckDBPyConnection, entity: Entity, winners: str
) -> Applied:
    columns = [("_op", "text")] + [(f.name, store.sql_type(f.type)) for f in entity.fields.values()]
    with store.transaction():
        if store.dialect != "duckdb" and _nothing_stored(store, entity):
            return _copy_into_empty(store, con, entity, winners)
        incoming = transfer(store, con, winners, f"cantata_incoming_{entity.name}", columns)
        return _apply(store, entity, incoming)


def _nothing_stored(store: Store, entity: Entity) -> bool:
    if not _is_empty(store, q(entity.table)):
        return False
    return not entity.version or _is_empty(store, q(tombstone_table(entity)))


def _copy_into_empty(
    store: Store, con: duckdb.DuckDBPyConnection, entity: Entity, winners: str
) -> Applied:
    """A first load has nothing to compare with: COPY the upserts straight into the table
    (and the versioned deletes into the tombstones), skipping the temporary table."""
    counts = dict(con.execute(f"SELECT _op, count(*) FROM {winners} GROUP BY _op").fetchall())
    fields = list(entity.fields)
    copy_rows(
        store,
        con,
        f"SELECT {', '.join(q(f) for f in fields)} FROM {winners} WHERE _op = 'u'",
        entity.table,
        fields,
    )
    if entity.version:
        copy_rows(
            store,
            con,
            f"SELECT {q(entity.key)} AS key, {q(entity.version)} AS version FROM {winners} "
            f"WHERE _op = 'd' AND {q(entity.version)} IS NOT NULL",
            tombstone_table(entity),
            ["key", "version"],
        )
    return Applied(int(counts.get("u", 0)), int(counts.get("d", 0)), 0)


def _apply(store: Store, entity: Entity, incoming: str) -> Applied:
    table, key = q(entity.table), q(entity.key)
    tombs = q(tombstone_table(entity)) if entity.version else None
    counts = {
        op: int(n) for op, n in store.fetchall(f"SELECT _op, count(*) FROM {incoming} GROUP BY _op")
    }
    total = sum(counts.values())
    fresh = incoming
    if not _is_empty(store, table) or (tombs and not _is_empty(store, tombs)):
        # Drop rows the store already holds in a newer version (or deleted in a newer one).
        fresh = q(f"cantata_fresh_{entity.name}")
        joins = f"LEFT JOIN {table} t ON t.{key} = w.{key}"
        where = ""
        if entity.version:
            version = q(entity.version)
            joins += f" LEFT JOIN {tombs} d ON d.key = w.{key}"
            where = (
                f"WHERE NOT (coalesce(t.{version} > w.{version}, FALSE) "
                f"OR coalesce(d.version > w.{version}, FALSE))"
            )
        store.execute(f"DROP TABLE IF EXISTS {fresh}")
        store.execute(f"CREATE TEMP TABLE {fresh} AS SELECT w.* FROM {incoming} w {joins} {where}")
        counts = dict(store.fetchall(f"SELECT _op, count(*) FROM {fresh} GROUP BY _op"))
        store.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {fresh})")
    fields = ", ".join(q(f) for f in entity.fields)
    store.execute(f"INSERT INTO {table} ({fields}) SELECT {fields} FROM {fresh} WHERE _op = 'u'")
    if tombs and entity.version:
        store.execute(f"DELETE FROM {tombs} WHERE key IN (SELECT {key} FROM {fresh})")
        store.execute(
            f"INSERT INTO {tombs} (key, version) SELECT {key}, {q(entity.version)} FROM {fresh} "
            f"WHERE _op = 'd' AND {q(entity.version)} IS NOT NULL"
        )
    if fresh != incoming:
        store.execute(f"DROP TABLE {fresh}")
    upserted, deleted = int(counts.get("u", 0)), int(counts.get("d", 0))
    return Applied(upserted, deleted, total - upserted - deleted)


def _is_empty(store: Store, table: str) -> bool:
    return store.fetchone(f"SELECT 1 FROM {table} LIMIT 1") is None
