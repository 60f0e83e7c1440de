"""Targeting activities: they read or reshape populations (keys of one entity + columns)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Self

from pydantic import Field, model_validator

from cantata.audience.rules import AGGREGATES
from cantata.canvas.activities.base import (
    COLLECTION,
    ActivityType,
    Flow,
    Inbound,
    Mark,
    Population,
    RuleSource,
    Scope,
    Settings,
    SortKey,
    population,
)
from cantata.canvas.schema import Name, Strict
from cantata.errors import did_you_mean
from cantata.model import FieldType

# --- sources ----------------------------------------------------------------------------------


class BuildAudience(Settings):
    """Rows of any entity matching a rule (all rows when no rule)."""

    entity: str
    rule: RuleSource | None = None


def _build_audience(scope: Scope, s: BuildAudience, _: Sequence[Inbound]) -> Mapping[str, Flow]:
    if not scope.entity(("entity",), s.entity):
        if s.rule is not None:
            scope.rule(("rule",), s.rule, None)
        return {"out": Mark.UNKNOWN}
    if s.rule is not None:
        scope.rule(("rule",), s.rule, s.entity)
    return {"out": Population(s.entity)}


class ReadAudience(Settings):
    """A saved audience: its latest version, or a fixed `version`."""

    audience: str
    version: int | None = Field(default=None, ge=1)
    entity: str | None = None  # declares the audience's entity, checked when audiences are known


def _read_audience(scope: Scope, s: ReadAudience, _: Sequence[Inbound]) -> Mapping[str, Flow]:
    declared = s.entity if s.entity is None or scope.entity(("entity",), s.entity) else None
    exists, entity = scope.audience_entity(s.audience)
    if not exists:
        known = {*(scope.audiences or {}), *scope.saved_audiences}
        scope.problem(
            ("audience",), f"no saved audience {s.audience!r}{did_you_mean(s.audience, known)}"
        )
        return {"out": Mark.UNKNOWN}
    if entity is not None and declared is not None and entity != declared:
        scope.problem(
            ("entity",), f"audience {s.audience!r} holds {entity!r} rows, not {declared!r}"
        )
    found = entity or declared
    return {"out": Population(found) if found else Mark.UNKNOWN}


class IncrementalQuery(Settings):
    """Like build_audience, but each run outputs only what earlier runs did not:
    `new_keys` (keys not output by runs of the last `history_days`), or `after_last_run`
    (rows whose `date_field` is after the previous run's time)."""

    entity: str
    rule: RuleSource | None = None
    mode: Literal["new_keys", "after_last_run"] = "new_keys"
    date_field: str | None = None
    history_days: int = Field(default=30, ge=1)


def _incremental_query(
    scope: Scope, s: IncrementalQuery, _: Sequence[Inbound]
) -> Mapping[str, Flow]:
    known = scope.entity(("entity",), s.entity)
    if s.rule is not None:
        scope.rule(("rule",), s.rule, s.entity if known else None)
    if s.mode == "after_last_run" and s.date_field is None:
        scope.problem(("date_field",), "after_last_run needs the date or timestamp field to follow")
    if s.mode == "new_keys" and s.date_field is not None:
        scope.problem(("date_field",), "date_field is used by mode: after_last_run only")
    if known and s.date_field is not None and s.mode == "after_last_run":
        fields = scope.model.entities[s.entity].fields
        fld = fields.get(s.date_field)
        if fld is None:
            scope.problem(
                ("date_field",),
                f"{s.entity!r} has no field {s.date_field!r}{did_you_mean(s.date_field, fields)}",
            )
        elif not fld.type.is_temporal:
            scope.problem(
                ("date_field",), f"{s.date_field!r} is {fld.type}, not a date or timestamp"
            )
    return {"out": Population(s.entity) if known else Mark.UNKNOWN}


# --- set operations -------------------------------------------------------------------------


class Combine(Settings):
    """Union, intersection or exclusion of populations of one entity.

    `primary` is the inbound transition (`node` or `node.port`) that an exclusion removes the
    others from; its columns are kept by `columns: shared` exclusions. `complement` (not for
    unions) carries the rows left out: of the primary for an exclusion, of any input for an
    intersection.
    """

    operation: Literal["union", "intersection", "exclusion"]
    primary: str | None = None
    columns: Literal["keys_only", "shared"] = "keys_only"


def _combine_outputs(s: Combine) -> tuple[str, ...]:
    return ("out",) if s.operation == "union" else ("out", "complement")


def _combine(scope: Scope, s: Combine, inbounds: Sequence[Inbound]) -> Mapping[str, Flow]:
    primary = None
    if s.primary is not None:
        primary = scope.match_inbound(("primary",), s.primary, inbounds)
    elif s.operation == "exclusion":
        refs = ", ".join(i.ref for i in inbounds)
        scope.problem(
            ("primary",), f"an exclusion needs the input to exclude from: primary: one of {refs}"
        )
    populations = [(i.ref, i.flow) for i in inbounds if isinstance(i.flow, Population)]
    if len(populations) != len(inbounds):
        return dict.fromkeys(_combine_outputs(s), Mark.UNKNOWN)
    entities = {p.entity for _, p in populations}
    if len(entities) > 1:
        shown = ", ".join(f"{p.entity} (from {ref})" for ref, p in populations)
        scope.problem((), f"combine needs inputs of one dimension; got {shown}")
        return dict.fromkeys(_combine_outputs(s), Mark.UNKNOWN)
    entity = entities.pop()
    columns: dict[str, str] = {}
    if s.columns == "shared":
        if (
            s.operation == "exclusion"
            and primary is not None
            and isinstance(primary.flow, Population)
        ):
            columns = dict(primary.flow.columns)
        else:
            first = populations[0][1].columns
            columns = {
                name: kind
                for name, kind in first.items()
                if all(p.columns.get(name) == kind for _, p in populations)
            }
    base = primary.flow if primary is not None and isinstance(primary.flow, Population) else None
    out: dict[str, Flow] = {"out": Population(entity, columns)}
    if s.operation != "union":
        out["complement"] = Population(entity, dict(base.columns) if base else columns)
    return out


class Choose(Strict):
    """Which rows of a duplicate group to keep: max / min of a value, rows whose `non_empty`
    fields are all set, or a seeded random pick. Ties fall back to the lowest key."""

    max: str | None = None
    min: str | None = None
    non_empty: list[str] | None = Field(default=None, min_length=1)
    random_seed: int | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        given = [
            k for k in ("max", "min", "non_empty", "random_seed") if getattr(self, k) is not None
        ]
        if len(given) != 1:
            raise ValueError("choose exactly one of max, min, non_empty, random_seed")
        return self


class Dedupe(Settings):
    """Keep `keep` rows per group of equal `by` values; `complement` carries the others."""

    by: list[str] = Field(min_length=1)
    keep: int = Field(default=1, ge=1)
    choose: Choose | None = None


def _dedupe(scope: Scope, s: Dedupe, inbounds: Sequence[Inbound]) -> Mapping[str, Flow]:
    pop = population(inbounds)
    if pop is not None:
        for i, name in enumerate(s.by):
            scope.value(("by", i), name, pop)
        if s.choose is not None:
            for key in ("max", "min"):
                name = getattr(s.choose, key)
                if name is not None:
                    scope.value(("choose", key), name, pop)
            for i, name in enumerate(s.choose.non_empty or []):
                scope.value(("choose", "non_empty", i), name, pop)
    flow: Flow = pop if pop is not None else Mark.UNKNOWN
    return {"out": flow, "complement": flow}


# --- enrichment --------------------------------------------------------------------------------


class Attribute(Strict):
    """A to-one attribute: `hotel.city` as column `hotel_city` (the default name)."""

    path: str
    column: Name | None = Field(default=None, alias="as")


class Aggregate(Strict):
    """count / sum / avg / min / max over a to-many link, of the related rows matching
    `where`. The default column name is `fn_link` (`count_bookings`) or `fn_link_field`."""

    link: str
    fn: Literal["count", "sum", "avg", "min", "max"]
    field: str | None = None
    where: RuleSource | None = None
    column: Name | None = Field(default=None, alias="as")


class Related(Strict):
    """The first `limit` related rows of a to-many link by `sort`, with `fields` (paths of the
    related entity), as a collection column named after the link unless `as` says otherwise."""

    link: str
    where: RuleSource | None = None
    sort: list[SortKey] = Field(min_length=1)
    limit: int = Field(default=1, ge=1)
    fields: list[str] = Field(min_length=1)
    column: Name | None = Field(default=None, alias="as")


class Enrich(Settings):
    attributes: list[Attribute] = Field(default_factory=list)
    aggregates: list[Aggregate] = Field(default_factory=list)
    related: list[Related] = Field(default_factory=list)


def _enrich(scope: Scope, s: Enrich, inbounds: Sequence[Inbound]) -> Mapping[str, Flow]:
    if not (s.attributes or s.aggregates or s.related):
        scope.problem((), "enrich adds nothing: give attributes, aggregates or related")
    pop = population(inbounds)
    if pop is None:
        for i, agg in enumerate(s.aggregates):
            if agg.where is not None:
                scope.rule(("aggregates", i, "where"), agg.where, None)
        return {"out": Mark.UNKNOWN}
    entity = pop.entity
    columns = dict(pop.columns)
    added: dict[str, tuple[str | int, ...]] = {}

    def add(setting: tuple[str | int, ...], name: str, kind: str | None) -> None:
        if name in added or name in pop.columns:
            where = "this enrichment" if name in added else "the incoming transition"
            scope.problem(
                setting, f"column {name!r} is already set by {where}: choose another name with 'as'"
            )
            return
        added[name] = setting
        if kind is not None:
            columns[name] = kind

    for i, attr in enumerate(s.attributes):
        resolved = scope.path(("attributes", i, "path"), attr.path, entity)
        add(
            ("attributes", i, "as"),
            attr.column or attr.path.replace(".", "_"),
            resolved.field.type.value if resolved else None,
        )
    to_many = scope.model.to_many(entity)
    for i, agg in enumerate(s.aggregates):
        at: tuple[str | int, ...] = ("aggregates", i)
        name = agg.column or "_".join(p for p in (agg.fn, agg.link, agg.field) if p).replace(
            ".", "_"
        )
        relation = to_many.get(agg.link)
        if relation is None:
            scope.problem((*at, "link"), _not_to_many(scope, entity, agg.link))
            if agg.where is not None:
                scope.rule((*at, "where"), agg.where, None)
            add((*at, "as"), name, None)
            continue
        if agg.where is not None:
            scope.rule((*at, "where"), agg.where, relation.target)
        add((*at, "as"), name, _aggregate_type(scope, at, agg, relation.target))
    items = dict(pop.items)  # collection column → its items' fields (for templates)
    for i, rel in enumerate(s.related):
        at = ("related", i)
        relation = to_many.get(rel.link)
        fields: dict[str, str] = {}
        if relation is None:
            scope.problem((*at, "link"), _not_to_many(scope, entity, rel.link))
        else:
            target = Population(relation.target)
            if rel.where is not None:
                scope.rule((*at, "where"), rel.where, relation.target)
            for j, key in enumerate(rel.sort):
                scope.value((*at, "sort", j, "field"), key.field, target)
            for j, path in enumerate(rel.fields):
                resolved = scope.path((*at, "fields", j), path, relation.target)
                if resolved is not None:
                    fields[path.replace(".", "_")] = resolved.field.type.value
        name = rel.column or rel.link
        add((*at, "as"), name, COLLECTION)
        if relation is not None and len(fields) == len(rel.fields):
            items[name] = fields
    return {"out": Population(entity, columns, {k: items[k] for k in items if k in columns})}


def _not_to_many(scope: Scope, entity: str, link: str) -> str:
    if link in scope.model.to_one(entity):
        return (
            f"{link!r} is a to-one link of {entity!r}: read its fields with attributes "
            f"(path: {link}.FIELD)"
        )
    to_many = scope.model.to_many(entity)
    return f"{entity!r} has no to-many link {link!r}{did_you_mean(link, to_many)}"


def _aggregate_type(
    scope: Scope, at: tuple[str | int, ...], agg: Aggregate, target: str
) -> str | None:
    assert agg.fn in AGGREGATES
    if agg.fn == "count":
        if agg.field is not None:
            scope.problem((*at, "field"), "count takes no field")
        return FieldType.INTEGER.value
    if agg.field is None:
        scope.problem((*at, "field"), f"{agg.fn} needs a field of {target!r}")
        return None
    resolved = scope.path((*at, "field"), agg.field, target)
    if resolved is None:
        return None
    ftype = resolved.field.type
    if agg.fn in ("sum", "avg") and not ftype.is_numeric:
        scope.problem((*at, "field"), f"{agg.fn} needs a numeric field; {agg.field!r} is {ftype}")
        return None
    if agg.fn in ("min", "max") and ftype is FieldType.BOOLEAN:
        scope.problem((*at, "field"), f"{agg.fn} is not defined for booleans")
        return None
    if agg.fn == "avg":
        return FieldType.DECIMAL.value if ftype is FieldType.DECIMAL else FieldType.FLOAT.value
    return ftype.value


# --- split and change of dimension -------------------------------------------------------------


class Limit(Strict):
    """At most `count` rows, or `percent` of the rows matching the subset's rule: the first by
    `sort`, or a sample drawn with `random_seed` (the same seed draws the same rows)."""

    count: int | None = Field(default=None, ge=1)
    percent: float | None = Field(default=None, gt=0, le=100)
    sort: list[SortKey] | None = Field(default=None, min_length=1)
    random_seed: int | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.count is None) == (self.percent is None):
            raise ValueError("a limit has either 'count' or 'percent'")
        if self.sort is not None and self.random_seed is not None:
            raise ValueError("a limit picks rows by 'sort' or by 'random_seed', not both")
        return self


class Subset(Strict):
    name: Name
    rule: RuleSource | None = None  # none: every row not taken by an earlier subset
    limit: Limit | None = None


class Split(Settings):
    """Ordered subsets, each an output port; a row goes to the first subset it matches (to
    every one with `overlap: true`); `complement` carries rows in no subset. With
    `skip_empty`, an empty subset does not activate its transition."""

    subsets: list[Subset] = Field(min_length=1)
    overlap: bool = False
    skip_empty: bool = False


def _split_outputs(s: Split) -> tuple[str, ...]:
    return (*dict.fromkeys(sub.name for sub in s.subsets), "complement")


def _split(scope: Scope, s: Split, inbounds: Sequence[Inbound]) -> Mapping[str, Flow]:
    pop = population(inbounds)
    seen: dict[str, int] = {}
    for i, sub in enumerate(s.subsets):
        if sub.name == "complement":
            scope.problem(
                ("subsets", i, "name"),
                "'complement' is the port of rows in no subset; name the subset otherwise",
            )
        elif sub.name in seen:
            scope.problem(
                ("subsets", i, "name"),
                f"subset {sub.name!r} is already defined (subsets[{seen[sub.name]}])",
            )
        seen.setdefault(sub.name, i)
        if sub.rule is not None:
            scope.rule(("subsets", i, "rule"), sub.rule, pop.entity if pop else None)
        if pop is not None and sub.limit is not None:
            for j, key in enumerate(sub.limit.sort or []):
                scope.value(("subsets", i, "limit", "sort", j, "field"), key.field, pop)
    flow: Flow = pop if pop is not None else Mark.UNKNOWN
    return dict.fromkeys(_split_outputs(s), flow)


class ChangeDimension(Settings):
    """The rows of the entity at the other end of `link` (distinct); `complement` carries the
    input rows with no row at the other end. Carried columns are dropped: enrich after."""

    link: str


def _change_dimension(
    scope: Scope, s: ChangeDimension, inbounds: Sequence[Inbound]
) -> Mapping[str, Flow]:
    pop = population(inbounds)
    if pop is None:
        return {"out": Mark.UNKNOWN, "complement": Mark.UNKNOWN}
    relations = scope.model.relations(pop.entity)
    relation = relations.get(s.link)
    if relation is None:
        scope.problem(
            ("link",),
            f"{pop.entity!r} (the dimension flowing in) has no link {s.link!r}"
            f"{did_you_mean(s.link, relations)}",
        )
        return {"out": Mark.UNKNOWN, "complement": pop}
    return {"out": Population(relation.target), "complement": pop}


class SaveAudience(Settings):
    """Save the population as a new version of a named audience; rows pass through."""

    name: str
    mode: Literal["replace", "append"] = "replace"
    description: str | None = None


def _save_audience(
    scope: Scope, s: SaveAudience, inbounds: Sequence[Inbound]
) -> Mapping[str, Flow]:
    pop = population(inbounds)
    if pop is not None and scope.audiences is not None:
        held = scope.audiences.get(s.name)
        if held is not None and held != pop.entity:
            scope.problem(
                ("name",),
                f"audience {s.name!r} holds {held!r} rows, but {pop.entity!r} rows flow here; "
                "choose another name",
            )
    return {"out": pop if pop is not None else Mark.UNKNOWN}


TYPES = (
    ActivityType(
        "build_audience",
        "source",
        BuildAudience,
        "rows of any entity matching a rule",
        _build_audience,
        min_inbound=0,
        max_inbound=0,
    ),
    ActivityType(
        "read_audience",
        "source",
        ReadAudience,
        "the members of a saved audience",
        _read_audience,
        min_inbound=0,
        max_inbound=0,
    ),
    ActivityType(
        "incremental_query",
        "source",
        IncrementalQuery,
        "a rule's rows not output by earlier runs",
        _incremental_query,
        min_inbound=0,
        max_inbound=0,
    ),
    ActivityType(
        "combine",
        "targeting",
        Combine,
        "union, intersection or exclusion",
        _combine,
        _combine_outputs,
        min_inbound=2,
        max_inbound=None,
    ),
    ActivityType(
        "dedupe",
        "targeting",
        Dedupe,
        "one (or N) rows per group of equal values",
        _dedupe,
        lambda _: ("out", "complement"),
    ),
    ActivityType(
        "enrich", "targeting", Enrich, "add columns: attributes, aggregates, top-N rows", _enrich
    ),
    ActivityType(
        "split",
        "targeting",
        Split,
        "ordered subsets by rule, limit and sample",
        _split,
        _split_outputs,
    ),
    ActivityType(
        "change_dimension",
        "targeting",
        ChangeDimension,
        "follow a link to another entity",
        _change_dimension,
        lambda _: ("out", "complement"),
    ),
    ActivityType(
        "save_audience", "targeting", SaveAudience, "save the rows as an audience", _save_audience
    ),
)
