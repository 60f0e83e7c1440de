"""One file into one entity: read → validate → quarantine → pick winners → apply atomically.

Data moves through the engines' bulk paths only: DuckDB's readers do the reading and the
validation (on the store's own connection for a DuckDB store, on an in-memory one otherwise),
PostgreSQL receives the winners by COPY. Python never loops over rows, except to write the
(small) quarantine file.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from cantata.errors import IngestError, did_you_mean
from cantata.ingest.apply import apply_winners, pick_winners
from cantata.ingest.quarantine import quarantine_path, write_quarantine
from cantata.ingest.source import collect_rejects, drop_source, open_source
from cantata.ingest.transfer import release, validation_connection
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
    con = validation_connection(store)
    tag = uuid.uuid4().hex[:10]
    stage_t, win_t = f"_stage_{tag}", f"_win_{tag}"
    source = None
    try:
        step(f"reading {path.name}")
        source = open_source(con, path, tag, entity)
        _check_columns(source.columns, entity.fields, entity.key, path)
        step("validating")
        try:
            build_stage(
                con,
                source.relation,
                source.columns,
                entity,
                stage_t,
                valid_column=source.valid_column,
            )
        except duckdb.Error as exc:
            raise IngestError(
                f"cannot read the file: {exc}".splitlines()[0], where=str(path)
            ) from None
        collect_rejects(con, source, entity)
        total = _count(con, f"SELECT count(*) FROM {stage_t}") + len(source.rejects)
        rejected = _count(con, f"SELECT count(*) FROM {stage_t} WHERE NOT _ok")
        rejected += len(source.rejects)
        quarantine = None
        if rejected:
            step("writing the quarantine file")
            qpath = quarantine_path(quarantine_dir, entity.name, path)
            write_quarantine(con, source, entity, stage_t, qpath, tag)
            quarantine = str(qpath)
        step("choosing one row per key")
        lost_in_file = pick_winners(con, entity, stage_t, win_t)
        step(f"applying to {entity.name}")
        applied = apply_winners(store, con, entity, win_t)
        if store.dialect == "postgres" and applied.upserted + applied.deleted > 10_000:
            store.execute(f'ANALYZE "{entity.table}"')  # plans for audiences right away
    finally:
        for kind in ("VIEW", "TABLE"):  # the winners are one or the other
            with contextlib.suppress(duckdb.CatalogException):
                con.execute(f"DROP {kind} IF EXISTS {win_t}")
        con.execute(f"DROP TABLE IF EXISTS {stage_t}")
        if source is not None:
            drop_source(con, source, tag)
        release(store, con)
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


def _check_columns(columns: dict[str, str], fields: dict[str, Any], key: str, path: Path) -> None:
    allowed = set(fields) | {CHANGE_COLUMN}
    unknown = [c for c in columns if c not in allowed]
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
