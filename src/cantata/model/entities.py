"""The validated data model as plain immutable objects.

`Relation` is the one view the rest of the code needs of links: from an entity, a named way to
another entity, either to-one (a forward many-to-one link, or either side of a one-to-one
link) or to-many (the reverse side of a many-to-one link).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class FieldType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"

    @property
    def is_numeric(self) -> bool:
        return self in (FieldType.INTEGER, FieldType.DECIMAL, FieldType.FLOAT)

    @property
    def is_temporal(self) -> bool:
        return self in (FieldType.DATE, FieldType.TIMESTAMP)


# Channels whose address a recipient field can hold. `mail` (postal) may span several fields.
ADDRESS_CHANNELS = ("email", "sms", "push", "mail")


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    address: str | None = None
    values: tuple[str | int | float | bool, ...] | None = None


@dataclass(frozen=True)
class Link:
    """A link declared on `source`: `source.on` references the key of `target`."""

    name: str
    source: str
    target: str
    on: str
    reverse: str
    one_to_one: bool = False


@dataclass(frozen=True)
class Relation:
    """A navigable way from `source` to `target`: source.source_field = target.target_field."""

    name: str
    source: str
    target: str
    source_field: str
    target_field: str
    to_many: bool
    link: Link


@dataclass(frozen=True)
class Entity:
    name: str
    key: str
    fields: dict[str, Field]
    links: dict[str, Link] = field(default_factory=dict)
    recipient: bool = False
    version: str | None = None

    @property
    def key_field(self) -> Field:
        return self.fields[self.key]

    @property
    def table(self) -> str:
        """The store table holding this entity's rows."""
        return self.name

    def addresses(self) -> dict[str, list[str]]:
        """Channel → address fields, in declaration order."""
        out: dict[str, list[str]] = {}
        for f in self.fields.values():
            if f.address:
                out.setdefault(f.address, []).append(f.name)
        return out


@dataclass(frozen=True)
class Model:
    entities: dict[str, Entity]
    source: str = "model.yaml"

    @property
    def recipient(self) -> Entity:
        return next(e for e in self.entities.values() if e.recipient)

    def entity(self, name: str) -> Entity:
        return self.entities[name]

    def relations(self, entity: str) -> dict[str, Relation]:
        """Every link navigable from `entity`, by name (forward links and reverse names)."""
        out: dict[str, Relation] = {}
        for e in self.entities.values():
            for link in e.links.values():
                target_key = self.entities[link.target].key
                if link.source == entity:
                    out[link.name] = Relation(
                        link.name, entity, link.target, link.on, target_key, False, link
                    )
                if link.target == entity:
                    out[link.reverse] = Relation(
                        link.reverse,
                        entity,
                        link.source,
                        target_key,
                        link.on,
                        not link.one_to_one,
                        link,
                    )
        return out

    def to_one(self, entity: str) -> dict[str, Relation]:
        return {n: r for n, r in self.relations(entity).items() if not r.to_many}

    def to_many(self, entity: str) -> dict[str, Relation]:
        return {n: r for n, r in self.relations(entity).items() if r.to_many}
