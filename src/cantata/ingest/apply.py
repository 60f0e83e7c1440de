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

from cantata.ingest.transfer import transfer
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
    """Keep one row per key among the valid ones; return how many rows lost within the file."""
    order = f"{q(entity.version)} DESC NULLS LAST, _row DESC" if entity.version else "_row DESC"
    fields = ", ".join(q(f) for f in entity.fields)
    con.execute(
        f"CREATE TEMP TABLE {winners} AS SELECT _op, {fields} FROM {stage} WHERE _reason = '' "
        f"QUALIFY row_number() OVER (PARTITION BY {q(entity.key)} ORDER BY {order}) = 1"
    )
    valid = con.execute(f"SELECT count(*) FROM {stage} WHERE _reason = ''").fetchone()
    kept = con.execute(f"SELECT count(*) FROM {winners}").fetchone()
    assert valid and kept
    return int(valid[0]) - int(kept[0])


def apply_winners(
    store: Store, con: duckdb.DuckDBPyConnection, entity: Entity, winners: str
) -> Applied:
    columns = [("_op", "text")] + [(f.name, store.sql_type(f.type)) for f in entity.fields.values()]
    with store.transaction():
        incoming = transfer(store, con, winners, f"cantata_incoming_{entity.name}", columns)
        return _apply(store, entity, incoming)


def _apply(store: Store, entity: Entity, incoming: str) -> Applied:
    table, key = q(entity.table), q(entity.key)
    fresh = q(f"cantata_fresh_{entity.name}")
    stale_checks = []
    joins = f"LEFT JOIN {table} t ON t.{key} = w.{key}"
    if entity.version:
        version = q(entity.version)
        tombs = q(tombstone_table(entity))
        joins += f" LEFT JOIN {tombs} d ON d.key = w.{key}"
        stale_checks = [
            f"coalesce(t.{version} > w.{version}, FALSE)",
            f"coalesce(d.version > w.{version}, FALSE)",
        ]
    where = f"WHERE NOT ({' OR '.join(stale_checks)})" if stale_checks else ""
    total = store.scalar(f"SELECT count(*) FROM {q(incoming)}")
    store.execute(f"DROP TABLE IF EXISTS {fresh}")
    store.execute(f"CREATE TEMP TABLE {fresh} AS SELECT w.* FROM {q(incoming)} w {joins} {where}")
    counts = dict(store.fetchall(f"SELECT _op, count(*) FROM {fresh} GROUP BY _op"))
    store.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {fresh})")
    fields = ", ".join(q(f) for f in entity.fields)
    store.execute(f"INSERT INTO {table} ({fields}) SELECT {fields} FROM {fresh} WHERE _op = 'u'")
    if entity.version:
        tombs = q(tombstone_table(entity))
        store.execute(f"DELETE FROM {tombs} WHERE key IN (SELECT {key} FROM {fresh})")
        store.execute(
            f"INSERT INTO {tombs} (key, version) SELECT {key}, {q(entity.version)} FROM {fresh} "
            f"WHERE _op = 'd' AND {q(entity.version)} IS NOT NULL"
        )
    store.execute(f"DROP TABLE {fresh}")
    upserted, deleted = int(counts.get("u", 0)), int(counts.get("d", 0))
    return Applied(upserted, deleted, int(total) - upserted - deleted)
