"""Token routes (admin): list, create (the token is in the answer, once), revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cantata.server.auth import Admin
from cantata.server.bodies import MAX_BODY
from cantata.server.errors import AUTHENTICATED, responses
from cantata.server.service import ServiceDep
from cantata.server.tokens import create_token, list_tokens, revoke_token

router = APIRouter(
    prefix="/tokens", tags=["tokens"], responses=AUTHENTICATED, max_body_size=MAX_BODY
)


class TokenRequest(BaseModel):
    name: str = Field(description="Who or what uses the token")
    role: str = Field(description="viewer, editor, publisher or admin")


@router.get("", summary="Every token (never the secrets)")
def list_all(service: ServiceDep, _: Admin) -> list[dict[str, Any]]:
    with service.store() as store:
        return [t.as_json() for t in list_tokens(store)]


@router.post("", status_code=201, summary="Create a token; the answer holds it, once")
def create(body: TokenRequest, service: ServiceDep, _: Admin) -> dict[str, Any]:
    with service.store() as store:
        token, text = create_token(store, body.name, body.role, now=service.now())
    return {**token.as_json(), "token": text}


@router.delete("/{name}", summary="Revoke a token", responses=responses(404))
def revoke(name: str, service: ServiceDep, _: Admin) -> dict[str, Any]:
    with service.store() as store:
        return revoke_token(store, name, now=service.now()).as_json()
