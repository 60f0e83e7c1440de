"""The quarantine file: every rejected row with its original columns, `_line` and `_reason`.

Positions are tracked as record numbers (0-based over every record of the file, readable or
not). The CSV reader's output skips the records it refused, so readable row i is record i plus
the refused records before it. A record's line is its number, plus the header, plus the
newlines held inside quoted values of every earlier record — exact even for multi-line values.
"""

from __future__ import annotations

import bisect
import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from cantata.ingest.source import RawSource
from cantata.ingest.validate import q, reasons_sql
from cantata.model import Entity


def quarantine_path(directory: Path, entity: str, source: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    return directory / f"{entity}-{stamp}-{source.stem}.csv"


@dataclass
class _Rejected:
    line: int
    values: list[str | None]
    raw: str | None
    reason: str


def write_quarantine(
    con: duckdb.DuckDBPyConnection, raw: RawSource, entity: Entity, stage: str, path: Path, tag: str
) -> int:
    """Write every rejected row (by validation or by the reader) in line order; return how many."""
    columns = list(raw.columns)
    bad_rows = [
        int(r[0])
        for r in con.execute(f"SELECT rowid FROM {stage} WHERE NOT _ok ORDER BY rowid").fetchall()
    ]
    if raw.format == "csv":
        out = _csv_rejects(con, raw, entity, bad_rows, f"_text_{tag}")
    else:
        out = _other_rejects(con, raw, entity, bad_rows, f"_text_{tag}")
    out.sort(key=lambda r: r.line)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([*columns, "_line", "_raw", "_reason"])
        for r in out:
            writer.writerow([*r.values, r.line, r.raw, r.reason])
    return len(out)


def _fetch(
    con: duckdb.DuckDBPyConnection,
    table: str,
    raw: RawSource,
    types: dict[str, str],
    entity: Entity,
    rowids: list[int],
) -> dict[int, tuple[str, list[str | None]]]:
    """rowid → (every reason the row is rejected, its values as text)."""
    if not rowids:
        return {}
    reason = reasons_sql(types, entity, valid_column=raw.valid_column)
    select = "".join(f", CAST({q(c)} AS VARCHAR)" for c in raw.columns)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table}_ids AS SELECT unnest(?::BIGINT[]) AS id", [rowids]
    )
    try:
        rows = con.execute(
            f"SELECT rowid, {reason}{select} FROM {table} WHERE rowid IN (SELECT id FROM {table}_ids)"
        ).fetchall()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {table}_ids")
    return {int(r[0]): (str(r[1]), list(r[2:])) for r in rows}


def _other_rejects(
    con: duckdb.DuckDBPyConnection, raw: RawSource, entity: Entity, bad_rows: list[int], table: str
) -> list[_Rejected]:
    """Parquet and JSON Lines: no refused records; row i of the stage is row i of the source."""
    source = raw.relation
    if raw.format == "parquet":
        con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {raw.relation}")
        source = table
    try:
        found = _fetch(con, source, raw, raw.columns, entity, bad_rows)
        positions = (
            dict(
                con.execute(f"SELECT rowid, {raw.line_column or 'rowid'} FROM {source}").fetchall()
            )
            if raw.line_column
            else {}
        )
    finally:
        con.execute(f"DROP TABLE IF EXISTS {table}")
    out = []
    for r in bad_rows:
        why, values = found[r]
        out.append(_Rejected(raw.first_line + int(positions.get(r, r)), values, None, why))
    return out


def _csv_rejects(
    con: duckdb.DuckDBPyConnection, raw: RawSource, entity: Entity, bad_rows: list[int], table: str
) -> list[_Rejected]:
    assert raw.text_relation
    # Every record as text, except the unreadable ones (the reader skips the same).
    con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {raw.text_relation}")
    try:
        refused = [r.record for r in raw.rejects]
        unreadable = [r.record for r in raw.rejects if r.structural]
        unreadable_newlines = [0]
        for r in raw.rejects:
            if r.structural:
                unreadable_newlines.append(unreadable_newlines[-1] + r.text.count("\n"))
        text_positions, text_prefix = _newline_prefix(con, raw, table)

        def text_row(record: int) -> int:  # its row in the text table
            return record - bisect.bisect_left(unreadable, record)

        def line(record: int) -> int:
            before = text_row(record)
            newlines = text_prefix[bisect.bisect_left(text_positions, before)]
            newlines += unreadable_newlines[bisect.bisect_left(unreadable, record)]
            return raw.first_line + record + newlines

        records: list[int] = []
        k = 0
        for row in bad_rows:  # ascending: one merge pass over the refused records
            while k < len(refused) and refused[k] <= row + k:
                k += 1
            records.append(row + k)
        text_types = dict.fromkeys(raw.columns, "VARCHAR")
        wanted = [text_row(rec) for rec in records]
        wanted += [text_row(r.record) for r in raw.rejects if not r.structural]
        found = _fetch(con, table, raw, text_types, entity, wanted)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {table}")
    out = []
    for rec in records:
        why, values = found[text_row(rec)]
        out.append(_Rejected(line(rec), values, None, why))
    for rej in raw.rejects:
        if rej.structural:
            out.append(_Rejected(line(rej.record), [None] * len(raw.columns), rej.text, rej.reason))
        else:  # the strict checks on the text name every problem, the reader only its first
            why, values = found[text_row(rej.record)]
            out.append(_Rejected(line(rej.record), values, None, why or rej.reason))
    return out


def _newline_prefix(
    con: duckdb.DuckDBPyConnection, raw: RawSource, table: str
) -> tuple[list[int], list[int]]:
    """Text rows holding newlines (ascending rowids) and the running total before each."""
    newlines = " + ".join(
        f"coalesce(length({q(c)}) - length(replace({q(c)}, chr(10), '')), 0)" for c in raw.columns
    )
    multi = con.execute(
        f"SELECT rowid, {newlines} AS n FROM {table} WHERE ({newlines}) > 0 ORDER BY rowid"
    ).fetchall()
    prefix = [0]
    for _, n in multi:
        prefix.append(prefix[-1] + int(n))
    return [int(r[0]) for r in multi], prefix
