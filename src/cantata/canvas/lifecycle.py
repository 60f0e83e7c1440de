"""Campaigns in the store: drafts, immutable published versions, and the campaign's state.

    draft ──publish──▶ live ──▶ completed (a `once` campaign's run completed)
                        │ ▲
                  pause │ │ resume            live/paused ──stop──▶ stopped
                        ▼ │                   live/paused ──close─▶ closed (recurring)
                       paused                 draft/stopped/completed/closed ──archive──▶ archived

Publishing validates the campaign against the model and the saved audiences and stores it as a
new version that never changes; runs execute one version. Editing a published campaign saves
a new draft version (numbered after the last published one) until it is published in turn.
Publishing a definition equal to the latest published version changes nothing.

The scheduler plans the occurrences of a live campaign's schedule: publishing and resuming
(re)plan them at the published version; pausing, stopping, closing and archiving cancel them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cantata.audience.portal import audience_entities
from cantata.canvas.activities.targeting import ReadAudience
from cantata.canvas.definition import Campaign, parse_campaign
from cantata.canvas.problems import CampaignError
from cantata.canvas.scheduler import cancel_campaign, schedule_campaign
from cantata.canvas.timestamps import aware, db_time
from cantata.canvas.validate import Canvas, validate
from cantata.delivery.template_library import SavedTemplate, TemplateFile, template_library
from cantata.delivery.template_library import save_template as save_library_template
from cantata.errors import CantataError, NotFoundError, did_you_mean
from cantata.model import Model
from cantata.store.base import Store

DRAFT, LIVE, PAUSED, STOPPED = "draft", "live", "paused", "stopped"
COMPLETED, CLOSED, ARCHIVED = "completed", "closed", "archived"

# move → (states it applies to, the state it leads to)
MOVES: dict[str, tuple[frozenset[str], str]] = {
    "pause": (frozenset({LIVE}), PAUSED),
    "resume": (frozenset({PAUSED}), LIVE),
    "stop": (frozenset({LIVE, PAUSED}), STOPPED),
    "close": (frozenset({LIVE, PAUSED}), CLOSED),
    "complete": (frozenset({LIVE}), COMPLETED),
    "archive": (frozenset({DRAFT, STOPPED, COMPLETED, CLOSED}), ARCHIVED),
}


class LifecycleError(CantataError):
    """A campaign cannot be found, published, started or moved to another state as asked."""


class CampaignNotFound(LifecycleError, NotFoundError):
    """No campaign, or no such version of it."""


@dataclass(frozen=True)
class Version:
    campaign: str
    version: int
    status: str  # draft | published
    definition: str  # JSON
    created_at: datetime

    def parse(self) -> Campaign:
        return parse_campaign(self.definition, source=f"{self.campaign} v{self.version}")


@dataclass(frozen=True)
class CampaignRecord:
    name: str
    state: str
    created_at: datetime
    updated_at: datetime
    published: int | None  # the latest published version
    draft: int | None


def definition_json(campaign: Campaign) -> str:
    """The campaign as stored: its document exactly as written (YAML read as JSON data), so
    parsing it again gives the same campaign."""
    data: Any
    if campaign.document is not None:
        data = campaign.document.data
    else:
        data = campaign.model_dump(mode="json", by_alias=True, exclude_none=True)
    return json.dumps(data, sort_keys=True)


def audiences_read(canvas: Canvas) -> list[str]:
    return sorted(
        {
            a.settings.audience
            for a in canvas.activities.values()
            if isinstance(a.settings, ReadAudience)
        }
    )


def check(store: Store, model: Model, campaign: Campaign) -> Canvas:
    """Validate against the model, and the audiences and templates saved in the store
    (CampaignError)."""
    return validate(
        campaign, model, audiences=audience_entities(store), templates=template_library(store)
    )


def save_template(
    store: Store, model: Model, template: TemplateFile, *, now: datetime
) -> tuple[SavedTemplate, bool]:
    """Save a library template — after checking it against the published version of every
    live or paused campaign that names it, as publishing them would: their next runs send it.
    A change that would break one is refused with that campaign's problems."""
    current = template_library(store)
    found = current.get(template.name)
    changed = SavedTemplate(
        template.name,
        found.version + 1 if found else 1,
        template.channel,
        template.parts,
        template.description,
        now,
    )
    library = {**current, template.name: changed}
    audiences = audience_entities(store)
    broken: list[str] = []
    for record in list_campaigns(store):
        if record.state not in (LIVE, PAUSED) or record.published is None:
            continue
        campaign = version(store, record.name, record.published).parse()
        if not any(n.settings.get("template") == template.name for n in campaign.nodes):
            continue
        try:
            validate(campaign, model, audiences=audiences, templates=library)
        except CampaignError as exc:
            at = f"{record.name} v{record.published}"  # stored as JSON: no line to give
            broken += [f"{at}: {p.path}: {p.message}" for p in exc.problems]
    if broken:
        raise LifecycleError(
            f"{changed.label} would break the live campaigns that use it:\n  " + "\n  ".join(broken)
        )
    return save_library_template(store, template, now=now)


def save_draft(store: Store, model: Model, campaign: Campaign, *, now: datetime) -> Version:
    """Save (or replace) the campaign's draft: the version after the last published one."""
    check(store, model, campaign)
    definition = definition_json(campaign)
    with store.transaction():
        record = _ensure(store, campaign.name, now)
        if record.state == ARCHIVED:
            raise LifecycleError(f"campaign {campaign.name!r} is archived")
        number = (record.published or 0) + 1
        store.execute(
            "DELETE FROM cantata_campaign_version WHERE campaign = %s AND status = 'draft'",
            [campaign.name],
        )
        store.execute(
            "INSERT INTO cantata_campaign_version (campaign, version, status, definition, "
            "created_at) VALUES (%s, %s, 'draft', %s, %s)",
            [campaign.name, number, definition, db_time(now)],
        )
        _touch(store, campaign.name, record.state, now)
    return version(store, campaign.name, number)


def publish(store: Store, model: Model, campaign: Campaign, *, now: datetime) -> Version:
    """Publish the campaign as a new immutable version (validated first); the campaign goes
    live. An unchanged definition returns the latest published version."""
    canvas = check(store, model, campaign)
    definition = definition_json(campaign)
    with store.transaction():
        record = _ensure(store, campaign.name, now)
        if record.state == ARCHIVED:
            raise LifecycleError(
                f"campaign {campaign.name!r} is archived; publish it under a new name"
            )
        if record.published is not None:
            latest = version(store, campaign.name, record.published)
            if latest.definition == definition:
                return latest
        number = (record.published or 0) + 1
        store.execute(
            "DELETE FROM cantata_campaign_version WHERE campaign = %s AND status = 'draft'",
            [campaign.name],
        )
        store.execute(
            "INSERT INTO cantata_campaign_version (campaign, version, status, definition, "
            "created_at) VALUES (%s, %s, 'published', %s, %s)",
            [campaign.name, number, definition, db_time(now)],
        )
        for name in audiences_read(canvas):
            store.execute(
                "INSERT INTO cantata_campaign_version_audience (campaign, version, audience) "
                "VALUES (%s, %s, %s)",
                [campaign.name, number, name],
            )
        state = LIVE if record.state in (DRAFT, STOPPED, COMPLETED, CLOSED) else record.state
        _touch(store, campaign.name, state, now)
        if state == LIVE:
            _plan(store, campaign, number, now)
    return version(store, campaign.name, number)


def campaign_record(store: Store, name: str) -> CampaignRecord:
    row = store.fetchone(
        "SELECT name, state, created_at, updated_at, "
        "(SELECT max(version) FROM cantata_campaign_version v WHERE v.campaign = c.name "
        "AND v.status = 'published'), "
        "(SELECT max(version) FROM cantata_campaign_version v WHERE v.campaign = c.name "
        "AND v.status = 'draft') FROM cantata_campaign c WHERE name = %s",
        [name],
    )
    if row is None:
        known = [r[0] for r in store.fetchall("SELECT name FROM cantata_campaign")]
        raise CampaignNotFound(
            f"no campaign {name!r}{did_you_mean(name, known)}: publish it first with "
            "`cantata campaign publish FILE`"
        )
    return CampaignRecord(
        row[0],
        row[1],
        aware(row[2]),
        aware(row[3]),
        None if row[4] is None else int(row[4]),
        None if row[5] is None else int(row[5]),
    )


def list_campaigns(store: Store) -> list[CampaignRecord]:
    names = [r[0] for r in store.fetchall("SELECT name FROM cantata_campaign ORDER BY name")]
    return [campaign_record(store, n) for n in names]


def version(store: Store, name: str, number: int) -> Version:
    row = store.fetchone(
        "SELECT campaign, version, status, definition, created_at FROM cantata_campaign_version "
        "WHERE campaign = %s AND version = %s",
        [name, number],
    )
    if row is None:
        raise CampaignNotFound(f"campaign {name!r} has no version {number}")
    return Version(row[0], int(row[1]), row[2], row[3], aware(row[4]))


def versions(store: Store, name: str) -> list[Version]:
    rows = store.fetchall(
        "SELECT campaign, version, status, definition, created_at FROM cantata_campaign_version "
        "WHERE campaign = %s ORDER BY version",
        [name],
    )
    return [Version(r[0], int(r[1]), r[2], r[3], aware(r[4])) for r in rows]


def runnable_version(store: Store, name: str) -> Version:
    """The version a new run of the campaign executes: the latest published, if it is live."""
    record = campaign_record(store, name)
    if record.published is None:
        raise LifecycleError(f"campaign {name!r} has no published version: publish it first")
    if record.state != LIVE:
        raise LifecycleError(
            f"campaign {name!r} is {record.state}; only a live campaign starts runs"
        )
    return version(store, name, record.published)


def move(store: Store, name: str, action: str, *, now: datetime) -> CampaignRecord:
    """Apply a lifecycle move (pause, resume, stop, close, complete, archive)."""
    sources, target = MOVES[action]
    with store.transaction():
        record = campaign_record(store, name)
        if record.state not in sources:
            allowed = ", ".join(sorted(sources))
            raise LifecycleError(
                f"cannot {action} campaign {name!r}: it is {record.state} (only {allowed})"
            )
        published = record.published
        if action == "close" and published is not None:
            recurring = version(store, name, published).parse().schedule.recurring
            if not recurring:
                raise LifecycleError(
                    f"campaign {name!r} is not recurring: stop it instead of closing it"
                )
        _touch(store, name, target, now)
        if target == LIVE and published is not None:
            _plan(store, version(store, name, published).parse(), published, now)
        elif action != "complete":
            cancel_campaign(store, name)
    return campaign_record(store, name)


def _plan(store: Store, campaign: Campaign, number: int, now: datetime) -> None:
    """Have the scheduler fire the campaign's schedule at this version (none if manual)."""
    if campaign.schedule.manual:
        cancel_campaign(store, campaign.name)
    else:
        schedule_campaign(store, campaign.name, number, campaign.schedule, campaign.time_zone, now)


def _ensure(store: Store, name: str, now: datetime) -> CampaignRecord:
    if store.scalar("SELECT count(*) FROM cantata_campaign WHERE name = %s", [name]) == 0:
        store.execute(
            "INSERT INTO cantata_campaign (name, state, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s)",
            [name, DRAFT, db_time(now), db_time(now)],
        )
    return campaign_record(store, name)


def _touch(store: Store, name: str, state: str, now: datetime) -> None:
    store.execute(
        "UPDATE cantata_campaign SET state = %s, updated_at = %s WHERE name = %s",
        [state, db_time(now), name],
    )
