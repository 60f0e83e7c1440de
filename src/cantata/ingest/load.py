"""One file into one entity: read → validate → quarantine → pick winners → apply atomically.

Data moves through the engines' bulk paths only: DuckDB's readers do the reading and the
validation (on the store's own connection for a DuckDB store, on an in-memory one otherwise),
PostgreSQL receives the winners by COPY. Python never loops over rows, except to write the
(small) quarantine file.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from cantata.errors import IngestError, did_you_mean
from cantata.ingest.apply import apply_winners, pick_winners
from cantata.ingest.quarantine import quarantine_path, write_quarantine
from cantata.ingest.source import read_source
from cantata.ingest.validate import CHANGE_COLUMN, build_stage
from cantata.model import Model
from cantata.store.base import Store

Progress = Callable[[str], None]


@dataclass
class IngestResult:
    entity: str
    read: int
    upserted: int
    deleted: int
    skipped: int
    rejected: int
    quarantine: str | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def ingest_file(
    store: Store,
    model: Model,
    entity_name: str,
    path: Path,
    *,
    quarantine_dir: Path,
    progress: Progress | None = None,
) -> IngestResult:
    if entity_name not in model.entities:
        raise IngestError(
            f"unknown entity {entity_name!r}{did_you_mean(entity_name, model.entities)}"
        )
    entity = model.entities[entity_name]
    step = progress or (lambda _: None)
    con = _validation_connection(store)
    tag = uuid.uuid4().hex[:10]
    raw_t, stage_t, win_t = f"_raw_{tag}", f"_stage_{tag}", f"_win_{tag}"
    try:
        step(f"reading {path.name}")
        raw = read_source(con, path, raw_t)
        _check_columns(raw.columns, entity.fields, entity.key, path, raw.format)
        step("validating")
        build_stage(con, raw, entity, stage_t)
        total = _count(con, f"SELECT count(*) FROM {stage_t}") + len(raw.structural)
        rejected_rows = _count(con, f"SELECT count(*) FROM {stage_t} WHERE _reason <> ''")
        quarantine = None
        if rejected_rows or raw.structural:
            step("writing the quarantine file")
            qpath = quarantine_path(quarantine_dir, entity.name, path)
            write_quarantine(con, raw, stage_t, qpath)
            quarantine = str(qpath)
        step("choosing one row per key")
        lost_in_file = pick_winners(con, entity, stage_t, win_t)
        step(f"applying to {entity.name}")
        applied = apply_winners(store, con, entity, win_t)
        if store.dialect == "postgres" and applied.upserted + applied.deleted > 10_000:
            store.execute(f'ANALYZE "{entity.table}"')  # plans for audiences right away
    finally:
        for table in (raw_t, stage_t, win_t):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        if store.dialect != "duckdb":
            con.close()
    rejected = rejected_rows + len(raw.structural)
    result = IngestResult(
        entity=entity.name,
        read=total,
        upserted=applied.upserted,
        deleted=applied.deleted,
        skipped=lost_in_file + applied.stale,
        rejected=rejected,
        quarantine=quarantine,
    )
    assert result.read == result.upserted + result.deleted + result.skipped + result.rejected
    return result


def _validation_connection(store: Store) -> duckdb.DuckDBPyConnection:
    con: duckdb.DuckDBPyConnection | None = getattr(store, "con", None)
    if store.dialect == "duckdb" and con is not None:
        return con
    fresh = duckdb.connect()
    fresh.execute("SET TimeZone = 'UTC'")
    return fresh


def _check_columns(
    columns: dict[str, str], fields: dict[str, Any], key: str, path: Path, fmt: str
) -> None:
    allowed = set(fields) | {CHANGE_COLUMN}
    internal = {"_row", "_valid", "_json"} if fmt == "jsonl" else set()
    unknown = [c for c in columns if c not in allowed and c not in internal]
    if unknown:
        raise IngestError(
            f"unknown column {unknown[0]!r}{did_you_mean(unknown[0], allowed)}; the columns "
            f"must be fields of the entity (or {CHANGE_COLUMN})",
            where=str(path),
        )
    if key not in columns:
        raise IngestError(f"missing key column {key!r}", where=str(path))


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0
