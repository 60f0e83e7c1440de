"""Saved audiences: named, versioned, static sets of keys of one entity.

Each save makes a new version (replace, or append to the previous members); every version's
members stay, so a campaign run can keep reading the version it started with. Members are
computed set-based: `INSERT … SELECT` from the compiled rule, or from the entity table joined
with an imported key file.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from cantata.audience.compile import audience_sql
from cantata.audience.rules import Rule, check_rule, to_json
from cantata.errors import CantataError, NotFoundError, did_you_mean
from cantata.ingest.transfer import release, transfer, validation_connection
from cantata.model import Model
from cantata.store.base import Store, quote_ident
from cantata.store.first_use import ReadOnFirstUse


class AudienceError(CantataError):
    """A saved audience cannot be read, saved or deleted as asked."""


class AudienceNotFound(AudienceError, NotFoundError):
    """No saved audience of that name."""


@dataclass(frozen=True)
class AudienceVersion:
    name: str
    version: int
    entity: str
    size: int
    source: dict[str, Any]
    mode: str
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "entity": self.entity,
            "size": self.size,
            "mode": self.mode,
            "source": self.source,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class ImportResult:
    audience: AudienceVersion
    read: int
    unknown: int
    unknown_sample: list[str]


def _version(row: tuple[Any, ...]) -> AudienceVersion:
    name, version, entity, size, source, mode, created_at = row
    return AudienceVersion(
        name, int(version), entity, int(size), json.loads(source), mode, created_at
    )


_COLUMNS = "name, version, entity, size, source, mode, created_at"


def list_audiences(store: Store) -> list[AudienceVersion]:
    """The current (latest) version of every saved audience, by name."""
    rows = store.fetchall(
        f"SELECT {_COLUMNS} FROM cantata_audience a WHERE version = "
        "(SELECT max(version) FROM cantata_audience b WHERE b.name = a.name) ORDER BY name"
    )
    return [_version(r) for r in rows]


def audience_entities(store: Store) -> Mapping[str, str]:
    """Saved audience name → the entity its keys belong to (for rule validation), read when
    first used."""
    return ReadOnFirstUse(lambda: {a.name: a.entity for a in list_audiences(store)})


def versions(store: Store, name: str) -> list[AudienceVersion]:
    rows = store.fetchall(
        f"SELECT {_COLUMNS} FROM cantata_audience WHERE name = %s ORDER BY version", [name]
    )
    if not rows:
        raise AudienceNotFound(
            f"no saved audience {name!r}{did_you_mean(name, audience_entities(store))}"
        )
    return [_version(r) for r in rows]


def current(store: Store, name: str) -> AudienceVersion:
    return versions(store, name)[-1]


def save_rule(
    store: Store,
    model: Model,
    name: str,
    entity: str,
    rule: Rule,
    *,
    now: datetime,
    append: bool = False,
) -> AudienceVersion:
    """Save the rows of `entity` matching `rule` as a new version of `name`."""
    check_rule(rule, model, entity, audience_entities(store))
    select = audience_sql(rule, model, entity, now=now, dialect=store.dialect)
    source = {"rule": to_json(rule), "now": now.isoformat()}
    return _save(
        store,
        model,
        name,
        entity,
        f"SELECT CAST(k AS TEXT) FROM ({select}) AS m(k)",
        source,
        "append" if append else "replace",
        now,
    )


def import_keys(
    store: Store,
    model: Model,
    name: str,
    entity: str,
    path: Path,
    *,
    now: datetime,
    append: bool = False,
) -> ImportResult:
    """Save the keys listed in a file (CSV with the key column or a single column, Parquet,
    JSON Lines). Keys absent from the entity are counted and listed, not saved."""
    ent = _entity(model, entity)
    con = validation_connection(store)
    tag = uuid.uuid4().hex[:10]
    try:
        keys = _read_keys(con, path, ent.key, f"_keys_{tag}")
        read = int(con.execute(f"SELECT count(*) FROM {keys}").fetchall()[0][0])
        with store.transaction():
            incoming = transfer(store, con, keys, f"cantata_keys_{tag}", [("key", "TEXT")])
            known = (
                f"SELECT DISTINCT i.key FROM {incoming} i JOIN {quote_ident(ent.table)} t "
                f"ON CAST(t.{quote_ident(ent.key)} AS TEXT) = i.key"
            )
            missing = store.fetchall(
                f"SELECT DISTINCT key FROM {incoming} WHERE key NOT IN ({known}) ORDER BY key"
            )
            saved = _save(
                store,
                model,
                name,
                entity,
                known,
                {"file": str(path)},
                "append" if append else "import",
                now,
            )
    finally:
        con.execute(f"DROP TABLE IF EXISTS _keys_{tag}")
        release(store, con)
    return ImportResult(saved, read, len(missing), [str(m[0]) for m in missing[:20]])


def export(store: Store, name: str, path: Path) -> int:
    """Write the current members (one `key` column) to CSV or Parquet; return how many."""
    aud = current(store, name)
    sql = (
        "SELECT key FROM cantata_audience_member WHERE audience = "
        f"'{_quote(name)}' AND version = {aud.version} ORDER BY key"
    )
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise AudienceError(f"export to .csv or .parquet, not {path.suffix!r}", where=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cantata-export-") as tmp:
        csv_path = path if path.suffix.lower() == ".csv" else Path(tmp) / "keys.csv"
        store.copy_to_csv(sql, csv_path)
        if csv_path != path:
            duckdb.connect().execute(
                f"COPY (SELECT * FROM read_csv('{csv_path}', all_varchar = true)) TO "
                f"'{path}' (FORMAT parquet)"
            )
    return aud.size


def delete(store: Store, name: str) -> int:
    """Delete every version of an audience; refused while a live campaign reads it."""
    versions(store, name)
    users = used_by_live_campaigns(store, name)
    if users:
        raise AudienceError(
            f"audience {name!r} is read by live campaign(s) {', '.join(users)}; stop or close "
            "them first"
        )
    with store.transaction():
        store.execute("DELETE FROM cantata_audience_member WHERE audience = %s", [name])
        return store.execute("DELETE FROM cantata_audience WHERE name = %s", [name])


def used_by_live_campaigns(store: Store, name: str) -> list[str]:
    """Live campaigns reading the audience. Campaigns arrive with the canvas engine; until its
    tables exist, none can."""
    if not store.table_exists("cantata_campaign_audience"):
        return []
    rows = store.fetchall(
        "SELECT DISTINCT campaign FROM cantata_campaign_audience WHERE audience = %s AND live",
        [name],
    )
    return [r[0] for r in rows]


def _save(
    store: Store,
    model: Model,
    name: str,
    entity: str,
    members_sql: str,
    source: dict[str, Any],
    mode: str,
    now: datetime,
) -> AudienceVersion:
    _entity(model, entity)
    with store.transaction():
        previous = store.fetchone(
            "SELECT version, entity FROM cantata_audience WHERE name = %s "
            "ORDER BY version DESC LIMIT 1",
            [name],
        )
        if previous and previous[1] != entity:
            raise AudienceError(
                f"audience {name!r} holds {previous[1]!r} keys, not {entity!r}; delete it or "
                "choose another name"
            )
        version = int(previous[0]) + 1 if previous else 1
        members = members_sql
        if mode == "append" and previous:
            members = (
                f"{members_sql} UNION SELECT key FROM cantata_audience_member "
                f"WHERE audience = '{_quote(name)}' AND version = {int(previous[0])}"
            )
        store.execute(
            "INSERT INTO cantata_audience_member (audience, version, key) "
            f"SELECT '{_quote(name)}', {version}, k FROM ({members}) AS s(k)"
        )
        size = int(
            store.scalar(
                "SELECT count(*) FROM cantata_audience_member WHERE audience = %s AND version = %s",
                [name, version],
            )
        )
        store.execute(
            f"INSERT INTO cantata_audience ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [name, version, entity, size, json.dumps(source), mode, now.replace(tzinfo=None)],
        )
    return current(store, name)


def _entity(model: Model, entity: str) -> Any:
    if entity not in model.entities:
        raise AudienceError(f"unknown entity {entity!r}{did_you_mean(entity, model.entities)}")
    return model.entities[entity]


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _read_keys(con: duckdb.DuckDBPyConnection, path: Path, key: str, table: str) -> str:
    """A DuckDB table `table(key)` from the file: its `key` column, or its only column."""
    from cantata.ingest.source import CSV_OPTIONS, csv_header, detect_format

    if not path.is_file():
        raise AudienceError("no such file", where=str(path))
    fmt = detect_format(path)
    if fmt == "csv":
        names = csv_header(path)
        columns = "{" + ", ".join(f"'{_quote(n)}': 'VARCHAR'" for n in names) + "}"
        relation = f"read_csv('{_quote(str(path))}', {CSV_OPTIONS}, columns = {columns})"
    elif fmt == "parquet":
        relation = f"read_parquet('{_quote(str(path))}')"
    else:
        relation = f"read_json_auto('{_quote(str(path))}', format = 'newline_delimited')"
    found = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
    column = key if key in found else (found[0] if len(found) == 1 else None)
    if column is None:
        raise AudienceError(
            f"the file needs a {key!r} column or a single column (found: {', '.join(found)})",
            where=str(path),
        )
    con.execute(
        f"CREATE TEMP TABLE {table} AS SELECT DISTINCT trim(CAST({quote_ident(column)} AS VARCHAR)) "
        f"AS key FROM {relation} WHERE {quote_ident(column)} IS NOT NULL"
    )
    return table
