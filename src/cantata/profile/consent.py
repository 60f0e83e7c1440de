"""Consent per recipient, channel and purpose. Imports are set-based and keep the newest
record per (recipient, channel, purpose): an older `updated_at` never overwrites a newer one."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cantata.errors import IngestError
from cantata.ingest.source import collect_rejects, drop_source, open_source
from cantata.ingest.transfer import release, transfer, validation_connection
from cantata.ingest.validate import lit, typed_value
from cantata.model import Entity, Field, FieldType
from cantata.store.base import Store

CHANNELS = ("email", "sms", "push", "mail", "webhook")
STATUSES = ("granted", "denied")
COLUMNS = ("recipient", "channel", "purpose", "status", "source", "updated_at")
# How the file is read: every column as text, validated below.
CONSENT_RECORD = Entity("consent", "recipient", {c: Field(c, FieldType.STRING) for c in COLUMNS})


@dataclass
class ConsentImport:
    read: int
    applied: int
    skipped: int
    rejected: int
    rejects: list[tuple[int, str]]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def import_consent(store: Store, path: Path, *, now: datetime | None = None) -> ConsentImport:
    """Import a CSV/Parquet/JSONL of consent records (recipient, channel, status required;
    purpose defaults to marketing, updated_at to now)."""
    stamp = (now or datetime.now(UTC)).replace(tzinfo=None)
    con = validation_connection(store)
    tag = uuid.uuid4().hex[:10]
    raw_t, stage_t = f"_consent_raw_{tag}", f"_consent_{tag}"
    try:
        raw = open_source(con, path, tag, CONSENT_RECORD)
        con.execute(f"CREATE TEMP TABLE {raw_t} AS SELECT * FROM {raw.relation}")
        collect_rejects(con, raw, CONSENT_RECORD)
        missing = [c for c in ("recipient", "channel", "status") if c not in raw.columns]
        if missing:
            raise IngestError(f"missing column {missing[0]!r}", where=str(path))
        unknown = [c for c in raw.columns if c not in COLUMNS and not c.startswith("_")]
        if unknown:
            raise IngestError(
                f"unknown column {unknown[0]!r}; expected {', '.join(COLUMNS)}", where=str(path)
            )

        def col(name: str, default: str) -> str:
            return f'trim(CAST("{name}" AS VARCHAR))' if name in raw.columns else default

        updated = (
            typed_value(
                "updated_at", raw.columns["updated_at"], Field("updated_at", FieldType.TIMESTAMP)
            )
            if "updated_at" in raw.columns
            else "NULL"
        )
        channels = ", ".join(lit(c) for c in CHANNELS)
        con.execute(
            f"CREATE TEMP TABLE {stage_t} AS SELECT rowid AS _row, "
            f"{col('recipient', 'NULL')} AS recipient, lower({col('channel', 'NULL')}) AS channel, "
            f"coalesce(nullif({col('purpose', 'NULL')}, ''), 'marketing') AS purpose, "
            f"lower({col('status', 'NULL')}) AS status, {col('source', 'NULL')} AS source, "
            f"coalesce({updated}, TIMESTAMP '{stamp.isoformat(sep=' ')}') AS updated_at, "
            f"concat_ws('; ', "
            f"CASE WHEN {col('recipient', 'NULL')} IS NULL THEN 'missing recipient' END, "
            f"CASE WHEN lower({col('channel', 'NULL')}) NOT IN ({channels}) OR "
            f"{col('channel', 'NULL')} IS NULL THEN 'unknown channel ' || "
            f"coalesce({col('channel', 'NULL')}, '(empty)') END, "
            f"CASE WHEN coalesce(lower({col('status', 'NULL')}), '') NOT IN ('granted', 'denied') "
            f"THEN 'status must be granted or denied' END, "
            f"CASE WHEN {col('updated_at', 'NULL')} IS NOT NULL AND {updated} IS NULL "
            f"THEN 'updated_at is not an ISO-8601 timestamp' END) AS _reason FROM {raw_t}"
        )
        rejects = [
            (raw.first_line + int(r), str(reason))
            for r, reason in con.execute(
                f"SELECT _row, _reason FROM {stage_t} WHERE _reason <> '' ORDER BY _row"
            ).fetchall()
        ] + [(raw.first_line + r.record, r.reason) for r in raw.rejects]
        total = int(con.execute(f"SELECT count(*) FROM {stage_t}").fetchall()[0][0])
        total += len(raw.rejects)
        con.execute(
            f"DELETE FROM {stage_t} WHERE _reason <> '' OR _row NOT IN (SELECT _row FROM "
            f"{stage_t} WHERE _reason = '' QUALIFY row_number() OVER (PARTITION BY recipient, "
            "channel, purpose ORDER BY updated_at DESC, _row DESC) = 1)"
        )
        columns = [(c, "TIMESTAMP" if c == "updated_at" else "TEXT") for c in COLUMNS]
        with store.transaction():
            incoming = transfer(store, con, stage_t, f"cantata_consent_in_{tag}", columns)
            newer = (
                "EXISTS (SELECT 1 FROM cantata_consent c WHERE c.recipient = i.recipient AND "
                "c.channel = i.channel AND c.purpose = i.purpose AND c.updated_at > i.updated_at)"
            )
            applied = int(store.scalar(f"SELECT count(*) FROM {incoming} i WHERE NOT {newer}"))
            store.execute(
                f"DELETE FROM cantata_consent WHERE EXISTS (SELECT 1 FROM {incoming} i WHERE "
                "i.recipient = cantata_consent.recipient AND i.channel = cantata_consent.channel "
                "AND i.purpose = cantata_consent.purpose "
                "AND i.updated_at >= cantata_consent.updated_at)"
            )
            cols = ", ".join(COLUMNS)
            store.execute(
                f"INSERT INTO cantata_consent ({cols}) SELECT {cols} FROM {incoming} i "
                f"WHERE NOT {newer}"
            )
    finally:
        con.execute(f"DROP TABLE IF EXISTS {raw_t}")
        drop_source(con, raw, tag)
        con.execute(f"DROP TABLE IF EXISTS {stage_t}")
        release(store, con)
    valid = total - len(rejects)
    return ConsentImport(total, applied, valid - applied, len(rejects), rejects)


def set_consent(
    store: Store,
    recipient: str,
    channel: str,
    status: str,
    *,
    purpose: str = "marketing",
    source: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Record one consent decision (an unsubscribe link, a preference page) unless a newer
    record exists; return True when the stored status changed."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown consent channel {channel!r} (one of {', '.join(CHANNELS)})")
    if status not in STATUSES:
        raise ValueError(f"consent status must be granted or denied, not {status!r}")
    stamp = now or datetime.now(UTC)
    if stamp.tzinfo is not None:  # stored as naive UTC
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    key = [recipient, channel, purpose]
    with store.transaction():
        row = store.fetchone(
            "SELECT status, updated_at FROM cantata_consent "
            "WHERE recipient = %s AND channel = %s AND purpose = %s",
            key,
        )
        if row is not None and row[1] > stamp:
            return False  # a newer decision stands, as in import_consent
        store.execute(
            "DELETE FROM cantata_consent WHERE recipient = %s AND channel = %s AND purpose = %s",
            key,
        )
        store.execute(
            "INSERT INTO cantata_consent (recipient, channel, purpose, status, source, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [*key, status, source, stamp],
        )
    return row is None or row[0] != status
