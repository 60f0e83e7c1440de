"""Template library routes: list, read a version, save from a template file's text — with the
checks and messages of `cantata template ...`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from cantata.canvas import lifecycle
from cantata.delivery import template_library as library
from cantata.server.auth import Editor, Viewer
from cantata.server.bodies import MAX_BODY, SOURCE, TEMPLATE_BODY, document_text, rows_response
from cantata.server.errors import AUTHENTICATED, ApiError, responses
from cantata.server.service import ServiceDep

router = APIRouter(
    prefix="/templates", tags=["templates"], responses=AUTHENTICATED, max_body_size=MAX_BODY
)


@router.get("", summary="Library templates, current version of each")
def list_templates(service: ServiceDep, _: Viewer) -> list[dict[str, Any]]:
    with service.store() as store:
        return [t.as_json() for t in library.list_templates(store)]


@router.get(
    "/{name}",
    summary="A template's parts, current version or the one asked for",
    responses=responses(404),
)
def show(
    name: str,
    service: ServiceDep,
    _: Viewer,
    version: Annotated[int | None, Query(description="A version (default: the current)")] = None,
) -> dict[str, Any]:
    with service.store() as store:
        return library.template_version(store, name, version).as_json()


@router.put(
    "/{name}",
    summary="Save a template (checked first): a new version when its content changed",
    openapi_extra=TEMPLATE_BODY,
    responses={200: {"description": "Unchanged"}, 201: {"description": "A new version"}},
)
async def save(name: str, request: Request, service: ServiceDep, _: Editor) -> Response:
    text = await document_text(request, "the template as YAML")

    def work() -> tuple[dict[str, Any], bool]:
        found = library.read_template(text, SOURCE, service.model)
        if found.name != name:
            raise ApiError(
                422,
                f"the body defines template {found.name!r}, not {name!r}",
                where=f"{SOURCE}: name",
            )
        with service.store() as store:
            saved, new = lifecycle.save_template(store, service.model, found, now=service.now())
        return {**saved.as_json(), "new_version": new}, new

    body, new = await run_in_threadpool(work)
    return rows_response(body, 201 if new else 200)
