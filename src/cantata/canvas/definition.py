"""The campaign definition: a YAML/JSON document read into strict pydantic models.

    name: upcoming_stays
    time_zone: Europe/Paris
    variables: {lookahead_days: {type: integer, default: 14}}
    schedule: {daily: {at: "08:00"}}
    on_error: {ignore: 5}
    nodes:
      - {id: stays, type: build_audience, settings: {entity: booking, rule: 'status = "confirmed"'}}
      - {id: customers, type: change_dimension, settings: {link: customer}}
    edges:
      - {from: stays, to: customers}

`parse_campaign` checks the document's shape (every problem at once, with its line); node
settings are checked per activity type by `cantata.canvas.validate`. docs/campaigns.md is the
reference.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar
from zoneinfo import ZoneInfo, available_timezones

from pydantic import (
    AfterValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cantata.canvas.document import Document
from cantata.canvas.problems import CampaignError, PathPart, Problem, display_path
from cantata.canvas.schedule import Schedule
from cantata.canvas.schema import Name, Strict, is_name, pydantic_problems
from cantata.errors import CantataError, did_you_mean

_S = TypeVar("_S", bound=Strict)

VariableType = Literal["string", "integer", "decimal", "boolean", "date", "timestamp"]

_CAMPAIGN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_REF = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?$")


def _campaign_name(value: str) -> str:
    if not _CAMPAIGN_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid campaign name: use letters, digits, '_', '-' and '.'"
        )
    return value


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(
            f"unknown time zone {value!r}{did_you_mean(value, available_timezones())}; use an "
            "IANA name such as Europe/Paris"
        ) from None
    return value


def typed_value(kind: VariableType, value: Any) -> Any:
    """`value` as the Python value of a variable type; raise ValueError when it is not one."""
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "decimal" and not isinstance(value, bool) and isinstance(value, int | float | str):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            pass
    if kind == "date":
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str) and len(value) == 10:
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
    if kind == "timestamp":
        if isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                pass
    article = "an" if kind[0] in "aeiou" else "a"
    raise ValueError(f"{value!r} is not {article} {kind}")


class Variable(Strict):
    """A typed campaign variable; without a default, a value must be given at start."""

    type: VariableType
    default: Any = None
    description: str | None = None

    @model_validator(mode="after")
    def _default_has_type(self) -> Self:
        if self.default is not None:
            try:
                typed_value(self.type, self.default)
            except ValueError as exc:
                raise ValueError(f"default: {exc}") from None
        return self


@dataclass(frozen=True)
class ErrorPolicy:
    """What a run does when an activity fails: suspend (wait for an operator), ignore up to
    `max_errors` failures per run (the next one suspends), or abort the run."""

    action: Literal["suspend", "ignore", "abort"] = "suspend"
    max_errors: int = 0

    def as_yaml(self) -> str | dict[str, int]:
        return {"ignore": self.max_errors} if self.action == "ignore" else self.action


def _error_policy(value: Any) -> ErrorPolicy:
    if isinstance(value, ErrorPolicy):
        return value
    if value in ("suspend", "abort"):
        return ErrorPolicy(value)
    if isinstance(value, dict) and list(value) == ["ignore"]:
        n = value["ignore"]
        if isinstance(n, int) and not isinstance(n, bool) and n >= 1:
            return ErrorPolicy("ignore", n)
    raise ValueError("use suspend, abort, or {ignore: N} (N ≥ 1 errors per run, then suspend)")


class Position(Strict):
    """Where the canvas editor draws the node (kept so that layouts diff well in git)."""

    x: float
    y: float


class Node(Strict):
    id: Name
    type: str
    label: str | None = None
    description: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    position: Position | None = None

    @field_validator("settings", mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        return {} if value is None else value  # `settings:` left empty in YAML


def _edge_from(value: str) -> str:
    if not _REF.match(value):
        raise ValueError(f"{value!r} is not a node id or node.port")
    return value


def _edge_to(value: str) -> str:
    if not _REF.match(value):
        raise ValueError(f"{value!r} is not a node id")
    if "." in value:
        raise ValueError(f"{value!r}: a transition goes to a node, not to a port")
    return value


class Edge(Strict):
    """A transition `from: node` (its `out` port) or `from: node.port`, `to: node`."""

    source: Annotated[str, AfterValidator(_edge_from)] = Field(alias="from")
    target: Annotated[str, AfterValidator(_edge_to)] = Field(alias="to")

    @property
    def node(self) -> str:
        return self.source.split(".", 1)[0]

    @property
    def port(self) -> str | None:
        parts = self.source.split(".", 1)
        return parts[1] if len(parts) == 2 else None


class Campaign(Strict):
    name: Annotated[str, AfterValidator(_campaign_name)]
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    time_zone: Annotated[str, AfterValidator(_time_zone)] = "UTC"
    variables: dict[Name, Variable] = Field(default_factory=dict)
    schedule: Schedule = Field(default_factory=lambda: Schedule(manual=True))
    on_error: Annotated[
        ErrorPolicy,
        PlainValidator(_error_policy),
        PlainSerializer(lambda p: p.as_yaml()),
    ] = ErrorPolicy()
    nodes: list[Node] = Field(min_length=1)
    edges: list[Edge] = Field(default_factory=list)

    _document: Document | None = PrivateAttr(default=None)

    @field_validator("tags", "variables", "edges", mode="before")
    @classmethod
    def _empty(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:  # a key left empty in YAML
            return {} if info.field_name == "variables" else []
        return value

    @property
    def document(self) -> Document | None:
        """The parsed text (for line numbers), when the campaign was read from one."""
        return self._document

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def __eq__(self, other: object) -> bool:
        # Equal content is an equal campaign, whatever text (if any) it was read from.
        if not isinstance(other, Campaign):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]


# --- reading -----------------------------------------------------------------------------


def load_campaign(path: Path) -> Campaign:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignError([Problem("", f"cannot read the campaign: {exc}")], str(path)) from None
    return parse_campaign(text, source=str(path))


def parse_campaign(text: str, source: str = "campaign.yaml") -> Campaign:
    """The campaign in `text` (YAML or JSON); CampaignError lists every shape problem."""
    doc = Document(text, source)
    campaign, draft = read_draft(doc)
    if draft.problems or campaign is None:
        raise CampaignError(draft.problems, source)
    return campaign


@dataclass
class Draft:
    """What validation works on: the nodes and edges that have a valid shape, by their index
    in the document, and the problems found so far. A `Campaign` gives a complete draft; a
    document with problems a partial one, so that one pass reports everything."""

    nodes: list[tuple[int, Node]]
    edges: list[tuple[int, Edge]]
    variables: Mapping[str, Variable] | None  # None: not readable, skip variable checks
    time_zone: str | None
    document: Document | None
    problems: list[Problem]
    node_ids: dict[int, str]

    @classmethod
    def of(cls, campaign: Campaign) -> Draft:
        return cls(
            nodes=list(enumerate(campaign.nodes)),
            edges=list(enumerate(campaign.edges)),
            variables=campaign.variables,
            time_zone=campaign.time_zone,
            document=campaign.document,
            problems=[],
            node_ids={i: n.id for i, n in enumerate(campaign.nodes)},
        )

    def problem(self, parts: tuple[PathPart, ...], message: str) -> Problem:
        return locate(parts, message, self.document, self.node_ids)


def locate(
    parts: tuple[PathPart, ...],
    message: str,
    document: Document | None,
    node_ids: Mapping[int, str],
) -> Problem:
    """A problem at `parts` (nodes by index), shown with node ids and the YAML line."""
    node = None
    shown: tuple[PathPart, ...] = parts
    if len(parts) >= 2 and parts[0] == "nodes" and isinstance(parts[1], int):
        node = node_ids.get(parts[1])
        if node is not None:
            shown = ("nodes", node, *parts[2:])
    line = document.line(parts) if document is not None else None
    return Problem(display_path(shown), message, line, node)


def read_draft(doc: Document) -> tuple[Campaign | None, Draft]:
    """Read a document: the campaign if its shape is valid, and the draft (always)."""
    data = doc.data
    raw_nodes = data.get("nodes") if isinstance(data, dict) else None
    node_ids = {
        i: n["id"]
        for i, n in enumerate(raw_nodes if isinstance(raw_nodes, list) else [])
        if isinstance(n, dict) and is_name(n.get("id"))
    }
    draft = Draft([], [], None, None, doc, list(doc.problems), node_ids)
    if not isinstance(data, dict):
        draft.problems.append(
            Problem("", "a campaign is a mapping with name, nodes and edges", doc.line(()))
        )
        return None, draft
    try:
        campaign = Campaign.model_validate(data)
    except ValidationError as exc:
        campaign = None
        for parts, message in pydantic_problems(exc, Campaign, noun="key"):
            draft.problems.append(draft.problem(parts, message))
    if campaign is not None:
        campaign._document = doc
        complete = Draft.of(campaign)
        complete.problems = draft.problems
        return (campaign if not draft.problems else None), complete
    # Salvage what has a valid shape, so that validation still checks the graph.
    draft.nodes = _valid_items(data.get("nodes"), Node)
    draft.edges = _valid_items(data.get("edges"), Edge)
    try:
        draft.variables = TypeAdapter(dict[Name, Variable]).validate_python(
            data.get("variables") or {}, strict=True
        )
    except ValidationError:
        draft.variables = None
    tz = data.get("time_zone", "UTC")
    try:
        draft.time_zone = _time_zone(tz) if isinstance(tz, str) else None
    except ValueError:
        draft.time_zone = None
    return None, draft


def _valid_items(raw: Any, kind: type[_S]) -> list[tuple[int, _S]]:
    out: list[tuple[int, _S]] = []
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        try:
            out.append((i, kind.model_validate(item)))
        except ValidationError:
            continue
    return out


# --- variables at start ----------------------------------------------------------------------


def variables_from_args(campaign: Campaign, given: Sequence[str] | None) -> dict[str, Any]:
    """`NAME=VALUE` texts (the CLI's `--var`, the API's `var`) typed by the campaign's declared
    variable type; bind_variables checks the rest."""
    out: dict[str, Any] = {}
    for item in given or []:
        name, sep, text = item.partition("=")
        if not sep:
            raise CantataError(f"--var {item!r}: write NAME=VALUE")
        declared = campaign.variables.get(name)
        value: Any = text
        if declared is not None and declared.type == "integer":
            try:
                value = int(text)
            except ValueError:
                raise CantataError(f"--var {name}: {text!r} is not an integer") from None
        elif declared is not None and declared.type == "boolean":
            if text not in ("true", "false"):
                raise CantataError(f"--var {name}: {text!r} is not true or false")
            value = text == "true"
        out[name] = value
    return out


def bind_variables(campaign: Campaign, values: Mapping[str, Any]) -> dict[str, Any]:
    """The variables of a run: `values` given at start (API, CLI, another campaign's end)
    over the defaults, typed; CampaignError lists unknown, missing and mistyped ones."""
    problems: list[Problem] = []
    out: dict[str, Any] = {}
    for name in values:
        if name not in campaign.variables:
            problems.append(
                Problem(
                    f"variables.{name}",
                    f"unknown variable{did_you_mean(name, campaign.variables)}",
                )
            )
    for name, var in campaign.variables.items():
        raw = values.get(name, var.default)
        if raw is None:
            problems.append(Problem(f"variables.{name}", f"a {var.type} value is required"))
            continue
        try:
            out[name] = typed_value(var.type, raw)
        except ValueError as exc:
            problems.append(Problem(f"variables.{name}", str(exc)))
    if problems:
        raise CampaignError(problems, campaign.name)
    return out
