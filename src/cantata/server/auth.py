"""Bearer tokens and roles: missing, unknown or revoked tokens get 401, a role too low 403.
Roles are cumulative (viewer < editor < publisher < admin)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Annotated

from fastapi import Depends
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from cantata.server.errors import ApiError
from cantata.server.service import ServiceDep
from cantata.server.tokens import (
    ADMIN,
    EDITOR,
    PUBLISHER,
    TOKEN,
    VIEWER,
    ApiToken,
    authenticate,
)

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer cantata_...`")
CHALLENGE = {"WWW-Authenticate": "Bearer"}
MISSING = (
    "missing bearer token: send `Authorization: Bearer TOKEN` "
    "(`cantata token create NAME --role ROLE` makes one)"
)
INVALID = "invalid or revoked token"


class TokenFirst:
    """ASGI middleware: a request to the API's routes without a well-formed bearer token is
    answered 401 before anything reads its body — FastAPI parses a JSON body before a
    route's token check, which would let anyone make the server parse megabytes."""

    def __init__(self, app: ASGIApp, prefixes: Collection[str]) -> None:
        self.app = app
        self.prefixes = tuple(prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path and any(path == p or path.startswith(p + "/") for p in self.prefixes):
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer" or not given.strip():
                return await _refuse(MISSING, scope, receive, send)
            if TOKEN.fullmatch(given.strip()) is None:
                return await _refuse(INVALID, scope, receive, send)
        await self.app(scope, receive, send)


async def _refuse(message: str, scope: Scope, receive: Receive, send: Send) -> None:
    body = {"error": message, "where": "Authorization"}
    await JSONResponse(body, status_code=401, headers=CHALLENGE)(scope, receive, send)


def require(role: str) -> Callable[..., ApiToken]:
    """A dependency: the request's token, when it is live and its role includes `role`."""

    def caller(
        service: ServiceDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> ApiToken:
        if credentials is None:
            raise ApiError(401, MISSING, where="Authorization", headers=CHALLENGE)
        with service.store() as store:
            token = authenticate(store, credentials.credentials, now=service.now())
        if token is None:
            raise ApiError(401, INVALID, where="Authorization", headers=CHALLENGE)
        if not token.allows(role):
            raise ApiError(
                403,
                f"token {token.name!r} is a {token.role}; this needs the {role} role or above",
                where="Authorization",
            )
        return token

    caller.__name__ = f"require_{role}"
    return caller


Viewer = Annotated[ApiToken, Depends(require(VIEWER))]
Editor = Annotated[ApiToken, Depends(require(EDITOR))]
Publisher = Annotated[ApiToken, Depends(require(PUBLISHER))]
Admin = Annotated[ApiToken, Depends(require(ADMIN))]
