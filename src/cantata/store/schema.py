"""Create and evolve entity tables from the model.

Additions (entities, fields) apply to a store that already holds data. Destructive changes
(dropping an entity or field, changing a type, key or version) are refused with the list of
what would be lost, unless `allow_drop` is given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cantata.errors import StoreError
from cantata.model import Entity, Model
from cantata.store.base import Store, quote_ident


@dataclass
class SchemaPlan:
    statements: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    destructive: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.statements


def tombstone_table(entity: Entity) -> str:
    """Deleted keys of a versioned entity, so an older upsert arriving later cannot resurrect
    a row that a newer delete removed."""
    return f"cantata_tombstone_{entity.name}"


def snapshot(model: Model) -> dict[str, Any]:
    return {
        name: {
            "key": e.key,
            "version": e.version,
            "fields": {f.name: f.type.value for f in e.fields.values()},
        }
        for name, e in model.entities.items()
    }


def applied_snapshot(store: Store) -> dict[str, Any]:
    raw = store.scalar("SELECT model FROM cantata_model_state WHERE id = 1")
    return json.loads(raw) if raw else {}


def plan(store: Store, model: Model) -> SchemaPlan:
    old = applied_snapshot(store)
    out = SchemaPlan()
    for name, entity in model.entities.items():
        before = old.get(name)
        if before is None or not store.table_exists(entity.table):
            out.statements += _create(store, entity)
            out.changes.append(f"create entity {name}")
            continue
        if before["key"] != entity.key:
            out.destructive.append(f"{name}: key changes from {before['key']} to {entity.key}")
            out.statements += [f"DROP TABLE {quote_ident(entity.table)}", *_create(store, entity)]
            out.changes.append(f"re-create entity {name}")
            continue
        for fname, ftype in before["fields"].items():
            if fname not in entity.fields:
                out.destructive.append(f"{name}.{fname}: field removed (its data is dropped)")
                out.statements.append(
                    f"ALTER TABLE {quote_ident(entity.table)} DROP COLUMN {quote_ident(fname)}"
                )
                out.changes.append(f"drop field {name}.{fname}")
            elif entity.fields[fname].type.value != ftype:
                new_type = entity.fields[fname].type
                out.destructive.append(
                    f"{name}.{fname}: type changes from {ftype} to {new_type.value} "
                    "(values that do not convert become null)"
                )
                col = quote_ident(fname)
                out.statements += [
                    f"ALTER TABLE {quote_ident(entity.table)} DROP COLUMN {col}",
                    f"ALTER TABLE {quote_ident(entity.table)} ADD COLUMN {col} "
                    f"{store.sql_type(new_type)}",
                ]
                out.changes.append(f"retype field {name}.{fname}")
        for fname, f in entity.fields.items():
            if fname not in before["fields"]:
                out.statements.append(
                    f"ALTER TABLE {quote_ident(entity.table)} ADD COLUMN {quote_ident(fname)} "
                    f"{store.sql_type(f.type)}"
                )
                out.changes.append(f"add field {name}.{fname}")
        if entity.version and (before.get("version") != entity.version):
            out.statements += _create_tombstones(store, entity)
    for name in old:
        if name not in model.entities:
            out.destructive.append(f"{name}: entity removed (all its rows are dropped)")
            out.statements += [
                f"DROP TABLE IF EXISTS {quote_ident(name)}",
                f"DROP TABLE IF EXISTS {quote_ident('cantata_tombstone_' + name)}",
            ]
            out.changes.append(f"drop entity {name}")
    return out


def apply_model(store: Store, model: Model, *, allow_drop: bool = False) -> SchemaPlan:
    """Bring the store's tables to the model, atomically. Raise if destructive and not allowed."""
    the_plan = plan(store, model)
    if the_plan.destructive and not allow_drop:
        raise StoreError(
            "the model change would destroy data:\n  - "
            + "\n  - ".join(the_plan.destructive)
            + "\nRevert the model, or re-run with --allow-drop to apply it anyway.",
            where=model.source,
        )
    state = json.dumps(snapshot(model), sort_keys=True)
    if the_plan.empty and state == json.dumps(applied_snapshot(store), sort_keys=True):
        return the_plan
    with store.transaction():
        for statement in the_plan.statements:
            store.execute(statement)
        store.execute("DELETE FROM cantata_model_state WHERE id = 1")
        store.execute("INSERT INTO cantata_model_state VALUES (1, %s, CURRENT_TIMESTAMP)", [state])
    return the_plan


def _create(store: Store, entity: Entity) -> list[str]:
    cols = []
    for f in entity.fields.values():
        null = " NOT NULL" if f.name == entity.key else ""
        cols.append(f"{quote_ident(f.name)} {store.sql_type(f.type)}{null}")
    # PostgreSQL needs the key index for upserts and lookups; DuckDB loads and joins faster
    # without one (ingestion keeps keys unique itself).
    if store.dialect == "postgres":
        cols.append(f"PRIMARY KEY ({quote_ident(entity.key)})")
    statements = [f"CREATE TABLE {quote_ident(entity.table)} ({', '.join(cols)})"]
    if entity.version:
        statements += _create_tombstones(store, entity)
    return statements


def _create_tombstones(store: Store, entity: Entity) -> list[str]:
    assert entity.version
    key_type = store.sql_type(entity.key_field.type)
    version_type = store.sql_type(entity.fields[entity.version].type)
    table = quote_ident(tombstone_table(entity))
    return [
        f"DROP TABLE IF EXISTS {table}",
        f"CREATE TABLE {table} (key {key_type} PRIMARY KEY, version {version_type} NOT NULL)",
    ]
