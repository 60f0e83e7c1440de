"""Request bodies that are documents, not JSON objects: a campaign in YAML or JSON, a template
in YAML, read as text and parsed by the same code as `cantata campaign validate FILE` and
`cantata template save FILE`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from cantata.canvas.definition import Campaign, parse_campaign
from cantata.server.errors import ApiError

# Bodies are read before a route's token check: a bound keeps anyone's from exhausting
# memory. Campaigns, templates and rules are far smaller; files to ingest have their own.
MAX_BODY = 5 * 1024 * 1024
MAX_UPLOAD = 1024 * 1024 * 1024

SOURCE = "body"  # problems read `body:5: nodes.stays.settings.rule: ...`

CAMPAIGN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The campaign definition, as in a campaign file (YAML or JSON).",
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    }
}


TEMPLATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The template, as in a template file (YAML: name, channel, its parts).",
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    }
}


async def campaign_text(request: Request) -> str:
    return await document_text(request, "the campaign as YAML or JSON")


async def document_text(request: Request, what: str) -> str:
    """The body as text: a document (campaign, template) parsed as its file would be."""
    raw = await request.body()
    if not raw.strip():
        raise ApiError(422, f"the request body is empty: send {what}", where=SOURCE)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not UTF-8 text", where=SOURCE) from None


def parse_named(text: str, name: str) -> Campaign:
    """The campaign in the body, which must be the one the path names."""
    campaign = parse_campaign(text, source=SOURCE)
    if campaign.name != name:
        raise ApiError(
            422,
            f"the body defines campaign {campaign.name!r}, not {name!r}",
            where=f"{SOURCE}: name",
        )
    return campaign


def moment(text: str | None, now: datetime, where: str) -> datetime:
    """An optional ISO-8601 time from the query (naive means UTC), else the clock's now; in
    UTC, so every later step works in the range Python's dates cover."""
    if text is None:
        return now
    try:
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, f"{text!r} is not an ISO-8601 time", where=where) from None
    if found.tzinfo is None:
        return found.replace(tzinfo=UTC)
    try:
        return found.astimezone(UTC)
    except OverflowError:
        raise ApiError(
            422, f"{text!r} is outside the years 1 to 9999 in UTC", where=where
        ) from None


def rows_response(data: Any, status: int = 200) -> Response:
    """JSON written as the CLI's `--json` writes it (dates ISO, decimals as exact text)."""
    return Response(
        json.dumps(data, default=str), status_code=status, media_type="application/json"
    )
