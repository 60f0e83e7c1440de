"""Targeting activities at run time: each one set-based SQL statement per worktable it writes.

Every statement reads worktable slices and entity tables and yields `_key`, the carried columns
and `_port`; rules are compiled by the audience compiler at the node's time (`as_of`) and
joined by key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import cast

from cantata.audience import portal
from cantata.audience.compile import audience_sql
from cantata.canvas.activities.base import Population, RuleSource, SortKey, parse_rule_setting
from cantata.canvas.activities.targeting import (
    BuildAudience,
    ChangeDimension,
    Choose,
    Combine,
    Dedupe,
    IncrementalQuery,
    Limit,
    ReadAudience,
    SaveAudience,
    Split,
)
from cantata.canvas.runtime.dialect import ordered, seeded_order, sql_literal
from cantata.canvas.runtime.node import Arrival, NodeContext, Output, PortResult, Write
from cantata.canvas.runtime.paths import Rows
from cantata.canvas.runtime.runs import RunError
from cantata.canvas.runtime.worktable import KEY, PORT, Slice
from cantata.canvas.timestamps import db_time
from cantata.model import FieldType
from cantata.store.base import quote_ident as q

# --- shared pieces ----------------------------------------------------------------------------


def rule_keys(ctx: NodeContext, raw: RuleSource, entity: str) -> str:
    """The SELECT of the keys of `entity` matching a rule setting, at the node's time."""
    rule = parse_rule_setting(raw)
    return audience_sql(rule, ctx.model, entity, now=ctx.as_of, dialect=ctx.dialect)


def _written(
    ctx: NodeContext,
    select: str,
    ports: Sequence[str],
    *,
    part: str = "",
    skip_empty: Sequence[str] = (),
) -> tuple[Write, dict[str, PortResult]]:
    table = ctx.table(part)
    results = {
        p: PortResult(Slice(table, p, ctx.columns(p)), skip_empty=p in skip_empty) for p in ports
    }
    return Write(table, select, ports[0] if len(ports) == 1 else None), results


def _one_table(ctx: NodeContext, select: str, ports: Sequence[str] = ("out",)) -> Output:
    write, results = _written(ctx, select, ports)
    return Output(results, [write])


def input_rows(ctx: NodeContext, arrival: Arrival | None = None, alias: str = "i") -> Rows:
    arrival = arrival or ctx.input()
    flow = arrival.transition.flow
    assert isinstance(flow, Population), f"{arrival.ref} carries no rows"
    source = f"({_slice(arrival).select()})"
    return Rows(ctx.model, flow.entity, source, alias, columns=dict(flow.columns))


def carried(rows: Rows, columns: Sequence[str]) -> list[str]:
    return [f"{q(rows.alias)}.{q(c)}" for c in columns]


def _key_order(rows: Rows, dialect: str) -> str:
    return ordered(rows.key, rows.key_type, dialect)


def sort_order(rows: Rows, keys: Sequence[SortKey], dialect: str) -> list[str]:
    """ORDER BY terms for sort keys (paths or columns): nulls last, strings by code point."""
    out = []
    for key in keys:
        value = rows.value(key.field)
        out.append(f"{ordered(value.sql, value.type, dialect)} {key.order.upper()} NULLS LAST")
    return out


# --- sources ----------------------------------------------------------------------------------


def build_audience(ctx: NodeContext) -> Output:
    s = cast(BuildAudience, ctx.settings)
    ent = ctx.model.entities[s.entity]
    if s.rule is None:
        select = f"SELECT {q(ent.key)} AS {q(KEY)}, 'out' AS {q(PORT)} FROM {q(ent.table)}"
    else:
        keys = rule_keys(ctx, s.rule, s.entity)
        select = f"SELECT a.{q(KEY)}, 'out' AS {q(PORT)} FROM ({keys}) AS a({q(KEY)})"
    return _one_table(ctx, select)


def read_audience(ctx: NodeContext) -> Output:
    s = cast(ReadAudience, ctx.settings)
    entity = ctx.population().entity
    version = s.version or _audience_version(ctx, s.audience)
    ent = ctx.model.entities[entity]
    key = f"e.{q(ent.key)}"
    key_text = key if ent.key_field.type is FieldType.STRING else f"CAST({key} AS TEXT)"
    select = (
        f"SELECT {key} AS {q(KEY)}, 'out' AS {q(PORT)} FROM {q(ent.table)} AS e "
        f"WHERE {key_text} IN (SELECT m.key FROM cantata_audience_member AS m "
        f"WHERE m.audience = {sql_literal(s.audience)} AND m.version = {int(version)})"
    )
    out = _one_table(ctx, select)
    out.details["audience_version"] = version
    return out


def _audience_version(ctx: NodeContext, name: str) -> int:
    """The latest version saved by the node's time; the latest at all when none was (a test
    run dated before the audience existed still reads it)."""
    at = ctx.store.scalar(
        "SELECT max(version) FROM cantata_audience WHERE name = %s AND created_at <= %s",
        [name, db_time(ctx.as_of)],
    )
    if at is None:
        at = ctx.store.scalar("SELECT max(version) FROM cantata_audience WHERE name = %s", [name])
    if at is None:
        raise RunError(f"no saved audience {name!r}: save it, or change the read_audience node")
    return int(at)


def incremental_query(ctx: NodeContext) -> Output:
    s = cast(IncrementalQuery, ctx.settings)
    ent = ctx.model.entities[s.entity]
    run, campaign, node = ctx.run.id, ctx.run.campaign, ctx.node
    since = db_time(ctx.as_of - timedelta(days=s.history_days))
    if s.rule is None:
        keys = f"SELECT {q(ent.key)} FROM {q(ent.table)}"
    else:
        keys = rule_keys(ctx, s.rule, s.entity)
    out_port = f"'out' AS {q(PORT)}"
    if s.mode == "new_keys":
        key_text = f"CAST(a.{q(KEY)} AS TEXT)"
        select = (
            f"SELECT a.{q(KEY)}, {out_port} FROM ({keys}) AS a({q(KEY)}) "
            "LEFT JOIN (SELECT DISTINCT h.key FROM cantata_incremental_key AS h "
            f"WHERE h.campaign = {sql_literal(campaign)} AND h.node = {sql_literal(node)} "
            f"AND h.output_at > {sql_literal(since)} AND h.run <> {run}) AS seen "
            f"ON seen.key = {key_text} WHERE seen.key IS NULL"
        )
    else:
        assert s.date_field is not None, "checked by validation"
        previous = ctx.store.scalar(
            "SELECT max(n.as_of) FROM cantata_node_run AS n JOIN cantata_run AS r ON r.id = n.run "
            "WHERE r.campaign = %s AND n.node = %s AND n.status = 'done' AND NOT r.test_mode "
            "AND r.id <> %s AND n.as_of < %s",
            [campaign, node, run, db_time(ctx.as_of)],
        )
        lower = max(previous, since) if previous is not None else since
        moment = f"CAST(e.{q(s.date_field)} AS TIMESTAMP)"
        select = (
            f"SELECT e.{q(ent.key)} AS {q(KEY)}, {out_port} FROM {q(ent.table)} AS e "
            f"WHERE e.{q(ent.key)} IN ({keys}) AND {moment} > {sql_literal(lower)} "
            f"AND {moment} <= {sql_literal(db_time(ctx.as_of))}"
        )
    out = _one_table(ctx, select)
    if not ctx.test_mode:
        table = out.writes[0].table

        def remember() -> None:
            # Exactly once with the node's completion: a redo never double-counts.
            for sql in (
                "INSERT INTO cantata_incremental_key (campaign, node, key, run, output_at) "
                f"SELECT {sql_literal(campaign)}, {sql_literal(node)}, CAST({q(KEY)} AS TEXT), "
                f"{run}, {sql_literal(db_time(ctx.as_of))} FROM {q(table)}",
                "DELETE FROM cantata_incremental_key WHERE campaign = "
                f"{sql_literal(campaign)} AND node = {sql_literal(node)} "
                f"AND output_at <= {sql_literal(since)}",
            ):
                ctx.statements.append(sql)
                ctx.store.execute(sql)

        out.on_commit.append(remember)
    return out


# --- set operations ---------------------------------------------------------------------------


def inbound_index(inputs: Sequence[Arrival], ref: str) -> int:
    """The inbound transition `ref` names: `node.port`, or `node` (validation made it unique)."""
    for i, a in enumerate(inputs):
        if a.ref == ref:
            return i
    return next(i for i, a in enumerate(inputs) if a.transition.source == ref)


def combine(ctx: NodeContext) -> Output:
    s = cast(Combine, ctx.settings)
    inputs = ctx.inputs
    primary = inbound_index(inputs, s.primary) if s.primary is not None else None
    tagged = " UNION ALL ".join(
        f"SELECT s.{q(KEY)}, {i} AS _src FROM ({a.slice.select()}) AS s"
        for i, a in enumerate(inputs)
        if a.slice is not None
    )
    in_primary = (
        f"max(CASE WHEN _src = {primary} THEN 1 ELSE 0 END)" if primary is not None else "0"
    )
    keyed = (
        f"SELECT {q(KEY)}, count(*) AS _n, min(_src) AS _first, {in_primary} AS _in_p "
        f"FROM tagged GROUP BY {q(KEY)}"
    )
    ports = ("out",) if s.operation == "union" else ("out", "complement")
    columns = list(dict.fromkeys(c for p in ports for c in ctx.columns(p)))
    joins: list[str] = []
    values: list[str] = []
    if columns and s.operation == "union":
        # A key in several inputs takes its columns from the first of them (edge order).
        sources = [i for i, a in enumerate(inputs) if a.slice is not None]
        for i in sources:
            joins.append(
                f"LEFT JOIN ({_slice(inputs[i]).select()}) AS c{i} ON c{i}.{q(KEY)} = k.{q(KEY)}"
            )
        for col in columns:
            cases = " ".join(f"WHEN {i} THEN c{i}.{q(col)}" for i in sources)
            values.append(f"CASE k._first {cases} END AS {q(col)}")
    elif columns:
        source = primary if primary is not None else 0
        joins.append(
            f"LEFT JOIN ({_slice(inputs[source]).select()}) AS c ON c.{q(KEY)} = k.{q(KEY)}"
        )
        values = [f"c.{q(col)}" for col in columns]
    where = ""
    if s.operation == "union":
        port = "'out'"
    elif s.operation == "intersection":
        port = f"CASE WHEN k._n = {len(inputs)} THEN 'out' ELSE 'complement' END"
    else:
        port = "CASE WHEN k._n = 1 THEN 'out' ELSE 'complement' END"
        where = " WHERE k._in_p = 1"
    select = (
        f"WITH tagged AS ({tagged}), k AS ({keyed}) "
        f"SELECT {', '.join([f'k.{q(KEY)}', *values, f'{port} AS {q(PORT)}'])} "
        f"FROM k {' '.join(joins)}{where}"
    )
    return _one_table(ctx, select, ports)


def _slice(arrival: Arrival) -> Slice:
    found = arrival.slice
    assert found is not None, f"{arrival.ref} carries no rows"
    return found


# --- deduplication ----------------------------------------------------------------------------


def dedupe(ctx: NodeContext) -> Output:
    s = cast(Dedupe, ctx.settings)
    rows = input_rows(ctx)
    by = [rows.value(name).sql for name in s.by]
    # Rows missing a `by` value are nobody's duplicates: each is its own group.
    alone = " OR ".join(f"{v} IS NULL" for v in by)
    partition = ", ".join([*by, f"CASE WHEN {alone} THEN {rows.key} END"])
    order = [*_choose_order(rows, s.choose, ctx.dialect), f"{_key_order(rows, ctx.dialect)} ASC"]
    rank = f"row_number() OVER (PARTITION BY {partition} ORDER BY {', '.join(order)})"
    port = f"CASE WHEN {rank} <= {s.keep} THEN 'out' ELSE 'complement' END AS {q(PORT)}"
    projection = [f"{rows.key} AS {q(KEY)}", *carried(rows, ctx.columns()), port]
    select = f"SELECT {', '.join(projection)} FROM {rows.from_clause}"
    return _one_table(ctx, select, ("out", "complement"))


def _choose_order(rows: Rows, choose: Choose | None, dialect: str) -> list[str]:
    if choose is None:
        return []
    if choose.random_seed is not None:
        return [seeded_order(rows.key, choose.random_seed, dialect)]
    if choose.non_empty is not None:
        tests = []
        for name in choose.non_empty:
            value = rows.value(name)
            test = f"{value.sql} IS NOT NULL"
            if value.type == FieldType.STRING.value:
                test += f" AND {value.sql} <> ''"
            tests.append(test)
        return [f"CASE WHEN {' AND '.join(tests)} THEN 0 ELSE 1 END"]
    chosen, direction = (choose.max, "DESC") if choose.max is not None else (choose.min, "ASC")
    assert chosen is not None
    picked = rows.value(chosen)
    return [f"{ordered(picked.sql, picked.type, dialect)} {direction} NULLS LAST"]


# --- split ------------------------------------------------------------------------------------


def split(ctx: NodeContext) -> Output:
    """Ordered subsets in one statement: `_m<i>` says whether a row matches subset i's rule;
    without overlap a chain of CTEs assigns each row to the first subset that takes it (within
    its limit, among the rows not taken yet), the rest to `complement`."""
    s = cast(Split, ctx.settings)
    rows = input_rows(ctx)
    columns = list(rows.columns)  # every subset carries the input's columns
    base = [
        f"{rows.key} AS {q(KEY)}",
        *(f"{v} AS {q(c)}" for c, v in _carried_pairs(rows, columns)),
    ]
    for i, sub in enumerate(s.subsets):
        if sub.rule is None:
            base.append(f"TRUE AS _m{i}")
            continue
        alias = rows.new_alias("m")
        keys = rule_keys(ctx, sub.rule, rows.entity)
        rows.join(f"LEFT JOIN ({keys}) AS {alias}(k) ON {alias}.k = {rows.key}")
        base.append(f"{alias}.k IS NOT NULL AS _m{i}")
    for i, sub in enumerate(s.subsets):
        if sub.limit is not None:
            for j, order in enumerate(_limit_order(rows, sub.limit, ctx.dialect)):
                base.append(f"{order[0]} AS _o{i}_{j}")
    ctes = [f"base AS (SELECT {', '.join(base)} FROM {rows.from_clause})"]
    kept = [q(KEY), *(q(c) for c in columns)]
    names = [sub.name for sub in s.subsets]
    if s.overlap:
        flags = []
        for i, sub in enumerate(s.subsets):
            flags.append(f"{_taken(i, f'_m{i}', sub.limit, rows, ctx.dialect)} AS _in{i}")
        ctes.append(f"flagged AS (SELECT *, {', '.join(flags)} FROM base)")
        parts = [
            f"SELECT {', '.join(kept)}, {sql_literal(name)} AS {q(PORT)} FROM flagged WHERE _in{i}"
            for i, name in enumerate(names)
        ]
        nowhere = " OR ".join(f"_in{i}" for i in range(len(names)))
        parts.append(
            f"SELECT {', '.join(kept)}, 'complement' AS {q(PORT)} FROM flagged "
            f"WHERE NOT ({nowhere})"
        )
        body = " UNION ALL ".join(parts)
    else:
        previous = "base"
        ctes.append(f"c0 AS (SELECT *, CAST(NULL AS TEXT) AS _p0 FROM {previous})")
        for i, sub in enumerate(s.subsets):
            eligible = f"(_p{i} IS NULL AND _m{i})"
            taken = _taken(i, eligible, sub.limit, rows, ctx.dialect)
            ctes.append(
                f"c{i + 1} AS (SELECT *, CASE WHEN {taken} THEN {sql_literal(sub.name)} "
                f"ELSE _p{i} END AS _p{i + 1} FROM c{i})"
            )
        last = len(s.subsets)
        body = (
            f"SELECT {', '.join(kept)}, COALESCE(_p{last}, 'complement') AS {q(PORT)} FROM c{last}"
        )
    select = f"WITH {', '.join(ctes)} {body}"
    write, results = _written(
        ctx, select, [*names, "complement"], skip_empty=names if s.skip_empty else ()
    )
    return Output(results, [write])


def _carried_pairs(rows: Rows, columns: Sequence[str]) -> list[tuple[str, str]]:
    return [(c, f"{q(rows.alias)}.{q(c)}") for c in columns]


def _limit_order(rows: Rows, limit: Limit, dialect: str) -> list[tuple[str, str]]:
    """(expression, direction) pairs ordering a subset's candidates; the key breaks ties."""
    out: list[tuple[str, str]] = []
    if limit.random_seed is not None:
        out.append((seeded_order(rows.key, limit.random_seed, dialect), "ASC"))
    for key in limit.sort or []:
        value = rows.value(key.field)
        out.append((ordered(value.sql, value.type, dialect), key.order.upper()))
    out.append((_key_order(rows, dialect), "ASC"))
    return out


def _taken(i: int, eligible: str, limit: Limit | None, rows: Rows, dialect: str) -> str:
    """Whether subset i takes the row: eligible, and within the limit among eligible rows."""
    if limit is None:
        return eligible
    directions = [d for _, d in _limit_order(rows, limit, dialect)]
    order = ", ".join(f"_o{i}_{j} {d} NULLS LAST" for j, d in enumerate(directions))
    window = f"OVER (PARTITION BY {eligible} ORDER BY {order})"
    if limit.count is not None:
        within = f"row_number() {window} <= {limit.count}"
    else:
        # floor(n * percent / 100) rows, in exact arithmetic on both engines.
        window_all = f"OVER (PARTITION BY {eligible})"
        within = f"row_number() {window} * 100 <= count(*) {window_all} * {limit.percent!r}"
    return f"({eligible} AND {within})"


# --- change of dimension and saved audiences --------------------------------------------------


def change_dimension(ctx: NodeContext) -> Output:
    s = cast(ChangeDimension, ctx.settings)
    rows = input_rows(ctx)
    relation = ctx.model.relations(rows.entity)[s.link]
    target = ctx.model.entities[relation.target]
    entity_key = ctx.model.entities[rows.entity].key
    source = rows.key if relation.source_field == entity_key else rows.field(relation.source_field)
    out_select = (
        f"SELECT DISTINCT t.{q(target.key)} AS {q(KEY)}, 'out' AS {q(PORT)} "
        f"FROM {rows.from_clause} JOIN {q(target.table)} AS t "
        f"ON t.{q(relation.target_field)} = {source}"
    )
    other = input_rows(ctx)
    other_source = (
        other.key if relation.source_field == entity_key else other.field(relation.source_field)
    )
    complement_select = (
        f"SELECT {', '.join([f'{other.key} AS {q(KEY)}', *carried(other, ctx.columns('complement'))])}, "
        f"'complement' AS {q(PORT)} FROM {other.from_clause} WHERE NOT EXISTS "
        f"(SELECT 1 FROM {q(target.table)} AS t WHERE t.{q(relation.target_field)} = {other_source})"
    )
    out_write, out_ports = _written(ctx, out_select, ["out"])
    complement_write, complement_ports = _written(
        ctx, complement_select, ["complement"], part="complement"
    )
    return Output({**out_ports, **complement_ports}, [out_write, complement_write])


def save_audience(ctx: NodeContext) -> Output:
    s = cast(SaveAudience, ctx.settings)
    arrival = ctx.input()
    out = Output({"out": ctx.passed(arrival)})
    if ctx.test_mode:
        out.details["saved"] = "no (test mode)"
        return out
    members = f"SELECT CAST({q(KEY)} AS TEXT) FROM ({_slice(arrival).select()}) AS s"
    entity = ctx.population().entity

    def save() -> None:
        # In the node's commit: the audience version exists exactly when the node is done.
        saved = portal._save(
            ctx.store,
            ctx.model,
            s.name,
            entity,
            members,
            {"campaign": ctx.run.campaign, "run": ctx.run.id, "node": ctx.node},
            s.mode,
            db_time(ctx.as_of),
        )
        ctx.statements.append(members)
        out.details.update(audience=saved.name, version=saved.version, size=saved.size)

    out.on_commit.append(save)
    return out
