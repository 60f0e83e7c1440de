"""Validate a campaign against the data model, reporting every problem at once.

The checks, in the order they run:

1. nodes: unique ids, known activity types (with the nearest names), settings schema;
2. edges: known nodes and output ports (`node` alone means its `out` port), no duplicate,
   one activity per port except a fork's;
3. inbound transitions per activity (sources none, combine and and_join at least 2...);
4. at least one start; no cycle; every activity reachable from a start;
5. the dimension flowing on every transition, in topological order: each activity checks its
   settings (rules, paths, links, audiences, templates, variables) against the population it
   receives and says what leaves each port.

`validate` returns the `Canvas` — the campaign with typed settings and the population on each
transition — or raises CampaignError. `check_campaign` reads text and returns the problems of
all stages, shape included, in one list.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from cantata.canvas.activities.base import (
    ActivityType,
    Flow,
    Inbound,
    Mark,
    Population,
    Scope,
    Settings,
)
from cantata.canvas.activities.catalog import CATALOG, START_TYPES
from cantata.canvas.activities.targeting import SaveAudience
from cantata.canvas.definition import Campaign, Draft, Node, read_draft
from cantata.canvas.document import Document
from cantata.canvas.problems import CampaignError, PathPart, Problem
from cantata.canvas.schema import pydantic_problems
from cantata.errors import did_you_mean
from cantata.model import Model

if TYPE_CHECKING:
    from cantata.delivery.template_library import SavedTemplate


@dataclass(frozen=True)
class Transition:
    """An edge with what it carries: a population, or no rows (`Mark.SIGNAL`)."""

    source: str
    port: str
    target: str
    flow: Flow
    edge: int  # index in the campaign's edges

    @property
    def ref(self) -> str:
        return f"{self.source}.{self.port}"


@dataclass(frozen=True)
class Activity:
    node: Node
    type: ActivityType
    settings: Settings
    outputs: Mapping[str, Flow]  # every output port and what leaves it


@dataclass(frozen=True)
class Canvas:
    """A validated campaign: typed activities, transitions with their flows, run order."""

    campaign: Campaign
    activities: Mapping[str, Activity]
    transitions: tuple[Transition, ...]
    order: tuple[str, ...]  # topological: every activity after its inputs

    def inbound(self, node_id: str) -> list[Transition]:
        return [t for t in self.transitions if t.target == node_id]

    def outbound(self, node_id: str) -> list[Transition]:
        return [t for t in self.transitions if t.source == node_id]

    @property
    def starts(self) -> list[str]:
        return [n for n in self.order if self.activities[n].type.starts_flow]


def validate(
    campaign: Campaign,
    model: Model,
    audiences: Mapping[str, str] | None = None,
    templates: Mapping[str, SavedTemplate] | None = None,
) -> Canvas:
    """The validated canvas; CampaignError lists every problem.

    `audiences` maps saved audience names to their entity and `templates` library template
    names to their current version; None skips those checks (offline validation).
    """
    checker = _Checker(Draft.of(campaign), model, audiences, templates)
    checker.run()
    if checker.problems:
        raise CampaignError(
            checker.problems, campaign.document.source if campaign.document else None
        )
    activities: dict[str, Activity] = {}
    for node_id in checker.order:
        kind, settings = checker.types[node_id], checker.settings[node_id]
        assert kind is not None and settings is not None  # else a problem was reported
        activities[node_id] = Activity(
            checker.nodes[node_id], kind, settings, checker.outputs[node_id]
        )
    transitions = tuple(
        Transition(t.source, t.port, t.target, checker.flow(t.source, t.port), t.edge)
        for t in checker.transitions
    )
    return Canvas(campaign, activities, transitions, tuple(checker.order))


def check_campaign(
    text: str,
    model: Model,
    *,
    source: str = "campaign.yaml",
    audiences: Mapping[str, str] | None = None,
    templates: Mapping[str, SavedTemplate] | None = None,
) -> list[Problem]:
    """Every problem of the campaign in `text` — shape, graph, dimensions — in file order."""
    try:
        doc = Document(text, source)
    except CampaignError as exc:
        return list(exc.problems)
    _, draft = read_draft(doc)
    checker = _Checker(draft, model, audiences, templates)
    checker.run()
    return CampaignError(checker.problems).problems


@dataclass(frozen=True)
class _Edge:
    source: str
    port: str
    target: str
    edge: int


class _Checker:
    def __init__(
        self,
        draft: Draft,
        model: Model,
        audiences: Mapping[str, str] | None,
        templates: Mapping[str, SavedTemplate] | None,
    ) -> None:
        self.draft = draft
        self.model = model
        self.audiences = audiences
        self.templates = templates
        self.problems: list[Problem] = list(draft.problems)
        self.index: dict[str, int] = {}
        self.nodes: dict[str, Node] = {}
        self.types: dict[str, ActivityType | None] = {}
        self.settings: dict[str, Settings | None] = {}
        self.transitions: list[_Edge] = []
        self.inbound: dict[str, list[_Edge]] = defaultdict(list)
        self.outbound: dict[str, list[_Edge]] = defaultdict(list)
        self.outputs: dict[str, Mapping[str, Flow]] = {}
        self.miswired: set[str] = set()  # targets of edges rejected for their source's port
        self.order: list[str] = []

    def problem(self, parts: tuple[PathPart, ...], message: str) -> None:
        self.problems.append(self.draft.problem(parts, message))

    def node_problem(self, node_id: str, parts: tuple[PathPart, ...], message: str) -> None:
        self.problem(("nodes", self.index[node_id], *parts), message)

    def flow(self, node_id: str, port: str) -> Flow:
        return self.outputs.get(node_id, {}).get(port, Mark.UNKNOWN)

    def ports(self, node_id: str) -> tuple[str, ...] | None:
        kind, settings = self.types.get(node_id), self.settings.get(node_id)
        return kind.outputs(settings) if kind is not None and settings is not None else None

    def run(self) -> None:
        self.read_nodes()
        self.read_edges()
        self.count_inbound()
        cyclic = self.check_cycles()
        self.check_reachable(cyclic)
        self.check_flows()

    # 1. nodes

    def read_nodes(self) -> None:
        for index, node in self.draft.nodes:
            if node.id in self.index:
                first = self.index[node.id]
                line = self.draft.document.line(("nodes", first)) if self.draft.document else None
                where = f"line {line}" if line else f"nodes[{first}]"
                self.problem(
                    ("nodes", index, "id"), f"duplicate node id {node.id!r} (first at {where})"
                )
                continue
            self.index[node.id] = index
            self.nodes[node.id] = node
            kind = CATALOG.get(node.type)
            self.types[node.id] = kind
            self.settings[node.id] = None
            if kind is None:
                self.problem(
                    ("nodes", index, "type"),
                    f"unknown activity type {node.type!r}{did_you_mean(node.type, CATALOG)}",
                )
                continue
            try:
                self.settings[node.id] = kind.settings.model_validate(node.settings)
            except ValidationError as exc:
                for parts, message in pydantic_problems(exc, kind.settings, noun="setting"):
                    self.problem(("nodes", index, "settings", *parts), message)

    # 2. edges

    def read_edges(self) -> None:
        used: dict[tuple[str, str], str] = {}
        seen: dict[tuple[str, str, str], int] = {}
        for j, edge in self.draft.edges:
            source, target = edge.node, edge.target
            known = True
            for key, name in (("from", source), ("to", target)):
                if name not in self.index:
                    self.problem(
                        ("edges", j, key), f"unknown node {name!r}{did_you_mean(name, self.index)}"
                    )
                    known = False
            if not known:
                if target in self.index:
                    self.miswired.add(target)
                continue
            port = self.edge_port(j, source, edge.port)
            if port is None:
                self.miswired.add(target)
                continue
            if (source, port, target) in seen:
                self.problem(
                    ("edges", j),
                    f"duplicate transition {source}.{port} → {target} (edges[{seen[source, port, target]}])",
                )
                continue
            seen[source, port, target] = j
            kind = self.types[source]
            if (source, port) in used and kind is not None and not kind.fan_out:
                self.problem(
                    ("edges", j, "from"),
                    f"{source}.{port} already leads to {used[source, port]!r}: a transition goes "
                    "to one activity; put a fork after it to reach several",
                )
                self.miswired.add(target)
                continue
            used[source, port] = target
            transition = _Edge(source, port, target, j)
            self.transitions.append(transition)
            self.inbound[target].append(transition)
            self.outbound[source].append(transition)

    def edge_port(self, j: int, source: str, port: str | None) -> str | None:
        ports = self.ports(source)
        if ports is None:
            return port or "out"
        kind = self.types[source]
        label = f"{source!r} ({kind.name if kind else '?'})"
        if port is None:
            if "out" in ports:
                return "out"
            if not ports:
                self.problem(("edges", j, "from"), f"{label} has no outputs: nothing can follow it")
            else:
                names = ", ".join(f"{source}.{p}" for p in ports)
                self.problem(
                    ("edges", j, "from"), f"{label} has several outputs; name one: {names}"
                )
            return None
        if port not in ports:
            self.problem(
                ("edges", j, "from"),
                f"{label} has no output {port!r}{did_you_mean(port, ports)}",
            )
            return None
        return port

    # 3. inbound transitions

    def count_inbound(self) -> None:
        for node_id, kind in self.types.items():
            if kind is None:
                continue
            inbound = self.inbound[node_id]
            n = len(inbound)
            refs = ", ".join(f"{t.source}.{t.port}" for t in inbound)
            if kind.max_inbound == 0 and n:
                self.node_problem(
                    node_id,
                    (),
                    f"{_a(kind.name)} starts a flow and takes no inbound transition (from {refs})",
                )
            elif n == 0 and node_id in self.miswired:
                continue  # its transitions are reported as miswired
            elif n == 0 and kind.min_inbound:
                self.node_problem(
                    node_id,
                    (),
                    "nothing leads to this activity: connect a transition to it (flows begin "
                    f"at {', '.join(START_TYPES)})",
                )
            elif n < kind.min_inbound:
                self.node_problem(
                    node_id,
                    (),
                    f"{_a(kind.name)} joins at least {kind.min_inbound} transitions, got {n} ({refs})",
                )
            elif kind.max_inbound is not None and n > kind.max_inbound:
                self.node_problem(
                    node_id,
                    (),
                    f"{_a(kind.name)} takes one inbound transition, got {n} ({refs}): join them "
                    "first with an or_join, an and_join or a combine",
                )

    # 4. graph

    def check_cycles(self) -> set[str]:
        cyclic: set[str] = set()
        for component in _strongly_connected(list(self.index), self.outbound):
            first = component[0]
            if len(component) == 1 and not any(t.target == first for t in self.outbound[first]):
                continue
            cyclic.update(component)
            path = _cycle_through(first, set(component), self.outbound)
            self.node_problem(
                first,
                (),
                f"cycle: {' → '.join(path)}; a canvas flows one way (repeat with a recurring "
                "schedule instead)",
            )
        return cyclic

    def check_reachable(self, cyclic: set[str]) -> None:
        starts = [n for n, k in self.types.items() if k is not None and k.starts_flow]
        if not starts and self.index:
            self.problem(
                ("nodes",), f"the canvas has no start: begin with one of {', '.join(START_TYPES)}"
            )
            return
        reached = set(starts)
        queue = deque(starts)
        while queue:
            for t in self.outbound[queue.popleft()]:
                if t.target not in reached:
                    reached.add(t.target)
                    queue.append(t.target)
        for node_id in self.index:
            if node_id not in reached and node_id not in cyclic and self.inbound[node_id]:
                self.node_problem(node_id, (), "not reachable from any start activity")

    # 5. dimensions

    def check_flows(self) -> None:
        remaining = {n: len(self.inbound[n]) for n in self.index}
        queue = deque(n for n in self.index if remaining[n] == 0)
        while queue:
            node_id = queue.popleft()
            self.order.append(node_id)
            for t in self.outbound[node_id]:
                remaining[t.target] -= 1
                if remaining[t.target] == 0:
                    queue.append(t.target)
        ordered = set(self.order)
        saved: dict[str, str | None] = {
            s.name: None for s in self.settings.values() if isinstance(s, SaveAudience)
        }
        for node_id in [*self.order, *(n for n in self.index if n not in ordered)]:
            self.outputs[node_id] = self.check_node(node_id, saved)

    def check_node(self, node_id: str, saved: dict[str, str | None]) -> Mapping[str, Flow]:
        kind, settings = self.types[node_id], self.settings[node_id]
        if kind is None or settings is None:
            return {}
        inbounds: list[Inbound] = []
        for t in self.inbound[node_id] if not kind.starts_flow else []:
            flow = self.flow(t.source, t.port)
            if flow is Mark.SIGNAL and not kind.accepts_signal:
                self.node_problem(
                    node_id,
                    (),
                    f"{_a(kind.name)} needs rows, but {t.source}.{t.port} carries none (it comes "
                    "from a start): begin the flow with an audience",
                )
                flow = Mark.UNKNOWN
            inbounds.append(Inbound(f"{t.source}.{t.port}", flow))
        index = self.index[node_id]

        def report(parts: tuple[PathPart, ...], message: str) -> None:
            self.problem(
                ("nodes", index, "settings", *parts) if parts else ("nodes", index), message
            )

        scope = Scope(
            model=self.model,
            node_id=node_id,
            report=report,
            audiences=self.audiences,
            templates=self.templates,
            variables=self.draft.variables,
            saved_audiences=saved,
            upstream=lambda: self.upstream(node_id),
        )
        outputs = dict(kind.check(scope, settings, inbounds))
        if isinstance(settings, SaveAudience) and inbounds:
            flow = inbounds[0].flow
            if isinstance(flow, Population):
                saved[settings.name] = flow.entity
        return {port: outputs.get(port, Mark.UNKNOWN) for port in kind.outputs(settings)}

    def upstream(self, node_id: str) -> dict[str, tuple[str, ...]]:
        """The activities that run before `node_id`, with their output ports."""
        found: dict[str, tuple[str, ...]] = {}
        queue = deque([node_id])
        while queue:
            for t in self.inbound[queue.popleft()]:
                if t.source not in found and t.source != node_id:
                    found[t.source] = self.ports(t.source) or ()
                    queue.append(t.source)
        return found


def _a(name: str) -> str:
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _strongly_connected(
    nodes: Sequence[str], outbound: Mapping[str, list[_Edge]]
) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components listed with nodes in document order."""
    order = {n: i for i, n in enumerate(nodes)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            edges = outbound.get(node, [])
            if i < len(edges):
                work.append((node, i + 1))
                succ = edges[i].target
                if succ not in index:
                    work.append((succ, 0))
                elif succ in on_stack:
                    low[node] = min(low[node], index[succ])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(sorted(component, key=order.__getitem__))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out


def _cycle_through(start: str, members: set[str], outbound: Mapping[str, list[_Edge]]) -> list[str]:
    """A shortest path start → … → start within a strongly connected component."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for t in outbound.get(node, []):
            if t.target not in members:
                continue
            if t.target == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if t.target not in previous:
                previous[t.target] = node
                queue.append(t.target)
    return [start, start]
