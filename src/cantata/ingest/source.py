"""Read an input file through DuckDB's own readers.

CSV is read as text (every column VARCHAR) so that validation, not the reader, decides what is
a bad value; records the CSV reader cannot split are kept as structural rejects with their
record number. JSON Lines are read one line per row and unpacked with DuckDB's JSON functions,
so a malformed line becomes a rejected row instead of failing the file. Parquet keeps its types.

A source is a relation (`relation`, usable in FROM) yielding records in file order, so that the
n-th row of any table made from it with CREATE TABLE AS has rowid n.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cantata.errors import IngestError
from cantata.ingest.validate import lit, q
from cantata.model import Entity, FieldType

# RFC 4180 as the SPEC has it: comma, double quotes, a header; no sniffing (it guesses wrong
# on files with bad rows), every value read as text.
CSV_OPTIONS = "header = true, auto_detect = false, delim = ',', quote = '\"', escape = '\"'"
FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


# The CSV reader parses some types natively (fast), but it is lenient where that would lose
# data: it rounds '1.5' into an integer, reads 'yes' as a boolean and ignores a timestamp's
# offset. Those are read as text and converted strictly; see validate.typed_value.
READER_TYPES = {
    FieldType.STRING: "VARCHAR",
    FieldType.INTEGER: "VARCHAR",
    FieldType.DECIMAL: "DECIMAL(18,4)",
    FieldType.FLOAT: "DOUBLE",
    FieldType.BOOLEAN: "VARCHAR",
    FieldType.DATE: "DATE",
    FieldType.TIMESTAMP: "VARCHAR",
}
_CAST_VALUE = re.compile(r'Could not convert string "(.*)" to', re.DOTALL)


@dataclass(frozen=True)
class ReaderReject:
    """A record the reader refused: unreadable (structural) or a value it could not parse."""

    record: int  # 0-based over all records of the file
    text: str
    reason: str
    structural: bool


@dataclass
class RawSource:
    path: Path
    format: str
    relation: str
    columns: dict[str, str]  # column → DuckDB type of the raw value
    # The input line of record 0 (CSV: 2, after the header; others: 1).
    first_line: int = 1
    # CSV records the reader refused, in file order (see collect_rejects).
    rejects: list[ReaderReject] = field(default_factory=list)
    # JSON Lines: whether the line was a JSON object, and its 0-based line in the file.
    valid_column: str | None = None
    line_column: str | None = None
    rejects_table: str | None = None
    # CSV: every column as text, to show rejected rows as they were written.
    text_relation: str | None = None


def detect_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise IngestError(
            f"unknown file type {path.suffix!r}: use .csv, .parquet or .jsonl", where=str(path)
        )
    return fmt


def open_source(con: duckdb.DuckDBPyConnection, path: Path, tag: str, entity: Entity) -> RawSource:
    if not path.is_file():
        raise IngestError("no such file", where=str(path))
    fmt = detect_format(path)
    try:
        if fmt == "csv":
            names = csv_header(path)
            columns = {
                n: READER_TYPES[entity.fields[n].type] if n in entity.fields else "VARCHAR"
                for n in names
            }
            text = {n: "VARCHAR" for n in names}
            rejects = f"_rejects_{tag}"
            relation = (
                f"read_csv({lit(str(path))}, {CSV_OPTIONS}, columns = {csv_columns(columns)}, "
                f"store_rejects = true, rejects_table = '{rejects}', "
                f"rejects_scan = '_scans_{tag}')"
            )
            return RawSource(
                path,
                fmt,
                relation,
                columns,
                first_line=2,
                rejects_table=rejects,
                text_relation=f"read_csv({lit(str(path))}, {CSV_OPTIONS}, "
                f"columns = {csv_columns(text)}, ignore_errors = true)",
            )
        if fmt == "parquet":
            relation = f"read_parquet({lit(str(path))})"
            return RawSource(path, fmt, relation, _describe(con, relation))
        return _open_jsonl(con, path, f"_lines_{tag}")
    except duckdb.Error as exc:
        raise IngestError(f"cannot read the file: {_first_line(exc)}", where=str(path)) from None


def csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), None)
    if not header or not any(h.strip() for h in header):
        raise IngestError("the CSV file has no header row", where=f"{path}:1")
    names = [h.strip() for h in header]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise IngestError(f"duplicate column {duplicates[0]!r} in the header", where=f"{path}:1")
    return names


def csv_columns(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"{lit(n)}: {lit(t)}" for n, t in columns.items()) + "}"


def collect_rejects(con: duckdb.DuckDBPyConnection, source: RawSource, entity: Entity) -> None:
    """After a scan of a CSV source: the records the reader refused, in file order."""
    if not source.rejects_table:
        return
    rows = con.execute(
        f"SELECT line, any_value(csv_line), list(error_type ORDER BY column_idx), "
        f"list(column_name ORDER BY column_idx), list(error_message ORDER BY column_idx) "
        f"FROM {source.rejects_table} GROUP BY line ORDER BY line"
    ).fetchall()
    rejects = []
    for line, text, kinds, names, messages in rows:
        structural = any(k != "CAST" for k in kinds)
        if structural:
            reason = "unreadable CSV row: " + "; ".join(
                dict.fromkeys(str(m) for k, m in zip(kinds, messages, strict=True) if k != "CAST")
            )
        else:
            reason = "; ".join(
                _cast_reason(str(n), str(m), entity) for n, m in zip(names, messages, strict=True)
            )
        # The reader numbers records as if each took one line, after the header.
        rejects.append(ReaderReject(int(line) - source.first_line, str(text), reason, structural))
    source.rejects = rejects


def _cast_reason(column: str, message: str, entity: Entity) -> str:
    from cantata.ingest.validate import KINDS

    m = _CAST_VALUE.search(message)
    value = m.group(1) if m else "?"
    field_type = entity.fields[column].type if column in entity.fields else FieldType.STRING
    return f"{column}: {value[:80]} is not {KINDS.get(field_type, field_type.value)}"


def drop_source(con: duckdb.DuckDBPyConnection, source: RawSource, tag: str) -> None:
    for table in (f"_rejects_{tag}", f"_scans_{tag}", f"_lines_{tag}"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _open_jsonl(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> RawSource:
    lines = f"{table}_text"
    # One JSON document per line: no quoting, and a delimiter (US, 0x1f) that valid JSON text
    # never holds unescaped.
    con.execute(
        f"CREATE TEMP TABLE {lines} AS SELECT * FROM read_csv(?, header = false, "
        "columns = {'j': 'VARCHAR'}, delim = chr(31), quote = '', escape = '')",
        [str(path)],
    )
    is_object = "CASE WHEN json_valid(j) THEN json_type(j) = 'OBJECT' ELSE FALSE END"
    keys = con.execute(f"SELECT DISTINCT unnest(json_keys(j)) FROM {lines} WHERE {is_object}")
    names = sorted(str(k[0]) for k in keys.fetchall())
    extracts = "".join(
        f", CASE WHEN _valid THEN j ->> {lit('$.' + _json_key(n))} END AS {q(n)}" for n in names
    )
    con.execute(
        f"CREATE TEMP TABLE {table} AS SELECT _line, _valid{extracts} FROM ("
        f"SELECT rowid AS _line, j, {is_object} AS _valid FROM {lines}) "
        "WHERE j IS NOT NULL AND trim(j) <> '' ORDER BY _line"
    )
    con.execute(f"DROP TABLE {lines}")
    return RawSource(
        path,
        "jsonl",
        table,
        {n: "VARCHAR" for n in names},
        valid_column="_valid",
        line_column="_line",
    )


def _describe(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def _json_key(name: str) -> str:
    return '"' + name.replace('"', '\\"') + '"'


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
