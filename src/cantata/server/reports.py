"""The campaign report: what `cantata campaign report NAME --json` prints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cantata.delivery.report import campaign_report
from cantata.server.auth import Viewer
from cantata.server.bodies import MAX_BODY
from cantata.server.errors import AUTHENTICATED
from cantata.server.service import ServiceDep

router = APIRouter(tags=["reports"], responses=AUTHENTICATED, max_body_size=MAX_BODY)


@router.get(
    "/campaigns/{name}/report",
    summary="Per run and channel activity: targeted, excluded by reason, sent, opens, rates",
)
def report(name: str, service: ServiceDep, _: Viewer) -> dict[str, Any]:
    with service.store() as store:
        return campaign_report(store, name).as_json()
