"""Delivery commands: `cantata dispatch` (the dispatcher loop), and the campaign commands
`report`, `preview`, `confirm` and `resume-sending` (registered on `cantata campaign`)."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cantata.canvas.definition import load_campaign
from cantata.canvas.runtime import Runner
from cantata.cli.campaign import FileArgument, NowOption, RunArgument, VarOption, _now, _variables
from cantata.cli.campaign import app as campaign_app
from cantata.cli.common import JsonOption, WorkspaceOption, console, print_json, reports_errors
from cantata.cli.common import workspace as open_workspace
from cantata.cli.scheduler import describe
from cantata.delivery.activities import confirm_waiting, resume_activity
from cantata.delivery.dispatcher import Stats
from cantata.delivery.engine import tracking_links
from cantata.delivery.preview import preview
from cantata.delivery.report import ActivityReport, campaign_report
from cantata.server.worker import work
from cantata.workspace import Workspace


@campaign_app.command("report")
@reports_errors
def report(
    name: Annotated[str, typer.Argument(help="The campaign name.")],
    ws_path: WorkspaceOption = None,
    as_json: JsonOption = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV, one row per activity.")] = False,
) -> None:
    """Per run and channel activity: targeted, excluded by reason, sent, delivered, bounced,
    unique opens and clicks, unsubscribes, complaints, rates, and a timeline by hour."""
    with open_workspace(ws_path) as ws:
        found = campaign_report(ws.store, name)
    if as_json:
        print_json(found.as_json())
    elif as_csv:
        sys.stdout.write(found.as_csv())
    elif not found.activities:
        console.print(f"{escape(name)}: no message queued yet")
    else:
        console.print(_report_table(name, found.activities))


def _report_table(name: str, activities: list[ActivityReport]) -> Table:
    """One column per run and activity, one row per measure: narrow enough for a terminal."""
    table = Table(title=f"campaign {name}")
    table.add_column("")
    for a in activities:
        table.add_column(f"run {a.run}\n{escape(a.activity)}\n({a.channel})", justify="right")
    counts = (
        ("targeted", "targeted"),
        ("excluded", "excluded_total"),
        ("pending", "pending"),
        ("sent", "sent"),
        ("failed", "failed"),
        ("delivered", "delivered"),
        ("bounced", "bounced"),
        ("unique opens", "opened"),
        ("unique clicks", "clicked"),
        ("unsubscribed", "unsubscribed"),
        ("complaints", "complained"),
    )
    reasons = sorted({r for a in activities for r in a.excluded})
    for label, attribute in counts:
        table.add_row(label, *(f"{getattr(a, attribute):,}" for a in activities))
        if label == "excluded":
            for reason in reasons:
                table.add_row(
                    f"  {reason}", *(f"{a.excluded.get(reason, 0):,}" for a in activities)
                )
    for rate in ("delivery_rate", "bounce_rate", "open_rate", "click_rate"):
        label = rate.replace("_", " ") + " %"
        table.add_row(label, *(_percent(a.rates[rate]) for a in activities))
    return table


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f}"


@campaign_app.command("preview")
@reports_errors
def preview_command(
    file: FileArgument,
    node: Annotated[str, typer.Argument(help="The channel activity's node id.")],
    recipient: Annotated[str, typer.Option("--recipient", help="The recipient's key.")],
    now: NowOption = None,
    var: VarOption = None,
    ws_path: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Render one recipient's message from a test run of the campaign (nothing is sent)."""
    campaign = load_campaign(file)
    with open_workspace(ws_path) as ws:
        ws.apply_model()
        message = preview(
            ws.store,
            ws.model,
            campaign,
            node,
            recipient,
            now=_now(now),
            variables=_variables(campaign, var),
            links=tracking_links(ws.settings.raw),
        )
    if as_json:
        print_json({"to": message.address, "headers": message.headers, **message.content})
        return
    console.print(f"[bold]to[/]: {escape(message.address)}")
    for header, value in message.headers.items():
        console.print(f"[bold]{escape(header)}[/]: {escape(value)}")
    for part, text in message.content.items():
        console.rule(part)
        console.print(escape(text), highlight=False)


@campaign_app.command("confirm")
@reports_errors
def confirm_command(
    run: RunArgument,
    node: Annotated[
        str | None, typer.Argument(help="The channel activity (default: every one waiting).")
    ] = None,
    now: NowOption = None,
    ws_path: WorkspaceOption = None,
) -> None:
    """Confirm a one-off send that waits for it: its messages may go."""
    with open_workspace(ws_path) as ws:
        ws.apply_model()
        runner = Runner(ws.store, ws.model)
        for activity in confirm_waiting(ws.store, runner, run, node, _now(now)):
            console.print(f"run {run} {escape(activity)}: confirmed, sending")


@campaign_app.command("resume-sending")
@reports_errors
def resume_sending(
    run: RunArgument,
    node: Annotated[str, typer.Argument(help="The paused channel activity.")],
    ws_path: WorkspaceOption = None,
) -> None:
    """Resume a channel activity the dispatcher paused after consecutive errors."""
    with open_workspace(ws_path) as ws:
        resume_activity(ws.store, run, node)
    console.print(f"run {run} {escape(node)}: sending again")


@reports_errors
def dispatch(
    ws_path: WorkspaceOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="Queue and send what is due now, then exit.")
    ] = False,
    idle: Annotated[float, typer.Option(help="Seconds to wait when nothing is due.")] = 1.0,
    schedule: Annotated[
        bool,
        typer.Option(
            "--schedule",
            help="Also fire due occurrences and waits (the scheduler's work): on DuckDB, "
            "where one process owns the store, run this instead of a separate scheduler.",
        ),
    ] = False,
) -> None:
    """The dispatcher: queue the messages of channel activities runs reach, then claim, render
    and send due messages in batches through the providers configured in cantata.toml."""
    with open_workspace(ws_path) as ws:
        ws.apply_model()
        stats = asyncio.run(_dispatch(ws, once, idle, schedule))
    console.print(
        f"sent {stats.sent:,}  retried {stats.retried:,}  failed {stats.failed:,}  "
        f"excluded {stats.excluded:,}  deferred {stats.deferred:,}"
    )


async def _dispatch(ws: Workspace, once: bool, idle: float, schedule: bool) -> Stats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return await work(
        ws,
        stop=stop,
        schedule=schedule,
        idle=idle,
        once=once,
        on_fired=lambda fired: console.print(describe(fired), highlight=False),
    )
