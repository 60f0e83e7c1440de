"""What every activity type declares, and what its check sees.

An `ActivityType` names its settings schema, its output ports (which may depend on the
settings: a split has one per subset), how many inbound transitions it takes, and `check`:
given the populations arriving on its inbound transitions, it validates its settings against
the model and returns what flows out of each port. The validator walks the canvas in
topological order calling these checks, so the dimension (entity) on every transition is known.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import PlainValidator, model_validator

from cantata.audience.rules import (
    ResolvedPath,
    Rule,
    RuleError,
    check_rule,
    parse_rule,
    resolve_path,
)
from cantata.audience.text import RuleSyntaxError, parse_text
from cantata.canvas.definition import Variable
from cantata.canvas.problems import PathPart
from cantata.canvas.schema import Strict
from cantata.delivery.personalize import check_template, sample_context
from cantata.errors import did_you_mean
from cantata.model import Model

if TYPE_CHECKING:
    from cantata.delivery.template_library import SavedTemplate

COLLECTION = "collection"  # the type of a column holding top-N related rows


class Settings(Strict):
    """Base of every activity's settings."""


def _rule_source(value: Any) -> str | dict[str, Any]:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, dict):
        return value
    raise ValueError('a rule is text (status = "confirmed" and nights > 2) or a JSON rule object')


# A rule as written: the text form or the canonical JSON object (docs/rules.md).
RuleSource = Annotated[str | dict[str, Any], PlainValidator(_rule_source)]


def parse_rule_setting(raw: str | dict[str, Any]) -> Rule:
    """The AST of a rule setting (text or JSON); RuleSyntaxError or RuleError when invalid."""
    return parse_text(raw) if isinstance(raw, str) else parse_rule(raw)


class SortKey(Strict):
    """`{field: check_in, order: asc}`, or the short form `check_in` / `amount desc`."""

    field: str
    order: Literal["asc", "desc"] = "asc"

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        if isinstance(value, str):
            words = value.split()
            if len(words) == 2 and words[1] in ("asc", "desc"):
                return {"field": words[0], "order": words[1]}
            return {"field": value}
        return value


# --- what flows on a transition ---------------------------------------------------------------


@dataclass(frozen=True)
class Population:
    """Rows of `entity` (their keys) and the columns carried along (name → type).

    `items` gives, for the collection columns an enrich made, their items' fields (name →
    type), for checking templates; it is not part of a population's identity."""

    entity: str
    columns: Mapping[str, str] = field(default_factory=dict)
    items: Mapping[str, Mapping[str, str]] = field(default_factory=dict, compare=False)


class Mark(Enum):
    SIGNAL = "signal"  # control only, no rows (from a start node)
    UNKNOWN = "unknown"  # not known because of a problem upstream: checks depending on it skip


Flow = Population | Mark


@dataclass(frozen=True)
class Inbound:
    """An inbound transition: `ref` as `node.port`, and what it carries."""

    ref: str
    flow: Flow

    @property
    def node(self) -> str:
        return self.ref.split(".", 1)[0]


# --- the check's view of the campaign ---------------------------------------------------------

_TEMPLATE_BLOCK = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_VAR_REF = re.compile(r"\bvars\.([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class Scope:
    """One node's view of the campaign: the model, what exists, and where to report."""

    model: Model
    node_id: str
    report: Callable[[tuple[PathPart, ...], str], None]  # (setting path, message)
    audiences: Mapping[str, str] | None = None
    templates: Mapping[str, SavedTemplate] | None = None
    variables: Mapping[str, Variable] | None = None
    saved_audiences: Mapping[str, str | None] = field(default_factory=dict)
    upstream: Callable[[], Mapping[str, tuple[str, ...]]] = dict  # ancestor id → its ports

    def problem(self, setting: Sequence[PathPart], message: str) -> None:
        self.report(tuple(setting), message)

    def entity(self, setting: Sequence[PathPart], name: str) -> bool:
        if name in self.model.entities:
            return True
        self.problem(setting, f"unknown entity {name!r}{did_you_mean(name, self.model.entities)}")
        return False

    def rule(
        self, setting: Sequence[PathPart], raw: str | dict[str, Any], entity: str | None
    ) -> Rule | None:
        """Parse a rule setting and, when `entity` is known, check it against the model."""
        try:
            rule = parse_rule_setting(raw)
        except RuleSyntaxError as exc:
            self.problem(setting, exc.message)
            return None
        except RuleError as exc:
            self._rule_problems(setting, exc)
            return None
        if entity is None:
            return rule
        try:
            check_rule(rule, self.model, entity, self._audiences_for(entity))
        except RuleError as exc:
            self._rule_problems(setting, exc)
        return rule

    def _rule_problems(self, setting: Sequence[PathPart], exc: RuleError) -> None:
        for path, message in exc.problems:
            self.problem((*setting, *_rule_path(path)), message)

    def _audiences_for(self, entity: str) -> Mapping[str, str] | None:
        if self.audiences is None:
            return None
        if not self.saved_audiences:
            return self.audiences
        # Audiences this campaign saves exist once it runs; when their entity is not known
        # yet, they are taken as compatible.
        saved = {n: e or entity for n, e in self.saved_audiences.items()}
        return {**saved, **self.audiences}

    def audience_entity(self, name: str) -> tuple[bool, str | None]:
        """Whether the saved audience exists (or is unchecked), and its entity when known."""
        if self.audiences is not None and name in self.audiences:
            return True, self.audiences[name]
        if name in self.saved_audiences:
            return True, self.saved_audiences[name]
        return self.audiences is None, None

    def path(self, setting: Sequence[PathPart], path: str, entity: str) -> ResolvedPath | None:
        """A field or dotted to-one path of `entity`."""
        try:
            return resolve_path(self.model, entity, path)
        except KeyError as exc:
            self.problem(setting, str(exc.args[0]))
            return None

    def value(self, setting: Sequence[PathPart], name: str, population: Population) -> str | None:
        """The type of a carried column or of a field / to-one path of the population's rows."""
        if name in population.columns:
            return population.columns[name]
        try:
            return resolve_path(self.model, population.entity, name).field.type.value
        except KeyError as exc:
            message = str(exc.args[0])
            if "." not in name and population.columns:
                names = [*population.columns, *self.model.entities[population.entity].fields]
                message = (
                    f"{name!r} is neither a carried column nor a field of "
                    f"{population.entity!r}{did_you_mean(name, names)}"
                )
            self.problem(setting, message)
            return None

    def template_text(self, setting: Sequence[PathPart], text: str) -> None:
        """Check the `{{ vars.NAME }}` references of a text where only variables are
        replaced (alerts, variables passed on); channel templates use `message_template`."""
        if self.variables is None:
            return
        for block in _TEMPLATE_BLOCK.findall(text):
            for name in _VAR_REF.findall(block):
                if name not in self.variables:
                    self.problem(
                        setting,
                        f"unknown variable vars.{name}{did_you_mean(name, self.variables)}",
                    )

    def message_template(
        self,
        setting: Sequence[PathPart],
        text: str,
        *,
        html: bool,
        flow: Population | None,
        label: str | None = None,
    ) -> None:
        """Check a channel's template: syntax, the sandbox's refusals, every name and field
        against sample rows of the population (`flow`, None when unknown), then a render.
        `label` names the text's origin in messages (a library template's part)."""
        if flow is None:
            context = sample_context(self.model, None, None, self.variables)
        else:
            context = sample_context(
                self.model, flow.entity, flow.columns, self.variables, items=flow.items
            )
        multiline = "\n" in text.strip()
        for found in check_template(text, html=html, context=context):
            at_line = multiline and found.line is not None
            message = f"template line {found.line}: {found.message}" if at_line else found.message
            self.problem(setting, f"{label}: {message}" if label else message)

    def template(self, setting: Sequence[PathPart], name: str) -> SavedTemplate | None:
        """The library template `name` (None when unknown, reported, or not checked)."""
        if self.templates is None:
            return None
        found = self.templates.get(name)
        if found is None:
            self.problem(
                setting,
                f"unknown template {name!r}{did_you_mean(name, self.templates)}: "
                "`cantata template save FILE` adds one",
            )
        return found

    def match_inbound(
        self, setting: Sequence[PathPart], ref: str, inbounds: Sequence[Inbound]
    ) -> Inbound | None:
        """The inbound transition `ref` names: `node.port`, or `node` when unambiguous."""
        for inbound in inbounds:
            if inbound.ref == ref:
                return inbound
        by_node = [i for i in inbounds if i.node == ref]
        if len(by_node) == 1:
            return by_node[0]
        refs = [i.ref for i in inbounds]
        if by_node:
            self.problem(setting, f"{ref!r} sends several transitions here: name one of {refs}")
        else:
            self.problem(
                setting, f"no inbound transition comes from {ref!r}{did_you_mean(ref, refs)}"
            )
        return None


def _rule_path(path: str) -> tuple[PathPart, ...]:
    """`all[1].field` → ("all", 1, "field")."""
    out: list[PathPart] = []
    for piece in path.split("."):
        if not piece:
            continue
        name, *indexes = piece.split("[")
        if name:
            out.append(name)
        out.extend(int(i.rstrip("]")) for i in indexes)
    return tuple(out)


# --- the activity type ------------------------------------------------------------------------

Kind = Literal["source", "targeting", "control", "channel"]
Check = Callable[[Scope, Any, Sequence[Inbound]], Mapping[str, Flow]]


def out_only(_: Any) -> tuple[str, ...]:
    return ("out",)


def no_outputs(_: Any) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True)
class ActivityType:
    name: str
    kind: Kind
    settings: type[Settings]
    summary: str
    check: Check
    outputs: Callable[[Any], tuple[str, ...]] = out_only
    min_inbound: int = 1
    max_inbound: int | None = 1
    fan_out: bool = False  # one output may lead to several activities (fork)
    accepts_signal: bool = False  # may run on a transition that carries no rows

    @property
    def starts_flow(self) -> bool:
        return self.max_inbound == 0


def population(inbounds: Sequence[Inbound]) -> Population | None:
    """The population of a single-input activity, or None when unknown."""
    if len(inbounds) == 1 and isinstance(inbounds[0].flow, Population):
        return inbounds[0].flow
    return None
