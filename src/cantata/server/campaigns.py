"""Campaign routes: list, state, validate, test, drafts, publish, lifecycle moves, starts,
schedule preview — over the functions `cantata campaign ...` calls."""

from __future__ import annotations

import json
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from cantata.canvas import lifecycle
from cantata.canvas.definition import parse_campaign, variables_from_args
from cantata.canvas.runtime import runs_of
from cantata.canvas.runtime.json_forms import run_graph_json, run_json
from cantata.canvas.schedule import next_fire_times
from cantata.canvas.status import campaign_status, version_json
from cantata.server.auth import Editor, Publisher, Viewer
from cantata.server.bodies import (
    CAMPAIGN_BODY,
    MAX_BODY,
    SOURCE,
    campaign_text,
    moment,
    parse_named,
)
from cantata.server.errors import AUTHENTICATED, responses
from cantata.server.service import ServiceDep

router = APIRouter(
    prefix="/campaigns", tags=["campaigns"], responses=AUTHENTICATED, max_body_size=MAX_BODY
)

# The moves users make on a campaign (`complete` is the runner's).
MOVES = ("pause", "resume", "stop", "close", "archive")


def _record_json(r: lifecycle.CampaignRecord) -> dict[str, Any]:
    return {
        "name": r.name,
        "state": r.state,
        "published_version": r.published,
        "draft_version": r.draft,
        "created_at": r.created_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
    }


@router.get("", summary="Every campaign with its state")
def list_campaigns(service: ServiceDep, _: Viewer) -> list[dict[str, Any]]:
    with service.store() as store:
        return [_record_json(r) for r in lifecycle.list_campaigns(store)]


@router.post(
    "/validate", summary="Validate a campaign: every problem at once", openapi_extra=CAMPAIGN_BODY
)
async def validate_campaign(request: Request, service: ServiceDep, _: Editor) -> dict[str, Any]:
    text = await campaign_text(request)

    def work() -> dict[str, Any]:
        campaign = parse_campaign(text, source=SOURCE)
        with service.store() as store:
            canvas = lifecycle.check(store, service.model, campaign)
        return {
            "campaign": campaign.name,
            "valid": True,
            "activities": len(canvas.activities),
            "transitions": len(canvas.transitions),
        }

    return await run_in_threadpool(work)


@router.post(
    "/test",
    status_code=201,
    summary="Test-run a campaign: counts on every transition, nothing saved or sent",
    responses=responses(409),
    openapi_extra=CAMPAIGN_BODY,
)
async def test_campaign(
    request: Request,
    service: ServiceDep,
    _: Editor,
    var: Annotated[list[str] | None, Query(description="NAME=VALUE, repeatable")] = None,
    now: Annotated[str | None, Query(description="Run as of this ISO-8601 time")] = None,
) -> dict[str, Any]:
    text = await campaign_text(request)

    def work() -> dict[str, Any]:
        campaign = parse_campaign(text, source=SOURCE)
        as_of = moment(now, service.now(), "now")
        with service.runner() as runner:
            run = runner.test(campaign, now=as_of, variables=variables_from_args(campaign, var))
            return run_graph_json(runner, run)

    return await run_in_threadpool(work)


@router.get(
    "/{name}",
    summary="A campaign: state, versions, latest runs, next fire times",
    responses=responses(404),
)
def get_campaign(name: str, service: ServiceDep, _: Viewer) -> dict[str, Any]:
    with service.store() as store:
        found = campaign_status(store, name, now=service.now())
        found["versions"] = [version_json(v) for v in lifecycle.versions(store, name)]
    return found


@router.get(
    "/{name}/versions/{number}",
    summary="One version with its definition",
    responses=responses(404),
)
def get_version(name: str, number: int, service: ServiceDep, _: Viewer) -> dict[str, Any]:
    with service.store() as store:
        found = lifecycle.version(store, name, number)
    return {**version_json(found), "definition": json.loads(found.definition)}


@router.put(
    "/{name}/draft",
    summary="Save the campaign's draft version (validated first)",
    responses=responses(404, 409),
    openapi_extra=CAMPAIGN_BODY,
)
async def save_draft(name: str, request: Request, service: ServiceDep, _: Editor) -> dict[str, Any]:
    text = await campaign_text(request)

    def work() -> dict[str, Any]:
        campaign = parse_named(text, name)
        with service.store() as store:
            return version_json(
                lifecycle.save_draft(store, service.model, campaign, now=service.now())
            )

    return await run_in_threadpool(work)


@router.post(
    "/{name}/publish",
    summary="Publish the body (or, with no body, the saved draft) as a new version",
    responses=responses(404, 409),
    openapi_extra={
        "requestBody": {**CAMPAIGN_BODY["requestBody"], "required": False},
    },
)
async def publish(name: str, request: Request, service: ServiceDep, _: Publisher) -> dict[str, Any]:
    raw = await request.body()
    text = await campaign_text(request) if raw.strip() else None

    def work() -> dict[str, Any]:
        with service.store() as store:
            if text is not None:
                campaign = parse_named(text, name)
            else:
                record = lifecycle.campaign_record(store, name)
                if record.draft is None:
                    raise lifecycle.LifecycleError(
                        f"campaign {name!r} has no draft: send the campaign in the body, or "
                        f"save a draft first (PUT /campaigns/{name}/draft)"
                    )
                campaign = lifecycle.version(store, name, record.draft).parse()
            published = lifecycle.publish(store, service.model, campaign, now=service.now())
            record = lifecycle.campaign_record(store, name)
        return {**version_json(published), "state": record.state}

    return await run_in_threadpool(work)


def _mover(move: str) -> Any:
    def move_campaign(name: str, service: ServiceDep, _: Publisher) -> dict[str, Any]:
        with service.store() as store:
            return _record_json(lifecycle.move(store, name, move, now=service.now()))

    move_campaign.__name__ = f"{move}_campaign"
    return move_campaign


for _move in MOVES:
    router.post(
        f"/{{name}}/{_move}",
        summary=f"{_move.capitalize()} the campaign (lifecycle move)",
        name=f"{_move}_campaign",
        responses=responses(404, 409),
    )(_mover(_move))


@router.get(
    "/{name}/schedule-preview",
    summary="The next fire times of the campaign's schedule",
    responses=responses(404, 409),
)
def schedule_preview(
    name: str,
    service: ServiceDep,
    _: Viewer,
    after: Annotated[str | None, Query(description="After this ISO-8601 time")] = None,
    count: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> dict[str, Any]:
    with service.store() as store:
        record = lifecycle.campaign_record(store, name)
        number = record.published if record.published is not None else record.draft
        if number is None:
            raise lifecycle.LifecycleError(f"campaign {name!r} has no version")
        campaign = lifecycle.version(store, name, number).parse()
    times = next_fire_times(
        campaign.schedule,
        campaign.time_zone,
        after=moment(after, service.now(), "after"),
        count=count,
    )
    return {
        "campaign": name,
        "version": number,
        "time_zone": campaign.time_zone,
        "fire_times": [
            {"utc": t.isoformat(), "local": t.astimezone(ZoneInfo(campaign.time_zone)).isoformat()}
            for t in times
        ],
    }


@router.get("/{name}/runs", summary="The campaign's runs, latest first")
def list_runs(
    name: str,
    service: ServiceDep,
    _: Viewer,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> list[dict[str, Any]]:
    with service.store() as store:
        return [run_json(r) for r in runs_of(store, name, limit=limit)]


class StartRequest(BaseModel):
    variables: dict[str, Any] = Field(default_factory=dict, description="Variable values")


@router.post(
    "/{name}/runs",
    status_code=201,
    summary="Start a run of the live campaign (201), or find the run of the same Idempotency-Key (200)",
    responses={200: {"description": "The run of the same Idempotency-Key"}, **responses(404, 409)},
)
def start_run(
    name: str,
    response: Response,
    service: ServiceDep,
    _: Publisher,
    body: StartRequest | None = None,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", description="At most one run per key")
    ] = None,
) -> dict[str, Any]:
    with service.runner() as runner:
        run, new = runner.launch(
            name,
            now=service.now(),
            variables=(body or StartRequest()).variables,
            idempotency_key=idempotency_key,
        )
        if not new:
            response.status_code = 200
        return run_graph_json(runner, run)
