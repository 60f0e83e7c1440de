"""Bearer tokens and roles: missing, unknown or revoked tokens get 401, a role too low 403.
Roles are cumulative (viewer < editor < publisher < admin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cantata.server.errors import ApiError
from cantata.server.service import ServiceDep
from cantata.server.tokens import ADMIN, EDITOR, PUBLISHER, VIEWER, ApiToken, authenticate

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer cantata_...`")
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def require(role: str) -> Callable[..., ApiToken]:
    """A dependency: the request's token, when it is live and its role includes `role`."""

    def caller(
        service: ServiceDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> ApiToken:
        if credentials is None:
            raise ApiError(
                401,
                "missing bearer token: send `Authorization: Bearer TOKEN` "
                "(`cantata token create NAME --role ROLE` makes one)",
                where="Authorization",
                headers=CHALLENGE,
            )
        with service.store() as store:
            token = authenticate(store, credentials.credentials, now=service.now())
        if token is None:
            raise ApiError(
                401, "invalid or revoked token", where="Authorization", headers=CHALLENGE
            )
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
