"""Read an input file into a raw DuckDB table through DuckDB's own readers.

CSV is read as text (every column VARCHAR) so that validation, not the reader, decides what is
a bad value; rows the CSV reader cannot split are kept as structural rejects with their line.
JSON Lines are read one line per row and unpacked with DuckDB's JSON functions, so a malformed
line becomes a rejected row instead of failing the file. Parquet keeps its own types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cantata.errors import IngestError

FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


@dataclass
class RawSource:
    """The raw table `table` (one row per input record, `rowid` in file order)."""

    table: str
    format: str
    columns: dict[str, str]  # column → DuckDB type of the raw value
    # CSV lines the reader could not split: (1-based line, the line's text, the error).
    structural: list[tuple[int, str, str]] = field(default_factory=list)
    # The input line of rowid 0 (CSV: 2, after the header; others: 1).
    first_line: int = 1
    # How to get a record's position in the file (0-based) from the raw table.
    row_expr: str = "rowid"
    # JSON Lines: the column telling whether the line was a valid JSON object.
    valid_column: str | None = None


def detect_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise IngestError(
            f"unknown file type {path.suffix!r}: use .csv, .parquet or .jsonl", where=str(path)
        )
    return fmt


def read_source(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> RawSource:
    if not path.is_file():
        raise IngestError("no such file", where=str(path))
    fmt = detect_format(path)
    try:
        if fmt == "csv":
            return _read_csv(con, path, table)
        if fmt == "parquet":
            con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM read_parquet(?)", [str(path)])
            return RawSource(table, fmt, _columns(con, table))
        return _read_jsonl(con, path, table)
    except duckdb.Error as exc:
        raise IngestError(f"cannot read the file: {_first_line(exc)}", where=str(path)) from None


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> RawSource:
    rejects, scans = f"{table}_rejects", f"{table}_scans"
    con.execute(
        f"CREATE TEMP TABLE {table} AS SELECT * FROM read_csv(?, header = true, "
        f"all_varchar = true, store_rejects = true, rejects_table = '{rejects}', "
        f"rejects_scan = '{scans}')",
        [str(path)],
    )
    structural = con.execute(
        f"SELECT line, any_value(csv_line), string_agg(DISTINCT error_message, '; ') "
        f"FROM {rejects} GROUP BY line ORDER BY line"
    ).fetchall()
    con.execute(f"DROP TABLE IF EXISTS {rejects}")
    con.execute(f"DROP TABLE IF EXISTS {scans}")
    return RawSource(
        table,
        "csv",
        _columns(con, table),
        [(int(line), str(text), f"unreadable CSV row: {msg}") for line, text, msg in structural],
        first_line=2,
    )


def _read_jsonl(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> RawSource:
    lines = f"{table}_lines"
    # One JSON document per line: no quoting, and a delimiter (US, 0x1f) that valid JSON text
    # never holds unescaped.
    con.execute(
        f"CREATE TEMP TABLE {lines} AS SELECT * FROM read_csv(?, header = false, "
        "columns = {'j': 'VARCHAR'}, delim = chr(31), quote = '', escape = '')",
        [str(path)],
    )
    keys = con.execute(
        f"SELECT DISTINCT unnest(json_keys(j)) FROM {lines} "
        "WHERE CASE WHEN json_valid(j) THEN json_type(j) = 'OBJECT' ELSE FALSE END"
    ).fetchall()
    names = sorted(k[0] for k in keys)
    extracts = ", ".join(
        f"CASE WHEN _valid THEN j ->> {_sql_string('$.' + _json_key(n))} END AS {_ident(n)}"
        for n in names
    )
    con.execute(
        f"CREATE TEMP TABLE {table} AS SELECT _row, _valid, j AS _json"
        f"{', ' + extracts if extracts else ''} FROM ("
        f"SELECT rowid AS _row, j, CASE WHEN json_valid(j) THEN json_type(j) = 'OBJECT' "
        f"ELSE FALSE END AS _valid FROM {lines}) WHERE j IS NOT NULL AND trim(j) <> '' ORDER BY _row"
    )
    con.execute(f"DROP TABLE {lines}")
    return RawSource(
        table, "jsonl", {n: "VARCHAR" for n in names}, row_expr="_row", valid_column="_valid"
    )


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE {table}").fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _json_key(name: str) -> str:
    return '"' + name.replace('"', '\\"') + '"'


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
