"""Errors as JSON: `{"error": ..., "where": ...}` with the CLI's message, and `problems` when
there are several (campaign and rule validation)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from cantata.audience.rules import RuleError
from cantata.audience.text import RuleSyntaxError
from cantata.canvas.lifecycle import LifecycleError
from cantata.canvas.problems import CampaignError
from cantata.canvas.runtime import RunError
from cantata.delivery.personalize import TemplateError
from cantata.delivery.template_library import TemplateFileError
from cantata.errors import CantataError, NotFoundError


class ApiError(Exception):
    """An error the API itself raises (authentication, roles, request shape)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        where: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.where, self.headers = status, message, where, headers


class Problem(BaseModel):
    path: str
    message: str
    line: int | None = None
    node: str | None = None


class ErrorBody(BaseModel):
    """Every error answer: the CLI's message, where it applies, and every problem found."""

    error: str
    where: str | None
    problems: list[Problem] | None = None


WHEN = {
    400: "A request the library refuses",
    401: "No live token",
    403: "The token's role is too low",
    404: "No such campaign, version, run, audience, template or token",
    409: "The state does not allow the move",
    422: "An invalid campaign, rule, template, variable or request",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route declares in the OpenAPI document."""
    return {s: {"model": ErrorBody, "description": WHEN[s]} for s in statuses}


# What every route behind a token may answer: the request's own errors, 401 and 403.
AUTHENTICATED = responses(400, 401, 403, 422)


def error_body(message: str, where: str | None, **extra: Any) -> dict[str, Any]:
    return {"error": message, "where": where, **extra}


def status_of(exc: CantataError) -> int:
    """404 for what does not exist, 422 for invalid definitions, 409 for a state that does not
    allow the move, 400 for the rest."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(
        exc, CampaignError | RuleError | RuleSyntaxError | TemplateError | TemplateFileError
    ):
        return 422
    if isinstance(exc, LifecycleError | RunError):
        return 409
    return 400


def cantata_error_body(exc: CantataError) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if isinstance(exc, CampaignError | TemplateFileError):
        extra["problems"] = [
            {"path": p.path, "message": p.message, "line": p.line, "node": p.node}
            for p in exc.problems
        ]
    elif isinstance(exc, RuleError):
        extra["problems"] = [{"path": path, "message": msg} for path, msg in exc.problems]
    return error_body(exc.message, exc.where, **extra)


def install(app: FastAPI) -> None:
    @app.exception_handler(CantataError)
    async def on_cantata(request: Request, exc: CantataError) -> JSONResponse:
        return JSONResponse(cantata_error_body(exc), status_code=status_of(exc))

    @app.exception_handler(ApiError)
    async def on_api(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.message, exc.where), status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def on_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"path": ".".join(str(p) for p in e["loc"]), "message": str(e["msg"])}
            for e in exc.errors()
        ]
        first = problems[0] if problems else {"path": "", "message": "invalid request"}
        return JSONResponse(
            error_body(first["message"], first["path"], problems=problems), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(str(exc.detail), request.url.path),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
