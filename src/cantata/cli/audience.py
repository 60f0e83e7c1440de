"""`cantata audience count | sample | sql | values | save | import | export | list | show | delete`."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.syntax import Syntax
from rich.table import Table

from cantata.audience import portal
from cantata.audience.compile import audience_sql
from cantata.audience.count import checked_rule, count_matching, matching_sql
from cantata.audience.rules import Rule, parse_timestamp, resolve_path
from cantata.audience.text import format_rule, load_rule
from cantata.cli.common import (
    JsonOption,
    WorkspaceOption,
    console,
    print_json,
    reports_errors,
    workspace,
)
from cantata.errors import CantataError, did_you_mean
from cantata.store.base import quote_ident
from cantata.workspace import Workspace

app = typer.Typer(help="Build, count, save and export audiences.", no_args_is_help=True)

EntityOption = Annotated[str, typer.Option("--entity", "-e", help="The targeting entity.")]
RuleOption = Annotated[
    str,
    typer.Option("--rule", "-r", help="A JSON file, '-' for stdin, JSON text or the text form."),
]
NowOption = Annotated[
    str | None, typer.Option("--now", help="Evaluate as of this ISO-8601 time (default: now).")
]


def _now(now: str | None) -> datetime:
    if now is None:
        return datetime.now(UTC).replace(tzinfo=None)
    try:
        return parse_timestamp(now)
    except ValueError:
        raise CantataError(f"--now {now!r} is not an ISO-8601 timestamp") from None


def _prepare(ws: Workspace, entity: str, rule_arg: str) -> Rule:
    ws.apply_model()
    if entity not in ws.model.entities:  # before reading the rule: the entity is the context
        raise CantataError(f"unknown entity {entity!r}{did_you_mean(entity, ws.model.entities)}")
    return checked_rule(ws.store, ws.model, entity, load_rule(rule_arg, sys.stdin))


def _select(ws: Workspace, entity: str, rule: Rule, now: datetime) -> str:
    return matching_sql(ws.store, ws.model, entity, rule, now)


@app.command("count")
@reports_errors
def count(
    entity: EntityOption,
    rule: RuleOption,
    now: NowOption = None,
    ws_path: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Count the rows matching a rule, with the time it took."""
    with workspace(ws_path) as ws:
        parsed = _prepare(ws, entity, rule)
        started = time.perf_counter()
        n = count_matching(ws.store, ws.model, entity, parsed, _now(now))
        elapsed = (time.perf_counter() - started) * 1000
    if as_json:
        print_json({"entity": entity, "count": n, "elapsed_ms": round(elapsed, 1)})
    else:
        console.print(f"[bold]{n:,}[/] {entity} rows  ({elapsed:,.0f} ms)")


@app.command("sample")
@reports_errors
def sample(
    entity: EntityOption,
    rule: RuleOption,
    limit: Annotated[int, typer.Option(help="How many rows.")] = 20,
    now: NowOption = None,
    ws_path: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show some matching rows."""
    with workspace(ws_path) as ws:
        parsed = _prepare(ws, entity, rule)
        ent = ws.model.entities[entity]
        key = quote_ident(ent.key)
        rows = ws.store.fetchall(
            f"SELECT * FROM {quote_ident(ent.table)} WHERE {key} IN "
            f"({_select(ws, entity, parsed, _now(now))}) ORDER BY {key} LIMIT {int(limit)}"
        )
        names = ws.store.table_columns(ent.table)
    if as_json:
        print_json([dict(zip(names, r, strict=True)) for r in rows])
        return
    table = Table(*names, title=f"{entity} — first {len(rows)} matching rows")
    for r in rows:
        table.add_row(*("" if v is None else str(v) for v in r))
    console.print(table)


@app.command("sql")
@reports_errors
def sql(
    entity: EntityOption,
    rule: RuleOption,
    dialect: Annotated[str, typer.Option(help="duckdb, postgres or spark.")] = "duckdb",
    now: NowOption = None,
    ws_path: WorkspaceOption = None,
) -> None:
    """Print the SQL a rule compiles to (the code view)."""
    if dialect not in ("duckdb", "postgres", "spark"):
        raise CantataError(
            f"unknown dialect {dialect!r}{did_you_mean(dialect, ['duckdb', 'postgres', 'spark'])}"
        )
    with workspace(ws_path) as ws:
        parsed = _prepare(ws, entity, rule)
        text = audience_sql(parsed, ws.model, entity, now=_now(now), dialect=dialect, pretty=True)
    if console.is_terminal:
        console.print(Syntax(text, "sql"))
    else:
        sys.stdout.write(text + "\n")


@app.command("values")
@reports_errors
def values(
    field: Annotated[str, typer.Argument(help="A field (or dotted to-one path) of the entity.")],
    entity: EntityOption,
    rule: RuleOption,
    now: NowOption = None,
    ws_path: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """The top-20 values of a field within the audience."""
    with workspace(ws_path) as ws:
        parsed = _prepare(ws, entity, rule)
        ent = ws.model.entities[entity]
        try:
            path = resolve_path(ws.model, entity, field)
        except KeyError as exc:
            raise CantataError(f"--field: {exc.args[0]}") from None
        joins, alias = [], "t0"
        for i, rel in enumerate(path.relations, start=1):
            target = ws.model.entities[rel.target]
            joins.append(
                f"LEFT JOIN {quote_ident(target.table)} t{i} ON t{i}.{quote_ident(rel.target_field)}"
                f" = {alias}.{quote_ident(rel.source_field)}"
            )
            alias = f"t{i}"
        rows = ws.store.fetchall(
            f"SELECT {alias}.{quote_ident(path.field.name)} AS v, count(*) AS n "
            f"FROM {quote_ident(ent.table)} t0 {' '.join(joins)} "
            f"WHERE t0.{quote_ident(ent.key)} IN ({_select(ws, entity, parsed, _now(now))}) "
            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20"
        )
    total = sum(int(r[1]) for r in rows)
    if as_json:
        print_json([{"value": v, "count": int(n)} for v, n in rows])
        return
    table = Table(field, "count", "share", title=f"top values of {field}")
    for v, n in rows:
        table.add_row(
            "(null)" if v is None else str(v),
            f"{int(n):,}",
            f"{int(n) / total:.1%}" if total else "",
        )
    console.print(table)


@app.command("save")
@reports_errors
def save(
    name: str,
    entity: EntityOption,
    rule: RuleOption,
    append: Annotated[bool, typer.Option("--append", help="Add to the current members.")] = False,
    now: NowOption = None,
    ws_path: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Save the matching rows as a new version of a named audience."""
    with workspace(ws_path) as ws:
        parsed = _prepare(ws, entity, rule)
        saved = portal.save_rule(
            ws.store, ws.model, name, entity, parsed, now=_now(now), append=append
        )
    _print_version(saved, as_json)


@app.command("import")
@reports_errors
def import_(
    name: str,
    file: Path,
    entity: EntityOption,
    append: Annotated[bool, typer.Option("--append", help="Add to the current members.")] = False,
    ws_path: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Save an audience from a file of keys; unknown keys are counted and listed."""
    with workspace(ws_path) as ws:
        ws.apply_model()
        result = portal.import_keys(
            ws.store, ws.model, name, entity, file, now=_now(None), append=append
        )
    if as_json:
        print_json(
            {
                "name": name,
                "version": result.audience.version,
                "size": result.audience.size,
                "read": result.read,
                "unknown": result.unknown,
                "unknown_sample": result.unknown_sample,
            }
        )
        return
    console.print(
        f"{name} v{result.audience.version}: {result.audience.size:,} {entity} keys saved, "
        f"{result.read:,} read, {result.unknown:,} unknown"
    )
    if result.unknown:
        console.print(
            "  unknown keys: "
            + ", ".join(result.unknown_sample)
            + (" …" if result.unknown > 20 else "")
        )


@app.command("export")
@reports_errors
def export(name: str, file: Path, ws_path: WorkspaceOption = None) -> None:
    """Write the current members' keys to CSV or Parquet."""
    with workspace(ws_path) as ws:
        n = portal.export(ws.store, name, file)
    console.print(f"wrote {n:,} keys to {file}")


@app.command("list")
@reports_errors
def list_(ws_path: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Saved audiences, current version of each."""
    with workspace(ws_path) as ws:
        rows = portal.list_audiences(ws.store)
    if as_json:
        print_json([_version_json(a) for a in rows])
        return
    table = Table("name", "entity", "version", "size", "mode", "saved at")
    for a in rows:
        table.add_row(
            a.name,
            a.entity,
            str(a.version),
            f"{a.size:,}",
            a.mode,
            a.created_at.isoformat(" ", "seconds"),
        )
    console.print(table)


@app.command("show")
@reports_errors
def show(name: str, ws_path: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Every version of an audience with its size and the rule or file that made it."""
    with workspace(ws_path) as ws:
        found = portal.versions(ws.store, name)
    if as_json:
        print_json([_version_json(a) for a in found])
        return
    for a in found:
        console.print(
            f"[bold]{a.name}[/] v{a.version}  {a.size:,} {a.entity} keys  {a.mode}  {a.created_at.isoformat(' ', 'seconds')}"
        )
        if "rule" in a.source:
            from cantata.audience.rules import parse_rule

            console.print(f"  rule: {format_rule(parse_rule(a.source['rule']))}", highlight=False)
        if "file" in a.source:
            console.print(f"  file: {a.source['file']}", highlight=False)


@app.command("delete")
@reports_errors
def delete(name: str, ws_path: WorkspaceOption = None) -> None:
    """Delete an audience (refused while a live campaign uses it)."""
    with workspace(ws_path) as ws:
        portal.delete(ws.store, name)
    console.print(f"deleted {name}")


def _version_json(a: portal.AudienceVersion) -> dict[str, object]:
    return a.as_json()


def _print_version(a: portal.AudienceVersion, as_json: bool) -> None:
    if as_json:
        print_json(_version_json(a))
    else:
        console.print(f"saved {a.name} v{a.version}: {a.size:,} {a.entity} keys ({a.mode})")
