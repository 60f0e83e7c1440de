"""Typed validation, set-based in DuckDB.

One pass over the input builds the staged table: typed values, the change type, and `_ok`.
Reasons are spelled out in a second, small pass over the rejected rows only (see
`reasons_sql`), so a clean load pays for the checks, not for the messages.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from cantata.model import Entity, Field, FieldType
from cantata.store.duckdb import TYPES as STORE_TYPES

CHANGE_COLUMN = "_change_request_type"
# What an address must look like to be usable by its channel; rows failing it are rejected.
ADDRESS_PATTERNS = {
    "email": r"[^@\s]+@[^@\s]+\.[^@\s]+",
    "sms": r"\+?[0-9][0-9 ().-]{5,19}",
}
DUCKDB_TYPES = STORE_TYPES  # values are validated into the types the DuckDB store keeps
# Strict text forms: DuckDB's casts are lenient ('1.5' rounds to 2, '0x10' is 16, and a date
# followed by junk still casts), so text must match these first.
TEXT_PATTERNS = {
    FieldType.INTEGER: r"\s*[+-]?[0-9]+\s*",
    FieldType.DECIMAL: r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*",
    FieldType.FLOAT: r"\s*[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|inf|infinity|nan)\s*",
    FieldType.DATE: r"\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\s*",
}
KINDS = {
    FieldType.INTEGER: "an integer",
    FieldType.DECIMAL: "a decimal number",
    FieldType.FLOAT: "a number",
    FieldType.BOOLEAN: "a boolean (true/false/1/0)",
    FieldType.DATE: "a date (YYYY-MM-DD)",
    FieldType.TIMESTAMP: "an ISO-8601 timestamp",
}


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def typed_value(column: str, source_type: str, f: Field) -> str:
    """The SQL expression giving the field's typed value, NULL when it does not convert."""
    col = q(column)
    if source_type != "VARCHAR":
        if f.type is FieldType.STRING:
            return f"CAST({col} AS VARCHAR)"
        if f.type is FieldType.TIMESTAMP and "WITH TIME ZONE" in source_type:
            # The instant as naive UTC, by arithmetic (AT TIME ZONE goes through ICU per row).
            return f"make_timestamp(epoch_us({col}))"
        return f"TRY_CAST({col} AS {DUCKDB_TYPES[f.type]})"
    if f.type is FieldType.STRING:
        return col
    if f.type is FieldType.BOOLEAN:
        return (
            f"CASE lower(trim({col})) WHEN 'true' THEN TRUE WHEN '1' THEN TRUE "
            f"WHEN 'false' THEN FALSE WHEN '0' THEN FALSE END"
        )
    if f.type is FieldType.TIMESTAMP:
        # Cheap checks first: the cast accepts trailing junk, so the text must end like a
        # time (a digit or Z). An offset after the time needs the (slower) zone-aware cast;
        # a naive value or one ending in Z is UTC already.
        tail = f"substr({col}, 12)"
        return (
            f"CASE WHEN NOT (regexp_full_match(right(rtrim({col}), 1), '[0-9Z]')) THEN NULL "
            f"WHEN contains({tail}, '+') OR contains({tail}, '-') "
            f"THEN make_timestamp(epoch_us(TRY_CAST({col} AS TIMESTAMPTZ))) "
            f"ELSE TRY_CAST({col} AS TIMESTAMP) END"
        )
    strict = f"regexp_full_match({col}, {lit(TEXT_PATTERNS[f.type])})"
    return f"CASE WHEN {strict} THEN TRY_CAST({col} AS {DUCKDB_TYPES[f.type]}) END"


@dataclass(frozen=True)
class Check:
    """A condition (true = the row is bad) and the SQL text explaining it."""

    bad: str
    reason: str
    upsert_only: bool  # a delete carries just the key (and version): other fields don't matter


def checks(
    columns: dict[str, str], entity: Entity, *, staged: bool = False
) -> tuple[dict[str, str], str, list[Check]]:
    """Typed value expressions per field, the change-type expression, and the row checks.

    With `staged`, the checks read the columns of `_typed_rows` (typed values, `_op`, and
    `_has_<field>` telling whether the raw value was present) instead of the raw row.
    """
    present = {name: typ for name, typ in columns.items() if name in entity.fields}
    values = {
        name: typed_value(name, present[name], f)
        if name in present
        else f"CAST(NULL AS {DUCKDB_TYPES[f.type]})"
        for name, f in entity.fields.items()
    }
    op = (
        f"coalesce(lower(trim(CAST({q(CHANGE_COLUMN)} AS VARCHAR))), 'u')"
        if CHANGE_COLUMN in columns
        else "'u'"
    )
    if staged:
        values = {name: q(name) for name in entity.fields}
        op = "_op"
    key = entity.key
    out = [
        Check(f"{values[key]} IS NULL", lit(f"missing key {key}"), False)
        if key in present
        else Check("TRUE", lit(f"missing key {key}"), False),
        Check(
            f"{op} NOT IN ('u', 'd')",
            f"'unknown change type {CHANGE_COLUMN}=' || {op} || ' (use u or d)'",
            False,
        ),
    ]
    for name, f in entity.fields.items():
        if name not in present:
            continue
        col = values[name] if staged and f.type is FieldType.STRING else q(name)
        present_raw = f"_has_{name}" if staged else f"{col} IS NOT NULL"
        if f.type is not FieldType.STRING:
            shown = f"left(CAST({col} AS VARCHAR), 80)"
            out.append(
                Check(
                    f"({present_raw} AND {values[name]} IS NULL)",
                    f"{lit(name + ': ')} || {shown} || {lit(' is not ' + KINDS[f.type])}",
                    name not in (key, entity.version),
                )
            )
        if f.values is not None:
            allowed = ", ".join(lit(str(v)) for v in f.values)
            as_text = f"CAST({values[name]} AS VARCHAR)"
            out.append(
                Check(
                    f"coalesce({as_text} NOT IN ({allowed}), FALSE)",
                    f"{lit(name + ': ')} || {as_text} || "
                    f"{lit(' is not one of ' + ', '.join(str(v) for v in f.values))}",
                    True,
                )
            )
        if f.address in ADDRESS_PATTERNS:
            pattern = lit(ADDRESS_PATTERNS[f.address])
            out.append(
                Check(
                    f"coalesce(NOT regexp_full_match(trim({col}), {pattern}), FALSE)",
                    f"{lit(name + ': ')} || left({col}, 80) || "
                    f"{lit(' is not a valid ' + f.address + ' address')}",
                    True,
                )
            )
    return values, op, out


def _bad(check: Check, op: str) -> str:
    return f"({op} = 'u' AND {check.bad})" if check.upsert_only else check.bad


def build_stage(
    con: duckdb.DuckDBPyConnection,
    source: str,
    columns: dict[str, str],
    entity: Entity,
    stage: str,
    *,
    valid_column: str | None = None,
) -> None:
    """CREATE TEMP TABLE stage(_op, _ok, <fields typed>) from `source`, in source order."""
    values, op, _ = checks(columns, entity)
    _, _, row_checks = checks(columns, entity, staged=True)
    bad = " OR ".join(_bad(c, "_op") for c in row_checks)
    if valid_column:
        bad = f"NOT {valid_column} OR {bad}"
    typed = ", ".join(f"{values[n]} AS {q(n)}" for n in entity.fields)
    # Whether a raw value was there, for fields whose typed value may be null on failure.
    has = "".join(
        f", {q(n)} IS NOT NULL AS _has_{n}"
        for n, f in entity.fields.items()
        if n in columns and f.type is not FieldType.STRING
    )
    extra = f", {valid_column}" if valid_column else ""
    fields = ", ".join(q(n) for n in entity.fields)
    con.execute(
        f"CREATE TEMP TABLE {stage} AS SELECT _op, NOT coalesce({bad}, FALSE) AS _ok, {fields} "
        f"FROM (SELECT {op} AS _op, {typed}{has}{extra} FROM {source}) AS _typed_rows"
    )


def reasons_sql(columns: dict[str, str], entity: Entity, *, valid_column: str | None) -> str:
    """An expression over the raw row giving every reason it is rejected, '; '-separated."""
    _, op, row_checks = checks(columns, entity)
    parts = ", ".join(f"CASE WHEN {_bad(c, op)} THEN {c.reason} END" for c in row_checks)
    reason = f"concat_ws('; ', {parts})"
    if valid_column:  # a line that is not JSON has nothing else worth reporting
        reason = f"CASE WHEN {valid_column} THEN {reason} ELSE 'not a JSON object' END"
    return reason
