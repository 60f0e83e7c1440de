"""`cantata campaign validate | test | rows | publish | start | pause | resume | stop | close |
archive | status | runs | logs | schedule-preview`."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table
from rich.tree import Tree

from cantata.canvas import lifecycle
from cantata.canvas.alert_notices import alert_notifier
from cantata.canvas.definition import Campaign, load_campaign, variables_from_args
from cantata.canvas.runtime import Run, Runner, node_runs, purge_worktables, runs_of, transitions
from cantata.canvas.runtime.json_forms import run_graph_json, run_json, run_log_json
from cantata.canvas.runtime.runs import load_run
from cantata.canvas.runtime.scheduled import retention_of
from cantata.canvas.schedule import local_time_of, next_fire_times
from cantata.canvas.status import campaign_status
from cantata.canvas.validate import Canvas
from cantata.cli.common import (
    JsonOption,
    WorkspaceOption,
    console,
    print_json,
    reports_errors,
    workspace,
)
from cantata.errors import CantataError
from cantata.workspace import Workspace

app = typer.Typer(
    help="Validate, test, publish and run campaigns (canvases).", no_args_is_help=True
)

FileArgument = Annotated[Path, typer.Argument(help="The campaign file (YAML or JSON).")]
RunArgument = Annotated[int, typer.Argument(help="The run id.")]
NowOption = Annotated[
    str | None,
    typer.Option("--now", help="Run as of this ISO-8601 time (default: now). Naive means UTC."),
]
VarOption = Annotated[
    list[str] | None,
    typer.Option("--var", help="A variable value, NAME=VALUE (repeatable)."),
]


def _now(text: str | None) -> datetime:
    """The time a command acts at: given, or the clock read here, at the edge of the program."""
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CantataError(f"--now {text!r} is not an ISO-8601 time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _variables(campaign: Campaign, given: list[str] | None) -> dict[str, Any]:
    return variables_from_args(campaign, given)


def _runner(ws: Workspace) -> Runner:
    ws.apply_model()
    return Runner(ws.store, ws.model, on_alert=alert_notifier(ws.settings.raw))


# --- definitions --------------------------------------------------------------------------


@app.command("validate")
@reports_errors
def validate_command(
    file: FileArgument, ws_path: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """Check a campaign against the model, saved audiences and templates; list every problem
    (exit 2)."""
    campaign = load_campaign(file)
    with workspace(ws_path) as ws:
        canvas = lifecycle.check(ws.store, ws.model, campaign)
    if as_json:
        print_json(
            {
                "campaign": campaign.name,
                "valid": True,
                "activities": len(canvas.activities),
                "transitions": len(canvas.transitions),
            }
        )
        return
    console.print(
        f"[green]✓[/] {escape(campaign.name)}: {len(canvas.activities)} activities, "
        f"{len(canvas.transitions)} transitions, valid"
    )


@app.command("purge")
@reports_errors
def purge(
    days: Annotated[
        int | None,
        typer.Option(
            "--retention-days",
            help="Keep the worktables of runs finished fewer days ago (default: [scheduler] "
            "retention_days, else 7).",
            min=0,
            show_default=False,
        ),
    ] = None,
    now: NowOption = None,
    ws_path: WorkspaceOption = None,
) -> None:
    """Drop the worktables of runs finished longer ago than the retention (the scheduler
    does it every hour); their statuses, counts and logs stay."""
    with workspace(ws_path) as ws:
        keep = retention_of(ws).keep if days is None else timedelta(days=days)
        purged = purge_worktables(ws.store, _now(now), keep)
    runs = ", ".join(str(r) for r in purged)
    console.print(f"purged the worktables of {len(purged)} run(s){': ' + runs if runs else ''}")


@app.command("save")
@reports_errors
def save(file: FileArgument, now: NowOption = None, ws_path: WorkspaceOption = None) -> None:
    """Save a campaign as its draft (validated first; it replaces an earlier draft): the
    published version keeps running until the draft is published."""
    campaign = load_campaign(file)
    with workspace(ws_path) as ws:
        ws.apply_model()
        draft = lifecycle.save_draft(ws.store, ws.model, campaign, now=_now(now))
        record = lifecycle.campaign_record(ws.store, campaign.name)
    console.print(f"saved {escape(campaign.name)} draft v{draft.version} ({record.state})")


@app.command("publish")
@reports_errors
def publish(file: FileArgument, now: NowOption = None, ws_path: WorkspaceOption = None) -> None:
    """Publish a campaign as a new immutable version; it goes live."""
    campaign = load_campaign(file)
    with workspace(ws_path) as ws:
        ws.apply_model()
        version = lifecycle.publish(ws.store, ws.model, campaign, now=_now(now))
        record = lifecycle.campaign_record(ws.store, campaign.name)
    console.print(f"published {escape(campaign.name)} v{version.version} ({record.state})")


@app.command("schedule-preview")
@reports_errors
def schedule_preview(
    file: FileArgument,
    after: Annotated[
        str | None, typer.Option("--after", help="List fire times after this ISO-8601 time.")
    ] = None,
    count: Annotated[int, typer.Option(help="How many fire times.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """The next fire times of a campaign's schedule, in its time zone and in UTC."""
    campaign = load_campaign(file)
    times = next_fire_times(campaign.schedule, campaign.time_zone, after=_now(after), count=count)
    if as_json:
        print_json([t.isoformat() for t in times])
        return
    if not times:
        form = campaign.schedule.form
        console.print(f"{escape(campaign.name)} ({form}) has no fire time ahead")
        return
    table = Table(f"local ({campaign.time_zone})", "UTC", title=f"{campaign.name}: next fire times")
    for t in times:
        table.add_row(
            local_time_of(t, campaign.time_zone).strftime("%a %Y-%m-%d %H:%M"),
            t.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


# --- test runs ----------------------------------------------------------------------------


@app.command("test")
@reports_errors
def test_command(
    file: FileArgument,
    now: NowOption = None,
    var: VarOption = None,
    ws_path: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Test-run a campaign: targeting and flow activities run, nothing is saved or sent; print
    the graph with the count on every transition."""
    campaign = load_campaign(file)
    with workspace(ws_path) as ws:
        runner = _runner(ws)
        run = runner.test(campaign, now=_now(now), variables=_variables(campaign, var))
        _print_run_graph(runner, run, as_json)


@app.command("rows")
@reports_errors
def rows(
    run: RunArgument,
    transition: Annotated[str, typer.Argument(help="NODE or NODE.PORT")],
    limit: Annotated[int, typer.Option(help="How many rows.")] = 20,
    ws_path: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Preview the rows a transition of a run carries (first by key)."""
    with workspace(ws_path) as ws:
        names, found = _runner(ws).transition_rows(run, transition, limit)
    if as_json:
        print_json([dict(zip(names, r, strict=True)) for r in found])
        return
    if not names:
        console.print(f"{escape(transition)} carries no rows")
        return
    table = Table(*names, title=f"run {run}: {transition} — first {len(found)} rows")
    for r in found:
        table.add_row(*(escape(_cell(v)) for v in r))
    console.print(table)


# --- live runs ----------------------------------------------------------------------------


@app.command("start")
@reports_errors
def start(
    name: Annotated[str, typer.Argument(help="The campaign name.")],
    var: VarOption = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="Start at most one run for this key."),
    ] = None,
    now: NowOption = None,
    ws_path: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start a run of a live campaign's published version."""
    with workspace(ws_path) as ws:
        runner = _runner(ws)
        campaign = lifecycle.runnable_version(ws.store, name).parse()
        run = runner.start(
            name,
            now=_now(now),
            variables=_variables(campaign, var),
            idempotency_key=idempotency_key,
        )
        _print_run_graph(runner, run, as_json)


@app.command("pause")
@reports_errors
def pause(run: RunArgument, ws_path: WorkspaceOption = None) -> None:
    """Pause a run: it stops before its next activity; waits do not continue it."""
    with workspace(ws_path) as ws:
        found = _runner(ws).pause(run)
    console.print(f"run {found.id}: {found.status}")


@app.command("resume")
@reports_errors
def resume(
    run: RunArgument,
    now: NowOption = None,
    ws_path: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Resume a paused, suspended or interrupted run (a failed activity is redone)."""
    with workspace(ws_path) as ws:
        runner = _runner(ws)
        found = runner.resume(run, now=_now(now))
        _print_run_graph(runner, found, as_json)


@app.command("stop")
@reports_errors
def stop(run: RunArgument, now: NowOption = None, ws_path: WorkspaceOption = None) -> None:
    """Stop a run for good."""
    with workspace(ws_path) as ws:
        found = _runner(ws).stop(run, now=_now(now))
    console.print(f"run {found.id}: {found.status}")


@app.command("close")
@reports_errors
def close(name: str, now: NowOption = None, ws_path: WorkspaceOption = None) -> None:
    """Close a recurring campaign: no more occurrences; running runs finish."""
    _move(name, "close", now, ws_path)


@app.command("archive")
@reports_errors
def archive(name: str, now: NowOption = None, ws_path: WorkspaceOption = None) -> None:
    """Archive a draft, stopped, completed or closed campaign."""
    _move(name, "archive", now, ws_path)


def _move(name: str, action: str, now: str | None, ws_path: Path | None) -> None:
    with workspace(ws_path) as ws:
        record = lifecycle.move(ws.store, name, action, now=_now(now))
    console.print(f"{escape(name)}: {record.state}")


# --- reading ------------------------------------------------------------------------------


@app.command("status")
@reports_errors
def status(
    name: str, now: NowOption = None, ws_path: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """A campaign's state, versions, latest runs and next fire times."""
    with workspace(ws_path) as ws:
        found = campaign_status(ws.store, name, now=_now(now))
        latest = runs_of(ws.store, name, limit=5)
    if as_json:
        print_json(found)
        return
    draft = f", draft v{found['draft_version']}" if found["draft_version"] else ""
    published = f"v{found['published_version']}" if found["published_version"] else "not published"
    console.print(f"[bold]{escape(name)}[/]: {found['state']} ({published}{draft})")
    for text in found["next_fire_times"]:
        console.print(f"  next: {datetime.fromisoformat(text):%Y-%m-%d %H:%M} UTC")
    if latest:
        console.print(_runs_table(latest))


@app.command("runs")
@reports_errors
def runs(
    name: str,
    limit: Annotated[int, typer.Option(help="How many runs, latest first.")] = 20,
    ws_path: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """A campaign's runs, latest first (test runs included)."""
    with workspace(ws_path) as ws:
        found = runs_of(ws.store, name, limit=limit)
    if as_json:
        print_json([run_json(r) for r in found])
        return
    console.print(_runs_table(found) if found else f"{escape(name)} has no runs")


@app.command("logs")
@reports_errors
def logs(
    run: RunArgument,
    sql: Annotated[bool, typer.Option("--sql", help="Show the SQL each activity ran.")] = False,
    ws_path: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """A run's activities: status, attempts, rows per port, time, errors (and SQL)."""
    with workspace(ws_path) as ws:
        found = load_run(ws.store, run)
        nodes = node_runs(ws.store, run)
        log = run_log_json(ws.store, found)
    if as_json:
        print_json(log)
        return
    console.print(_run_line(found))
    table = Table("activity", "status", "attempt", "rows", "ms", "details / error")
    table.columns[1].no_wrap = True
    for n in nodes.values():
        counts = ", ".join(f"{p} {c:,}" for p, c in n.counts.items())
        note = n.error or ", ".join(f"{k}: {v}" for k, v in n.details.items() if k != "input")
        table.add_row(
            n.node,
            n.status,
            str(n.attempt),
            counts,
            "" if n.elapsed_ms is None else f"{n.elapsed_ms:,.0f}",
            escape(note),
        )
    console.print(table)
    if sql:
        for n in nodes.values():
            for statement in n.statements:
                ms = statement.get("ms")
                console.print(
                    f"[bold]{n.node}[/]" + (f"  ({ms:,.1f} ms)" if ms is not None else "")
                )
                if console.is_terminal:
                    console.print(Syntax(statement["sql"], "sql", word_wrap=True))
                else:
                    sys.stdout.write(statement["sql"] + "\n")


# --- printing -----------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):  # a collection column
        return json.dumps(value, default=str)
    return str(value)


def _run_line(run: Run) -> str:
    kind = (
        f"test run [bold]{run.id}[/]"
        if run.test_mode
        else f"run [bold]{run.id}[/] (v{run.version})"
    )
    error = f" — {escape(run.error)}" if run.error else ""
    return (
        f"[bold]{escape(run.campaign)}[/] {kind}: {run.status} "
        f"(as of {run.as_of:%Y-%m-%d %H:%M} UTC){error}"
    )


def _runs_table(found: list[Run]) -> Table:
    table = Table("run", "version", "status", "as of (UTC)", "finished", "errors", "key")
    for r in found:
        table.add_row(
            str(r.id),
            "test" if r.version is None else f"v{r.version}",
            r.status,
            f"{r.as_of:%Y-%m-%d %H:%M}",
            f"{r.finished_at:%Y-%m-%d %H:%M}" if r.finished_at else "",
            str(r.errors),
            r.idempotency_key or "",
        )
    return table


def _print_run_graph(runner: Runner, run: Run, as_json: bool) -> None:
    """The canvas as a tree from its starts, with the rows on every transition."""
    if as_json:
        print_json(run_graph_json(runner, run))
        return
    canvas = runner.canvas(run)
    nodes = node_runs(runner.store, run.id)
    trans = transitions(runner.store, run.id)
    console.print(_run_line(run))
    shown: set[str] = set()
    for start in canvas.starts:
        tree = Tree(_node_label(canvas, start, nodes))
        _grow(tree, canvas, start, nodes, trans, shown)
        console.print(tree)
    if run.test_mode:
        console.print(f"preview rows: cantata campaign rows {run.id} NODE.PORT", highlight=False)


def _node_label(canvas: Canvas, node: str, nodes: dict[str, Any]) -> str:
    found = nodes.get(node)
    status = found.status if found else "not run"
    colour = {"done": "green", "skipped": "dim", "failed": "red", "ignored": "red"}.get(
        status, "yellow"
    )
    extra = ""
    if found is not None and found.error:
        extra = f" — {escape(found.error)}"
    elif found is not None and "branch" in found.details:
        extra = f" → {found.details['branch']}"
    elif found is not None and found.wake_at is not None:
        extra = f" until {found.wake_at:%Y-%m-%d %H:%M} UTC"
    kind = canvas.activities[node].type.name
    return f"[bold]{escape(node)}[/] ({kind}) [{colour}]{status}[/]{extra}"


def _grow(
    tree: Tree,
    canvas: Canvas,
    node: str,
    nodes: dict[str, Any],
    trans: dict[tuple[str, str], Any],
    shown: set[str],
) -> None:
    shown.add(node)
    for port in canvas.activities[node].outputs:
        rec = trans.get((node, port))
        if rec is None:
            count = "—"
        elif rec.row_count is None:
            count = "signal"
        else:
            count = f"{rec.row_count:,}"
        if rec is not None and not rec.activated:
            count += " (not taken)"
        targets = [t.target for t in canvas.outbound(node) if t.port == port]
        if not targets:
            # A port not taken that leads nowhere (a channel's in a test run) says nothing new.
            if rec is not None and rec.row_count and rec.activated:
                tree.add(f"{port}: {count} [dim](leads nowhere)[/]")
            continue
        for target in targets:
            label = f"{port}: [bold cyan]{count}[/] → "
            if target in shown:
                tree.add(f"{label}{escape(target)} [dim](above)[/]")
                continue
            branch = tree.add(label + _node_label(canvas, target, nodes))
            _grow(branch, canvas, target, nodes, trans, shown)
