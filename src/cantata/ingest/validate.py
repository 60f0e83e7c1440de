"""Typed validation of raw rows, set-based in DuckDB: one pass builds the staged table with
typed values, the change type, and the reason a row is rejected ('' when it is fine)."""

from __future__ import annotations

import duckdb

from cantata.ingest.source import RawSource
from cantata.model import Entity, Field, FieldType

CHANGE_COLUMN = "_change_request_type"
# What an address must look like to be usable by its channel; rows failing it are rejected.
ADDRESS_PATTERNS = {
    "email": r"[^@\s]+@[^@\s]+\.[^@\s]+",
    "sms": r"\+?[0-9][0-9 ().-]{5,19}",
}
DUCKDB_TYPES = {
    FieldType.STRING: "VARCHAR",
    FieldType.INTEGER: "BIGINT",
    FieldType.DECIMAL: "DECIMAL(18,4)",
    FieldType.FLOAT: "DOUBLE",
    FieldType.BOOLEAN: "BOOLEAN",
    FieldType.DATE: "DATE",
    FieldType.TIMESTAMP: "TIMESTAMP",
}
# Strict text forms: DuckDB's casts are lenient (it rounds '1.5' to an integer, for one).
TEXT_PATTERNS = {
    FieldType.INTEGER: r"[+-]?[0-9]+",
    FieldType.DECIMAL: r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?",
    FieldType.DATE: r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
    FieldType.TIMESTAMP: r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?)?",
}


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def typed_value(column: str, source_type: str, f: Field) -> str:
    """The SQL expression giving the field's typed value, NULL when it does not convert."""
    col = q(column)
    text = source_type == "VARCHAR"
    if f.type is FieldType.STRING:
        return col if text else f"CAST({col} AS VARCHAR)"
    if f.type is FieldType.BOOLEAN and text:
        return (
            f"CASE lower(trim({col})) WHEN 'true' THEN TRUE WHEN '1' THEN TRUE "
            f"WHEN 'false' THEN FALSE WHEN '0' THEN FALSE END"
        )
    if f.type is FieldType.TIMESTAMP:
        # Offsets convert to UTC; naive values are UTC already (the session time zone).
        if text or "WITH TIME ZONE" in source_type:
            inner = f"trim({col})" if text else col
            return f"(TRY_CAST({inner} AS TIMESTAMPTZ) AT TIME ZONE 'UTC')"
        return f"TRY_CAST({col} AS TIMESTAMP)"
    target = DUCKDB_TYPES[f.type]
    if text and f.type in TEXT_PATTERNS:
        return (
            f"CASE WHEN regexp_full_match(trim({col}), {lit(TEXT_PATTERNS[f.type])}) "
            f"THEN TRY_CAST(trim({col}) AS {target}) END"
        )
    return f"TRY_CAST({col} AS {target})"


def _type_reason(column: str, f: Field, value: str) -> str:
    kind = {
        FieldType.INTEGER: "an integer",
        FieldType.DECIMAL: "a decimal number",
        FieldType.FLOAT: "a number",
        FieldType.BOOLEAN: "a boolean (true/false/1/0)",
        FieldType.DATE: "a date (YYYY-MM-DD)",
        FieldType.TIMESTAMP: "an ISO-8601 timestamp",
    }.get(f.type, f.type.value)
    shown = f"left(CAST({q(column)} AS VARCHAR), 80)"
    return (
        f"CASE WHEN {q(column)} IS NOT NULL AND {value} IS NULL THEN "
        f"{lit(f.name + ': ')} || {shown} || {lit(' is not ' + kind)} END"
    )


def build_stage(con: duckdb.DuckDBPyConnection, raw: RawSource, entity: Entity, stage: str) -> None:
    """CREATE TEMP TABLE stage(_row, _op, _reason, <fields typed>) from the raw table."""
    present = {name: typ for name, typ in raw.columns.items() if name in entity.fields}
    values: dict[str, str] = {}
    for name, f in entity.fields.items():
        values[name] = (
            typed_value(name, present[name], f)
            if name in present
            else f"CAST(NULL AS {DUCKDB_TYPES[f.type]})"
        )
    op = (
        f"lower(trim(CAST({q(CHANGE_COLUMN)} AS VARCHAR)))"
        if CHANGE_COLUMN in raw.columns
        else "'u'"
    )
    key = entity.key
    # Problems that reject any row, then those that only matter for upserts (a delete carries
    # just the key and, when versioned, the version).
    always = [
        f"CASE WHEN {values[key]} IS NULL AND {q(key) if key in present else 'NULL'} IS NULL "
        f"THEN {lit('missing key ' + key)} END",
        f"CASE WHEN coalesce({op}, 'u') NOT IN ('u', 'd') THEN "
        f"'unknown change type ' || {lit(CHANGE_COLUMN)} || '=' || {op} || ' (use u or d)' END",
    ]
    upsert_only: list[str] = []
    for name, f in entity.fields.items():
        if name not in present:
            continue
        reason = _type_reason(name, f, values[name])
        (always if name in (key, entity.version) else upsert_only).append(reason)
        if f.values is not None:
            allowed = ", ".join(lit(str(v)) for v in f.values)
            upsert_only.append(
                f"CASE WHEN {values[name]} IS NOT NULL AND CAST({values[name]} AS VARCHAR) "
                f"NOT IN ({allowed}) THEN {lit(name + ': ')} || CAST({values[name]} AS VARCHAR)"
                f" || {lit(' is not one of ' + ', '.join(str(v) for v in f.values))} END"
            )
        if f.address in ADDRESS_PATTERNS:
            upsert_only.append(
                f"CASE WHEN {values[name]} IS NOT NULL AND NOT regexp_full_match("
                f"trim({values[name]}), {lit(ADDRESS_PATTERNS[f.address])}) THEN "
                f"{lit(name + ': ')} || left({values[name]}, 80) || "
                f"{lit(' is not a valid ' + f.address + ' address')} END"
            )
    reason = (
        f"concat_ws('; ', {', '.join(always)}"
        + (
            f", CASE WHEN coalesce({op}, 'u') = 'u' THEN nullif(concat_ws('; ', "
            f"{', '.join(upsert_only)}), '') END"
            if upsert_only
            else ""
        )
        + ")"
    )
    if raw.valid_column:  # a line that is not JSON has nothing else worth reporting
        reason = f"CASE WHEN {raw.valid_column} THEN {reason} ELSE 'not a JSON object' END"
    typed = ", ".join(f"{values[n]} AS {q(n)}" for n in entity.fields)
    con.execute(
        f"CREATE TEMP TABLE {stage} AS SELECT {raw.row_expr} AS _row, "
        f"coalesce({op}, 'u') AS _op, {reason} AS _reason, {typed} FROM {raw.table}"
    )
