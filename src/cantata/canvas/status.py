"""A campaign's state as users read it: `cantata campaign status --json` and the REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cantata.canvas import lifecycle
from cantata.canvas.runtime.json_forms import run_json
from cantata.canvas.runtime.runs import runs_of
from cantata.canvas.schedule import next_fire_times
from cantata.store.base import Store


def campaign_status(
    store: Store, name: str, *, now: datetime, runs: int = 5, fire_times: int = 3
) -> dict[str, Any]:
    """State, published and draft versions, the latest runs, and the next fire times of a live
    campaign (LifecycleError when there is no such campaign)."""
    record = lifecycle.campaign_record(store, name)
    upcoming: list[datetime] = []
    if record.published is not None and record.state == lifecycle.LIVE:
        campaign = lifecycle.version(store, name, record.published).parse()
        upcoming = next_fire_times(campaign.schedule, campaign.time_zone, now, count=fire_times)
    return {
        "name": record.name,
        "state": record.state,
        "published_version": record.published,
        "draft_version": record.draft,
        "runs": [run_json(r) for r in runs_of(store, name, limit=runs)],
        "next_fire_times": [t.isoformat() for t in upcoming],
    }


def version_json(v: lifecycle.Version) -> dict[str, Any]:
    return {
        "campaign": v.campaign,
        "version": v.version,
        "status": v.status,
        "created_at": v.created_at.isoformat(),
    }
