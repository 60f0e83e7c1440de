"""Run routes: a run with its activities and transitions, rows on a transition, and the moves
on a run (pause, resume, stop, confirm a send) — as `cantata campaign ...` does them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from cantata.canvas.runtime.json_forms import run_graph_json, run_json, run_log_json
from cantata.canvas.runtime.runs import load_run
from cantata.delivery.activities import confirm_waiting
from cantata.server.auth import Publisher, Viewer
from cantata.server.bodies import MAX_BODY, rows_response
from cantata.server.errors import AUTHENTICATED, responses
from cantata.server.service import ServiceDep

router = APIRouter(prefix="/runs", tags=["runs"], responses=AUTHENTICATED, max_body_size=MAX_BODY)


@router.get(
    "/{run_id}",
    summary="A run: status, activities (counts, timings, errors), transitions",
    responses=responses(404),
)
def get_run(run_id: int, service: ServiceDep, _: Viewer) -> dict[str, Any]:
    with service.runner() as runner:
        run = load_run(runner.store, run_id)
        log = run_log_json(runner.store, run)
        graph = run_graph_json(runner, run)
    return {**log, "transitions": graph["transitions"]}


@router.get(
    "/{run_id}/transitions/{transition}/rows",
    summary="The first rows (by key) a transition carries: NODE or NODE.PORT",
    responses=responses(404, 409),
)
def transition_rows(
    run_id: int,
    transition: str,
    service: ServiceDep,
    _: Viewer,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 20,
) -> Response:
    with service.runner() as runner:
        names, found = runner.transition_rows(run_id, transition, limit)
    return rows_response(
        {
            "run": run_id,
            "transition": transition,
            "columns": names,
            "rows": [dict(zip(names, r, strict=True)) for r in found],
        }
    )


@router.post(
    "/{run_id}/pause", summary="Pause a run before its next activity", responses=responses(404, 409)
)
def pause_run(run_id: int, service: ServiceDep, _: Publisher) -> dict[str, Any]:
    with service.runner() as runner:
        return run_json(runner.pause(run_id))


@router.post(
    "/{run_id}/resume",
    summary="Resume a paused, suspended or interrupted run",
    responses=responses(404, 409),
)
def resume_run(run_id: int, service: ServiceDep, _: Publisher) -> dict[str, Any]:
    with service.runner() as runner:
        return run_graph_json(runner, runner.resume(run_id, now=service.now()))


@router.post("/{run_id}/stop", summary="Stop a run for good", responses=responses(404, 409))
def stop_run(run_id: int, service: ServiceDep, _: Publisher) -> dict[str, Any]:
    with service.runner() as runner:
        return run_json(runner.stop(run_id, now=service.now()))


@router.post(
    "/{run_id}/confirm",
    summary="Confirm a send that awaits confirmation",
    responses=responses(404, 409),
)
def confirm_send(
    run_id: int,
    service: ServiceDep,
    _: Publisher,
    node: Annotated[str | None, Query(description="One channel activity (default: all)")] = None,
) -> dict[str, Any]:
    with service.runner() as runner:
        confirmed = confirm_waiting(runner.store, runner, run_id, node, service.now())
    return {"run": run_id, "confirmed": confirmed}
