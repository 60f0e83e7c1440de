"""Flow-control activities: they pass populations on and decide when and where they go."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self

from pydantic import Field, model_validator

from cantata.canvas.activities.base import (
    ActivityType,
    Flow,
    Inbound,
    Mark,
    Population,
    Scope,
    Settings,
    no_outputs,
)
from cantata.canvas.conditions import (
    ConditionSyntaxError,
    Count,
    Literal,
    Operand,
    Var,
    operands,
    parse_condition,
)
from cantata.canvas.schedule import DurationValue
from cantata.canvas.schema import LocalTime, Name, Strict
from cantata.errors import did_you_mean


def _same(inbounds: Sequence[Inbound]) -> Flow:
    return inbounds[0].flow if len(inbounds) == 1 else Mark.UNKNOWN


class Start(Settings):
    """An explicit start, carrying no rows (for flows started by API with variables)."""


def _start(scope: Scope, s: Start, _: Sequence[Inbound]) -> Mapping[str, Flow]:
    return {"out": Mark.SIGNAL}


class Fork(Settings):
    """Sends its input down every transition leaving `out`, in parallel."""


def _fork(scope: Scope, s: Fork, inbounds: Sequence[Inbound]) -> Mapping[str, Flow]:
    return {"out": _same(inbounds)}


class AndJoin(Settings):
    """Waits until every transition of `wait_for` (default: all inbound) has arrived, then
    continues with the population of `primary` (required when one of them carries rows)."""

    wait_for: list[str] | None = Field(default=None, min_length=1)
    primary: str | None = None


def _and_join(scope: Scope, s: AndJoin, inbounds: Sequence[Inbound]) -> Mapping[str, Flow]:
    waited = list(inbounds)
    if s.wait_for is not None:
        waited = []
        for i, ref in enumerate(s.wait_for):
            found = scope.match_inbound(("wait_for", i), ref, inbounds)
            if found is not None:
                waited.append(found)
    if s.primary is not None:
        primary = scope.match_inbound(("primary",), s.primary, inbounds)
        if primary is None:
            return {"out": Mark.UNKNOWN}
        if s.wait_for is not None and primary not in waited:
            scope.problem(("primary",), f"{s.primary!r} is not among wait_for")
        return {"out": primary.flow}
    if any(isinstance(i.flow, Population) for i in waited):
        refs = ", ".join(i.ref for i in waited)
        scope.problem(("primary",), f"choose the population that continues: primary: one of {refs}")
        return {"out": Mark.UNKNOWN}
    if any(i.flow is Mark.UNKNOWN for i in waited):
        return {"out": Mark.UNKNOWN}
    return {"out": Mark.SIGNAL}


class OrJoin(Settings):
    """Continues with the first inbound transition to arrive (later arrivals are recorded and
    ignored); every inbound must carry the same dimension."""


def _or_join(scope: Scope, s: OrJoin, inbounds: Sequence[Inbound]) -> Mapping[str, Flow]:
    if any(i.flow is Mark.UNKNOWN for i in inbounds):
        return {"out": Mark.UNKNOWN}
    kinds = {i.flow.entity if isinstance(i.flow, Population) else "no rows" for i in inbounds}
    if len(kinds) > 1:
        shown = ", ".join(
            f"{i.flow.entity if isinstance(i.flow, Population) else 'no rows'} (from {i.ref})"
            for i in inbounds
        )
        scope.problem((), f"an or_join needs inputs of one dimension; got {shown}")
        return {"out": Mark.UNKNOWN}
    first = inbounds[0].flow
    if isinstance(first, Population):
        shared = {
            name: kind
            for name, kind in first.columns.items()
            if all(
                isinstance(i.flow, Population) and i.flow.columns.get(name) == kind
                for i in inbounds
            )
        }
        return {"out": Population(first.entity, shared)}
    return {"out": first}


class Wait(Settings):
    """Waits a `duration` (3d: same wall-clock time 3 days later; 12h: exactly 12 hours), or
    `until` the next HH:MM in the campaign's time zone."""

    duration: DurationValue | None = None
    until: LocalTime | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.duration is None) == (self.until is None):
            raise ValueError("a wait has either 'duration' (e.g. 3d, 12h) or 'until' (HH:MM)")
        return self


def _wait(scope: Scope, s: Wait, inbounds: Sequence[Inbound]) -> Mapping[str, Flow]:
    return {"out": _same(inbounds)}


class Branch(Strict):
    name: Name
    when: str


class Test(Settings):
    """Ordered branches: the population goes to the first branch whose condition holds, else
    to `default`. Conditions read counts of upstream transitions and variables."""

    branches: list[Branch] = Field(min_length=1)


def _test_outputs(s: Test) -> tuple[str, ...]:
    return (*dict.fromkeys(b.name for b in s.branches), "default")


_NUMERIC = ("integer", "decimal", "number")


def _test(scope: Scope, s: Test, inbounds: Sequence[Inbound]) -> Mapping[str, Flow]:
    seen: set[str] = set()
    for i, branch in enumerate(s.branches):
        if branch.name == "default":
            scope.problem(
                ("branches", i, "name"),
                "'default' is the port taken when no branch matches; name the branch otherwise",
            )
        elif branch.name in seen:
            scope.problem(("branches", i, "name"), f"branch {branch.name!r} is already defined")
        seen.add(branch.name)
        setting = ("branches", i, "when")
        try:
            cond = parse_condition(branch.when)
        except ConditionSyntaxError as exc:
            scope.problem(setting, str(exc))
            continue
        items = operands(cond)
        types = [_operand_type(scope, setting, o) for o in items]
        for left, right in zip(types[::2], types[1::2], strict=True):
            _check_comparable(scope, setting, left, right)
    return dict.fromkeys(_test_outputs(s), _same(inbounds))


def _operand_type(scope: Scope, setting: tuple[str | int, ...], operand: Operand) -> str | None:
    if isinstance(operand, Count):
        upstream = scope.upstream()
        if operand.node not in upstream:
            scope.problem(
                setting,
                f"{operand.text}: {operand.node!r} is not upstream of this test, so its count "
                f"is not known when the test runs{did_you_mean(operand.node, upstream)}",
            )
            return "integer"
        ports = upstream[operand.node]
        port = operand.port or "out"
        if port not in ports:
            hint = f"name a port: {', '.join(f'{operand.node}.{p}' for p in ports)}"
            if operand.port is not None:
                hint = f"valid: {', '.join(ports)}"
            scope.problem(
                setting, f"{operand.text}: {operand.node!r} has no output {port!r} ({hint})"
            )
        return "integer"
    if isinstance(operand, Var):
        if scope.variables is None:
            return None
        var = scope.variables.get(operand.name)
        if var is None:
            scope.problem(
                setting,
                f"unknown variable vars.{operand.name}{did_you_mean(operand.name, scope.variables)}",
            )
            return None
        return var.type
    return _literal_type(operand)


def _literal_type(operand: Literal) -> str:
    value: Any = operand.value
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"


def _check_comparable(
    scope: Scope, setting: tuple[str | int, ...], left: str | None, right: str | None
) -> None:
    if left is None or right is None or left == right:
        return
    if left in _NUMERIC and right in _NUMERIC:
        return
    temporal = ("date", "timestamp")
    if (left in temporal and right == "string") or (right in temporal and left == "string"):
        return
    scope.problem(setting, f"cannot compare {left} with {right}")


class Alert(Settings):
    """Records an alert (message with `{{ vars.NAME }}`) and notifies `recipients`."""

    message: str = Field(min_length=1)
    recipients: list[str] = Field(min_length=1)


def _alert(scope: Scope, s: Alert, inbounds: Sequence[Inbound]) -> Mapping[str, Flow]:
    scope.template_text(("message",), s.message)
    return {"out": _same(inbounds)}


class StartCampaign(Strict):
    campaign: str
    variables: dict[str, Any] = Field(default_factory=dict)


class End(Settings):
    """Ends its branch; optionally starts another campaign with variables (values may use
    `{{ vars.NAME }}`)."""

    start_campaign: StartCampaign | None = None


def _end(scope: Scope, s: End, inbounds: Sequence[Inbound]) -> Mapping[str, Flow]:
    if s.start_campaign is not None:
        for name, value in s.start_campaign.variables.items():
            if isinstance(value, str):
                scope.template_text(("start_campaign", "variables", name), value)
    return {}


TYPES = (
    ActivityType(
        "start",
        "control",
        Start,
        "an explicit start, with no rows",
        _start,
        min_inbound=0,
        max_inbound=0,
    ),
    ActivityType(
        "fork",
        "control",
        Fork,
        "run several branches in parallel",
        _fork,
        fan_out=True,
        accepts_signal=True,
    ),
    ActivityType(
        "and_join",
        "control",
        AndJoin,
        "wait for several branches",
        _and_join,
        min_inbound=2,
        max_inbound=None,
        accepts_signal=True,
    ),
    ActivityType(
        "or_join",
        "control",
        OrJoin,
        "continue with the first branch to arrive",
        _or_join,
        max_inbound=None,
        accepts_signal=True,
    ),
    ActivityType(
        "wait",
        "control",
        Wait,
        "a duration, or until a wall-clock time",
        _wait,
        accepts_signal=True,
    ),
    ActivityType(
        "test",
        "control",
        Test,
        "branch on counts or variables",
        _test,
        _test_outputs,
        accepts_signal=True,
    ),
    ActivityType("alert", "control", Alert, "record and notify", _alert, accepts_signal=True),
    ActivityType(
        "end",
        "control",
        End,
        "end the branch, maybe start another campaign",
        _end,
        no_outputs,
        max_inbound=None,
        accepts_signal=True,
    ),
)
