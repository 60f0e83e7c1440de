"""The quarantine file: every rejected row with its original columns, `_line` and `_reason`.

Line numbers are exact for CSV even when quoted values span lines or the reader dropped
malformed lines: a record's line is its position plus the extra newlines held by earlier
records plus the unreadable lines before it.
"""

from __future__ import annotations

import bisect
import csv
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from cantata.ingest.source import RawSource
from cantata.ingest.validate import q


def quarantine_path(directory: Path, entity: str, source: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    return directory / f"{entity}-{stamp}-{source.stem}.csv"


def write_quarantine(con: duckdb.DuckDBPyConnection, raw: RawSource, stage: str, path: Path) -> int:
    """Write rejected rows (typed and structural) in line order; return how many."""
    columns = [c for c in raw.columns if not c.startswith("_") or c == "_change_request_type"]
    select = ", ".join(f"CAST(r.{q(c)} AS VARCHAR)" for c in columns)
    rejected = con.execute(
        f"SELECT s._row, s._reason{', ' + select if select else ''} FROM {stage} s "
        f"JOIN {raw.table} r ON {_raw_row(raw)} = s._row WHERE s._reason <> '' ORDER BY s._row"
    ).fetchall()
    lines, bad_lines = _line_numbers(con, raw, [int(r[0]) for r in rejected])
    out: list[tuple[int, list[str | None]]] = []
    for row, line in zip(rejected, lines, strict=True):
        out.append((line, [*row[2:], None, str(row[1])]))
    for (_, text, reason), line in zip(raw.structural, bad_lines, strict=True):
        out.append((line, [*([None] * len(columns)), text, reason]))
    out.sort(key=lambda item: item[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([*columns, "_line", "_raw", "_reason"])
        for line, values in out:
            writer.writerow([*values[: len(columns)], line, *values[len(columns) :]])
    return len(out)


def _raw_row(raw: RawSource) -> str:
    return f"r.{raw.row_expr}" if raw.row_expr != "rowid" else "r.rowid"


def _line_numbers(
    con: duckdb.DuckDBPyConnection, raw: RawSource, rows: list[int]
) -> tuple[list[int], list[int]]:
    """Input lines of the given raw rows (ascending) and of the structural rejects.

    Work in record numbers (0-based over every record, readable or not): the CSV reader reports
    an unreadable record as line = record + 2, and readable row i is record i plus the number of
    unreadable records before it. A record's line is then its number, plus the header, plus the
    newlines held inside quoted values of every earlier record.
    """
    if raw.format != "csv":
        return [raw.first_line + r for r in rows], [line for line, _, _ in raw.structural]
    bad = [line - raw.first_line for line, _, _ in raw.structural]
    bad_newlines = [text.count("\n") for _, text, _ in raw.structural]
    good_prefix = _newline_prefix(con, raw)

    def newlines_before_good(count: int) -> int:  # newlines in the first `count` readable rows
        positions, prefix = good_prefix
        return prefix[bisect.bisect_left(positions, count)]

    row_lines, k = [], 0
    for r in rows:  # ascending: one merge pass over the unreadable records
        while k < len(bad) and bad[k] <= r + k:
            k += 1
        record = r + k
        row_lines.append(raw.first_line + record + newlines_before_good(r) + sum(bad_newlines[:k]))
    bad_lines = [
        raw.first_line + record + newlines_before_good(record - j) + sum(bad_newlines[:j])
        for j, record in enumerate(bad)
    ]
    return row_lines, bad_lines


def _newline_prefix(con: duckdb.DuckDBPyConnection, raw: RawSource) -> tuple[list[int], list[int]]:
    """Readable rows holding newlines (ascending rowids) and the running total before each."""
    text_columns = [c for c, t in raw.columns.items() if t == "VARCHAR"]
    if not text_columns:
        return [], [0]
    newlines = " + ".join(
        f"coalesce(length({q(c)}) - length(replace({q(c)}, chr(10), '')), 0)" for c in text_columns
    )
    multi = con.execute(
        f"SELECT rowid, {newlines} AS n FROM {raw.table} WHERE ({newlines}) > 0 ORDER BY rowid"
    ).fetchall()
    prefix = [0]
    for _, n in multi:
        prefix.append(prefix[-1] + int(n))
    return [int(r[0]) for r in multi], prefix
