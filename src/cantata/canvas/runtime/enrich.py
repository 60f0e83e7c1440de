"""Enrichment at run time: one statement adding columns to the population's rows.

To-one attributes are LEFT JOINs along their path. Each aggregate and each top-N collection is
computed over the related rows of the population's keys only, grouped by the link's foreign
key, and LEFT JOINed: one row per input row, whatever the number of related rows.
"""

from __future__ import annotations

from typing import cast

from cantata.canvas.activities.targeting import Aggregate, Enrich, Related
from cantata.canvas.runtime.dialect import collection, empty_collection, ordered
from cantata.canvas.runtime.node import NodeContext, Output, PortResult, Write
from cantata.canvas.runtime.paths import Rows
from cantata.canvas.runtime.targeting import carried, input_rows, rule_keys, sort_order
from cantata.canvas.runtime.worktable import KEY, PORT, Slice
from cantata.model import FieldType, Relation
from cantata.store.base import quote_ident as q


def enrich(ctx: NodeContext) -> Output:
    s = cast(Enrich, ctx.settings)
    rows = input_rows(ctx)
    projection = [f"{rows.key} AS {q(KEY)}", *carried(rows, list(rows.columns))]
    for attr in s.attributes:
        name = attr.column or attr.path.replace(".", "_")
        projection.append(f"{rows.path(attr.path).sql} AS {q(name)}")
    to_many = ctx.model.to_many(rows.entity)
    for agg in s.aggregates:
        name = agg.column or "_".join(p for p in (agg.fn, agg.link, agg.field) if p).replace(
            ".", "_"
        )
        projection.append(f"{_aggregate(ctx, rows, to_many[agg.link], agg)} AS {q(name)}")
    for rel in s.related:
        name = rel.column or rel.link
        projection.append(f"{_related(ctx, rows, to_many[rel.link], rel)} AS {q(name)}")
    projection.append(f"'out' AS {q(PORT)}")
    table = ctx.table()
    select = f"SELECT {', '.join(projection)} FROM {rows.from_clause}"
    return Output(
        {"out": PortResult(Slice(table, "out", ctx.columns()))}, [Write(table, select, "out")]
    )


def _source(ctx: NodeContext, rows: Rows, relation: Relation) -> str:
    """The input rows' side of a to-many link: their key, or the field the link starts from."""
    if relation.source_field == ctx.model.entities[rows.entity].key:
        return rows.key
    return rows.field(relation.source_field)


def _related_rows(
    ctx: NodeContext, rows: Rows, relation: Relation, where: object, alias: str
) -> tuple[Rows, str, list[str]]:
    """The related entity's table, its foreign key, and the filters: the rule, and only the
    rows related to the population (a small population never aggregates a whole table)."""
    inner = Rows(
        ctx.model, relation.target, q(ctx.model.entities[relation.target].table), alias, table=True
    )
    fk = inner.field(relation.target_field)
    filters = [f"{fk} IS NOT NULL"]
    if relation.source_field == ctx.model.entities[rows.entity].key:
        slice_sql = ctx.input_slice().select()
        filters.append(f"{fk} IN (SELECT s.{q(KEY)} FROM ({slice_sql}) AS s)")
    if where is not None:
        filters.append(f"{inner.key} IN ({rule_keys(ctx, where, relation.target)})")  # type: ignore[arg-type]
    return inner, fk, filters


def _aggregate(ctx: NodeContext, rows: Rows, relation: Relation, agg: Aggregate) -> str:
    alias = rows.new_alias("agg")
    inner, fk, filters = _related_rows(ctx, rows, relation, agg.where, f"{alias}_r")
    if agg.fn == "count":
        value = "count(*)"
    else:
        assert agg.field is not None, "checked by validation"
        field = inner.path(agg.field)
        ftype = FieldType(field.type)
        if agg.fn == "sum":
            # DuckDB sums integers as HUGEINT and PostgreSQL as numeric: back to the field's type.
            value = f"CAST(sum({field.sql}) AS {ctx.store.sql_type(ftype)})"
        elif agg.fn == "avg":
            kind = FieldType.DECIMAL if ftype is FieldType.DECIMAL else FieldType.FLOAT
            value = f"CAST(avg({field.sql}) AS {ctx.store.sql_type(kind)})"
        else:
            value = f"{agg.fn}({ordered(field.sql, ftype, ctx.dialect)})"
    grouped = (
        f"SELECT {fk} AS k, {value} AS v FROM {inner.from_clause} "
        f"WHERE {' AND '.join(filters)} GROUP BY {fk}"
    )
    rows.join(f"LEFT JOIN ({grouped}) AS {alias} ON {alias}.k = {_source(ctx, rows, relation)}")
    # count and sum over no related rows are 0 (as in rules); avg, min and max are null.
    if agg.fn in ("count", "sum"):
        return f"COALESCE({alias}.v, 0)"
    return f"{alias}.v"


def _related(ctx: NodeContext, rows: Rows, relation: Relation, rel: Related) -> str:
    alias = rows.new_alias("top")
    inner, fk, filters = _related_rows(ctx, rows, relation, rel.where, f"{alias}_r")
    fields = [(path.replace(".", "_"), inner.path(path).sql) for path in rel.fields]
    order = sort_order(inner, rel.sort, ctx.dialect)
    order.append(f"{ordered(inner.key, inner.key_type, ctx.dialect)} ASC")
    items = ", ".join(f"{sql} AS _f{i}" for i, (_, sql) in enumerate(fields))
    ranked = (
        f"SELECT {fk} AS k, {items}, row_number() OVER (PARTITION BY {fk} ORDER BY "
        f"{', '.join(order)}) AS _rn FROM {inner.from_clause} WHERE {' AND '.join(filters)}"
    )
    packed = collection(
        ctx.dialect, [(name, f"_f{i}") for i, (name, _) in enumerate(fields)], "_rn"
    )
    top = f"SELECT k, {packed} AS v FROM ({ranked}) AS ranked WHERE _rn <= {rel.limit} GROUP BY k"
    rows.join(f"LEFT JOIN ({top}) AS {alias} ON {alias}.k = {_source(ctx, rows, relation)}")
    return f"COALESCE({alias}.v, {empty_collection(ctx.dialect)})"
