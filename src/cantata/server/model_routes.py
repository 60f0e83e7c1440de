"""The model route: entities with their fields, links and row counts, as
`cantata model show --json` prints them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cantata.model.summary import model_summary
from cantata.server.auth import Viewer
from cantata.server.bodies import MAX_BODY
from cantata.server.errors import AUTHENTICATED
from cantata.server.service import ServiceDep

router = APIRouter(prefix="/model", tags=["model"], responses=AUTHENTICATED, max_body_size=MAX_BODY)


@router.get("", summary="Entities: key, fields and their types, links both ways, row counts")
def show_model(service: ServiceDep, _: Viewer) -> dict[str, Any]:
    with service.store() as store:
        return model_summary(store, service.model)
