"""Audience routes: count a rule, save an audience from a rule, list, versions — with the
checks and messages of `cantata audience ...`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from cantata.audience import portal
from cantata.audience.compile import audience_sql
from cantata.audience.count import checked_rule, count_matching
from cantata.audience.rules import Rule, parse_rule
from cantata.audience.text import rule_from_text
from cantata.canvas.timestamps import db_time
from cantata.server.auth import Editor, Viewer
from cantata.server.bodies import MAX_BODY, moment
from cantata.server.errors import AUTHENTICATED, responses
from cantata.server.service import Service, ServiceDep
from cantata.store.base import Store

router = APIRouter(
    prefix="/audiences", tags=["audiences"], responses=AUTHENTICATED, max_body_size=MAX_BODY
)


class RuleRequest(BaseModel):
    entity: str = Field(description="The targeting entity")
    rule: dict[str, Any] | str = Field(description="The rule as JSON, or its text form")
    now: str | None = Field(default=None, description="Evaluate as of this ISO-8601 time")


class SaveRequest(RuleRequest):
    append: bool = Field(default=False, description="Add to the current members")


def _rule(store: Store, service: Service, body: RuleRequest) -> tuple[Rule, datetime]:
    rule = rule_from_text(body.rule) if isinstance(body.rule, str) else parse_rule(body.rule)
    checked = checked_rule(store, service.model, body.entity, rule)
    # Audience rules evaluate at naive UTC times, as the CLI's --now.
    return checked, db_time(moment(body.now, service.now(), "now"))


@router.get("", summary="Saved audiences, current version of each")
def list_audiences(service: ServiceDep, _: Viewer) -> list[dict[str, Any]]:
    with service.store() as store:
        return [a.as_json() for a in portal.list_audiences(store)]


@router.post("/count", summary="Count the rows matching a rule")
def count(body: RuleRequest, service: ServiceDep, _: Viewer) -> dict[str, Any]:
    with service.store() as store:
        rule, now = _rule(store, service, body)
        n = count_matching(store, service.model, body.entity, rule, now)
    return {"entity": body.entity, "count": n}


class SqlRequest(RuleRequest):
    dialect: Literal["duckdb", "postgres", "spark"] = Field(
        default="duckdb", description="The engine the SQL is written for"
    )


@router.post("/sql", summary="The SQL a rule compiles to (the code view)")
def sql(body: SqlRequest, service: ServiceDep, _: Viewer) -> dict[str, Any]:
    with service.store() as store:
        rule, now = _rule(store, service, body)
    text = audience_sql(
        rule, service.model, body.entity, now=now, dialect=body.dialect, pretty=True
    )
    return {"entity": body.entity, "dialect": body.dialect, "sql": text}


@router.get("/{name}", summary="Every version of an audience", responses=responses(404))
def versions(
    name: str,
    service: ServiceDep,
    _: Viewer,
    latest: Annotated[bool, Query(description="Only the current version")] = False,
) -> list[dict[str, Any]]:
    with service.store() as store:
        found = portal.versions(store, name)
    return [a.as_json() for a in (found[-1:] if latest else found)]


@router.put("/{name}", status_code=201, summary="Save a rule's rows as a new version")
def save(name: str, body: SaveRequest, service: ServiceDep, _: Editor) -> dict[str, Any]:
    with service.store() as store:
        rule, now = _rule(store, service, body)
        saved = portal.save_rule(
            store, service.model, name, body.entity, rule, now=now, append=body.append
        )
    return saved.as_json()
