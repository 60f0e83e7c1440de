"""What an activity sees when it runs (`NodeContext`) and what it hands back (`Output`).

Executors are functions `NodeContext -> Output` (one per activity type, in targeting.py,
enrich.py, flow.py and channels.py). They build SQL and decide; the runner executes the
writes, counts the rows per port, and commits everything of the node at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cantata.canvas.activities.base import Population, Settings
from cantata.canvas.runtime.runs import DONE, NodeRun, Run, TransitionRecord
from cantata.canvas.runtime.worktable import Slice, worktable_name
from cantata.canvas.validate import Activity, Canvas, Transition
from cantata.model import Model
from cantata.store.base import Store

ArrivalState = Literal["activated", "dead", "pending"]


@dataclass(frozen=True)
class Arrival:
    """An inbound transition as the run found it: activated (its rows arrived), dead (it never
    will: its source was skipped or did not take that port), or pending."""

    transition: Transition
    record: TransitionRecord | None
    state: ArrivalState
    output_time: datetime | None = None  # when its source's outputs became available
    seq: int | None = None  # its source's completion order

    @property
    def ref(self) -> str:
        return self.transition.ref

    @property
    def slice(self) -> Slice | None:
        rec = self.record
        if rec is None or rec.worktable is None or rec.slice is None:
            return None
        flow = self.transition.flow
        columns = tuple(flow.columns) if isinstance(flow, Population) else ()
        return Slice(rec.worktable, rec.slice, columns)

    @property
    def count(self) -> int:
        return self.record.row_count or 0 if self.record else 0


@dataclass(frozen=True)
class Write:
    """A worktable to write: `select` yields `_key`, the carried columns and `_port`."""

    table: str  # created in the transaction that completes the node
    select: str
    # The one port every row leaves by, when the select sets a constant `_port`: the
    # statement's row count is then the port's, and the runner need not count by port.
    port: str | None = None


@dataclass(frozen=True)
class PortResult:
    """What leaves one output port."""

    slice: Slice | None = None  # None: no rows (a signal, or a port not taken)
    count: int | None = None  # None for a slice of a write: the runner counts it
    activated: bool = True
    skip_empty: bool = False  # activated only when it carries rows


@dataclass
class Output:
    ports: dict[str, PortResult]
    writes: list[Write] = field(default_factory=list)
    status: str = DONE  # or waiting / pending_delivery
    wake_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # Run inside the transaction that completes the node (exactly once with it)...
    on_commit: list[Callable[[], None]] = field(default_factory=list)
    # ...and after it (hooks outside the store: at most once).
    after_commit: list[Callable[[], None]] = field(default_factory=list)


@dataclass
class NodeContext:
    store: Store
    model: Model
    canvas: Canvas
    run: Run
    node: str
    as_of: datetime  # the time its rules and durations are evaluated at (aware UTC)
    now: datetime  # the time of the call running it: decides whether a wait is over
    inputs: list[Arrival]
    counts: Mapping[str, int]  # rows of every transition of the run so far, by node.port
    variables: Mapping[str, Any]  # typed
    previous: NodeRun | None = None  # the node's last attempt, if any (a wait, a delivery...)
    statements: list[str] = field(default_factory=list)  # SQL run by commit hooks, for the log

    @property
    def activity(self) -> Activity:
        return self.canvas.activities[self.node]

    @property
    def settings(self) -> Settings:
        return self.activity.settings

    @property
    def dialect(self) -> str:
        return self.store.dialect

    @property
    def test_mode(self) -> bool:
        return self.run.test_mode

    def table(self, part: str = "") -> str:
        return worktable_name(self.run.id, self.node, part)

    def input(self) -> Arrival:
        """The single inbound transition of a one-input activity."""
        assert len(self.inputs) == 1, f"{self.node} takes one input"
        return self.inputs[0]

    def input_slice(self) -> Slice:
        found = self.input().slice
        if found is None:
            raise RuntimeError(f"{self.input().ref} carries no rows into {self.node}")
        return found

    def population(self, port: str = "out") -> Population:
        flow = self.activity.outputs[port]
        assert isinstance(flow, Population), f"{self.node}.{port} carries no rows"
        return flow

    def columns(self, port: str = "out") -> tuple[str, ...]:
        flow = self.activity.outputs.get(port)
        return tuple(flow.columns) if isinstance(flow, Population) else ()

    def passed(self, arrival: Arrival, port: str = "out", *, activated: bool = True) -> PortResult:
        """The arrival's rows leaving by `port` unchanged (no copy), with the port's columns."""
        found = arrival.slice
        return PortResult(
            found.carrying(self.columns(port)) if found else None,
            arrival.count if found else None,
            activated,
        )


Executor = Callable[[NodeContext], Output]
