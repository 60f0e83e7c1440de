"""The suppression list: addresses never to contact on a channel, whatever the consent."""

from __future__ import annotations

import csv
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from cantata.errors import IngestError
from cantata.ingest.transfer import release, transfer, validation_connection
from cantata.store.base import Store

REASONS = ("hard_bounce", "complaint", "unsubscribed", "manual", "invalid", "legal")


def normalize_address(address: str, channel: str) -> str:
    """Emails compare case-insensitively; phone numbers by digits (and a leading +)."""
    address = address.strip()
    if channel == "email":
        return address.lower()
    if channel == "sms":
        return ("+" if address.startswith("+") else "") + "".join(c for c in address if c.isdigit())
    return address


@dataclass(frozen=True)
class Suppression:
    address: str
    channel: str
    reason: str
    since: datetime
    source: str | None


def add_suppression(
    store: Store,
    address: str,
    channel: str,
    reason: str = "manual",
    *,
    source: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Suppress an address; return False when it already was (the first reason is kept)."""
    if not address.strip():
        raise IngestError("the address is empty")
    normalized = normalize_address(address, channel)
    since = (now or datetime.now(UTC)).replace(tzinfo=None)
    with store.transaction():
        exists = store.scalar(
            "SELECT count(*) FROM cantata_suppression WHERE channel = %s AND address = %s",
            [channel, normalized],
        )
        if exists:
            return False
        store.execute(
            "INSERT INTO cantata_suppression (address, channel, reason, since, source) "
            "VALUES (%s, %s, %s, %s, %s)",
            [normalized, channel, reason, since, source],
        )
    return True


def import_suppressions(
    store: Store, path: Path, *, default_channel: str | None = None, now: datetime | None = None
) -> tuple[int, int, list[tuple[int, str]]]:
    """Import a CSV with `address` and optionally `channel`, `reason`; return (read, added,
    rejects as (line, reason)). The file is applied in one transaction."""
    try:
        f = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise IngestError(f"cannot read the file: {exc.strerror}", where=str(path)) from None
    rows: list[tuple[str, str, str]] = []
    rejects: list[tuple[int, str]] = []
    with f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "address" not in reader.fieldnames:
            raise IngestError("missing column 'address'", where=str(path))
        for record in reader:
            line = reader.line_num
            channel = (record.get("channel") or default_channel or "").strip().lower()
            address = (record.get("address") or "").strip()
            if not address:
                rejects.append((line, "missing address"))
            elif not channel:
                rejects.append((line, "missing channel (add a channel column or --channel)"))
            else:
                rows.append((address, channel, (record.get("reason") or "manual").strip()))
    return len(rows) + len(rejects), _add_all(store, rows, path.name, now), rejects


def _add_all(
    store: Store, rows: list[tuple[str, str, str]], source: str, now: datetime | None
) -> int:
    """Add the addresses not yet suppressed, set-based (a list runs to millions of rows);
    return how many. Within the file, an address's first reason is kept."""
    first: dict[tuple[str, str], str] = {}
    for address, channel, reason in rows:
        first.setdefault((channel, normalize_address(address, channel)), reason)
    if not first:
        return 0
    since = (now or datetime.now(UTC)).replace(tzinfo=None)
    incoming = pa.table(
        {
            "address": [a for _, a in first],
            "channel": [c for c, _ in first],
            "reason": list(first.values()),
        }
    )
    con = validation_connection(store)
    stage = f"_suppression_in_{uuid.uuid4().hex[:10]}"
    try:
        con.register(f"{stage}_arrow", incoming)
        con.execute(f"CREATE TEMP TABLE {stage} AS SELECT * FROM {stage}_arrow")
        con.unregister(f"{stage}_arrow")
        columns = [("address", "TEXT"), ("channel", "TEXT"), ("reason", "TEXT")]
        with store.transaction():
            table = transfer(store, con, stage, f"cantata_suppression_in_{stage[-10:]}", columns)
            return store.execute(
                "INSERT INTO cantata_suppression (address, channel, reason, since, source) "
                f"SELECT i.address, i.channel, i.reason, %s, %s FROM {table} AS i WHERE NOT "
                "EXISTS (SELECT 1 FROM cantata_suppression AS s WHERE s.channel = i.channel "
                "AND s.address = i.address)",
                [since, source],
            )
    finally:
        con.execute(f"DROP TABLE IF EXISTS {stage}")
        release(store, con)


def list_suppressions(
    store: Store, *, channel: str | None = None, limit: int = 100
) -> list[Suppression]:
    where, params = ("WHERE channel = %s", [channel]) if channel else ("", [])
    rows = store.fetchall(
        f"SELECT address, channel, reason, since, source FROM cantata_suppression {where} "
        f"ORDER BY since DESC, address LIMIT {int(limit)}",
        params,
    )
    return [Suppression(*r) for r in rows]
