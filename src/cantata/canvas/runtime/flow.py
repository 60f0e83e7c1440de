"""Flow-control activities at run time: they pass slices on (no copy) and decide where and
when the population goes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from cantata.canvas.activities.control import Alert, AndJoin, End, Test, Wait
from cantata.canvas.conditions import evaluate_condition, parse_condition
from cantata.canvas.runtime.node import NodeContext, Output, PortResult
from cantata.canvas.runtime.runs import NODE_WAITING
from cantata.canvas.runtime.targeting import inbound_index
from cantata.canvas.schedule import add_duration, wait_until
from cantata.canvas.timestamps import db_time

_VAR = re.compile(r"\{\{\s*vars\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render_vars(text: str, variables: Mapping[str, Any]) -> str:
    """`{{ vars.NAME }}` replaced by the run's value (the rest of a template is delivery's)."""
    return _VAR.sub(lambda m: "" if variables.get(m[1]) is None else str(variables[m[1]]), text)


@dataclass(frozen=True)
class AlertRaised:
    """What the notification hook receives."""

    run: int
    campaign: str
    node: str
    message: str
    recipients: tuple[str, ...]
    raised_at: datetime


@dataclass
class Hooks:
    """What flow activities reach outside the run: notification, and starting campaigns."""

    on_alert: Callable[[AlertRaised], None] | None = None
    # (campaign, variables, idempotency key, parent run, as of) -> the new run's id; called in
    # the node's commit
    start_campaign: Callable[[str, dict[str, Any], str, int, datetime], int] | None = None


def start(ctx: NodeContext) -> Output:
    return Output({"out": PortResult()})


def fork(ctx: NodeContext) -> Output:
    return Output({"out": ctx.passed(ctx.input())})


def and_join(ctx: NodeContext) -> Output:
    s = cast(AndJoin, ctx.settings)
    if s.primary is None:
        return Output({"out": PortResult()})
    primary = ctx.inputs[inbound_index(ctx.inputs, s.primary)]
    return Output({"out": ctx.passed(primary)}, details={"primary": primary.ref})


def or_join(ctx: NodeContext) -> Output:
    arrived = [a for a in ctx.inputs if a.state == "activated"]
    first = min(arrived, key=lambda a: a.seq if a.seq is not None else 1 << 30)
    return Output({"out": ctx.passed(first)}, details={"first": first.ref})


def wait(ctx: NodeContext) -> Output:
    """Over when the call's time reaches the wake time; a test run does not wait (its
    downstream activities still run at the wake time, as of `as_of`)."""
    s = cast(Wait, ctx.settings)
    tz = ctx.canvas.campaign.time_zone
    if s.duration is not None:
        wake = add_duration(ctx.as_of, s.duration, tz)
    else:
        assert s.until is not None
        wake = wait_until(s.until, tz, ctx.as_of)
    details = {"wake_at": db_time(wake).isoformat()}
    if ctx.test_mode or wake <= ctx.now:
        return Output({"out": ctx.passed(ctx.input())}, wake_at=wake, details=details)
    return Output({}, status=NODE_WAITING, wake_at=wake, details=details)


def test(ctx: NodeContext) -> Output:
    s = cast(Test, ctx.settings)
    chosen = "default"
    for branch in s.branches:
        if evaluate_condition(parse_condition(branch.when), ctx.counts, ctx.variables):
            chosen = branch.name
            break
    arrival = ctx.input()
    ports = {
        port: ctx.passed(arrival, port) if port == chosen else PortResult(None, 0, False)
        for port in ctx.activity.outputs
    }
    return Output(ports, details={"branch": chosen})


def alert(ctx: NodeContext, hooks: Hooks) -> Output:
    s = cast(Alert, ctx.settings)
    raised = AlertRaised(
        ctx.run.id,
        ctx.run.campaign,
        ctx.node,
        render_vars(s.message, ctx.variables),
        tuple(render_vars(r, ctx.variables) for r in s.recipients),
        ctx.as_of,
    )
    out = Output({"out": ctx.passed(ctx.input())}, details={"message": raised.message})

    def record() -> None:
        ctx.store.execute(
            "INSERT INTO cantata_alert (run, node, message, recipients, raised_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            [
                raised.run,
                raised.node,
                raised.message,
                json.dumps(raised.recipients),
                db_time(raised.raised_at),
            ],
        )

    out.on_commit.append(record)
    if not ctx.test_mode and hooks.on_alert is not None:
        notify = hooks.on_alert
        out.after_commit.append(lambda: notify(raised))
    return out


def end(ctx: NodeContext, hooks: Hooks) -> Output:
    s = cast(End, ctx.settings)
    out = Output({})
    if s.start_campaign is None:
        return out
    name = s.start_campaign.campaign
    variables = {
        k: render_vars(v, ctx.variables) if isinstance(v, str) else v
        for k, v in s.start_campaign.variables.items()
    }
    if ctx.test_mode or hooks.start_campaign is None:
        out.details["would_start"] = {"campaign": name, "variables": variables}
        return out
    starter = hooks.start_campaign

    def start_next() -> None:
        # The run's idempotency key makes the start happen once, even if this node is redone.
        run_id = starter(name, variables, f"run-{ctx.run.id}-{ctx.node}", ctx.run.id, ctx.as_of)
        out.details["started"] = {"campaign": name, "run": run_id}

    out.on_commit.append(start_next)
    return out
