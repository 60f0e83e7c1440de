"""The FROM clause of one statement over rows of an entity, and the SQL of their values.

The rows are a population (a worktable slice: `_key` and carried columns) or an entity table.
A value is a carried column or a *path*: a field of the entity or a dotted path through to-one
links (`hotel.city`). Each link on a path is LEFT JOINed once per statement, so a missing
related row reads as null and never drops or repeats a row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cantata.audience.rules import resolve_path
from cantata.canvas.runtime.worktable import KEY
from cantata.model import FieldType, Model
from cantata.store.base import quote_ident


@dataclass(frozen=True)
class Value:
    sql: str
    type: str  # a FieldType value, or "collection"


class Rows:
    """`source AS alias` plus the joins its values need.

    `table=True`: `source` is the entity's own table, so its fields need no join.
    """

    def __init__(
        self,
        model: Model,
        entity: str,
        source: str,
        alias: str,
        *,
        columns: Mapping[str, str] | None = None,
        table: bool = False,
    ) -> None:
        self.model = model
        self.entity = entity
        self.alias = alias
        self.columns = dict(columns or {})
        self._source = f"{source} AS {quote_ident(alias)}"
        self._joins: list[str] = []
        self._table = table
        self._rows: dict[tuple[str, ...], str] = {(): alias} if table else {}
        self._count = 0

    @property
    def key(self) -> str:
        name = self.model.entities[self.entity].key if self._table else KEY
        return f"{quote_ident(self.alias)}.{quote_ident(name)}"

    @property
    def key_type(self) -> FieldType:
        return self.model.entities[self.entity].key_field.type

    @property
    def from_clause(self) -> str:
        return " ".join([self._source, *self._joins])

    def new_alias(self, base: str) -> str:
        self._count += 1
        return f"{self.alias}_{base}{self._count}"

    def join(self, clause: str) -> None:
        """Add a join the caller built (a rule's key set, an aggregate...)."""
        self._joins.append(clause)

    def value(self, name: str) -> Value:
        """A carried column, else a field or to-one path of the entity."""
        if name in self.columns:
            return Value(f"{quote_ident(self.alias)}.{quote_ident(name)}", self.columns[name])
        return self.path(name)

    def path(self, path: str) -> Value:
        resolved = resolve_path(self.model, self.entity, path)
        alias = self._entity_row()
        steps: tuple[str, ...] = ()
        for rel in resolved.relations:
            steps = (*steps, rel.name)
            if steps not in self._rows:
                joined = self.new_alias(rel.name)
                table = self.model.entities[rel.target].table
                self._joins.append(
                    f"LEFT JOIN {quote_ident(table)} AS {quote_ident(joined)} ON "
                    f"{quote_ident(joined)}.{quote_ident(rel.target_field)} = "
                    f"{quote_ident(alias)}.{quote_ident(rel.source_field)}"
                )
                self._rows[steps] = joined
            alias = self._rows[steps]
        return Value(
            f"{quote_ident(alias)}.{quote_ident(resolved.field.name)}", resolved.field.type.value
        )

    def field(self, name: str) -> str:
        """A field of the entity row itself (joined once when the rows are a population)."""
        return f"{quote_ident(self._entity_row())}.{quote_ident(name)}"

    def _entity_row(self) -> str:
        if () not in self._rows:
            ent = self.model.entities[self.entity]
            joined = self.new_alias("e")
            self._joins.append(
                f"LEFT JOIN {quote_ident(ent.table)} AS {quote_ident(joined)} ON "
                f"{quote_ident(joined)}.{quote_ident(ent.key)} = {self.key}"
            )
            self._rows[()] = joined
        return self._rows[()]
