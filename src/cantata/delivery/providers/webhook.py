"""The webhook channel: signed JSON batches, one POST per target URL.

Each message carries its rendered target (`content["url"]`, else the channel's `url`) and
its rendered JSON (`content["body"]`, else the row `data`). A batch is grouped by target and
each group is posted as `{"messages": [{"message_id", "recipient", "payload"}, ...]}` with
`X-Cantata-Timestamp` and `X-Cantata-Signature: sha256=<hex HMAC-SHA256 of
"{timestamp}.{body}">`. Receivers check it with `verify_signature` and deduplicate on
`message_id` (a retried batch carries the same ids).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from cantata.delivery.message import Message, Outcome, Status
from cantata.delivery.providers.base import OutcomeHook
from cantata.delivery.providers.http_client import (
    CLIENT_KEYS,
    Clock,
    Credentials,
    HttpProvider,
    optional_str,
    outcome_for_error,
    outcome_for_response,
    secret,
    utc_now,
)

TIMESTAMP_HEADER = "X-Cantata-Timestamp"
SIGNATURE_HEADER = "X-Cantata-Signature"
KEYS = CLIENT_KEYS | {"secret", "secret_env", "url"}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp` (Unix seconds)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: bytes | str,
    header: str,
    now: datetime | float,
    tolerance: float = 300,
) -> bool:
    """Whether `header` is our signature of `body` at `timestamp`, and the timestamp is
    within `tolerance` seconds of `now` (so a captured request cannot be replayed later)."""
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = now.timestamp() if isinstance(now, datetime) else float(now)
    if abs(current - sent_at) > tolerance:
        return False
    raw = body.encode() if isinstance(body, str) else body
    return hmac.compare_digest(sign(secret, str(sent_at), raw), header)


class WebhookProvider(HttpProvider):
    name = "webhook"
    channel = "webhook"
    keys = KEYS

    def _configure(self, config: Mapping[str, Any], where: str) -> Credentials:
        signing_secret = secret(config, "secret", where, required=True)
        assert signing_secret is not None
        self.secret = signing_secret
        self.default_url = optional_str(config, "url", where)
        return Credentials()

    async def send(
        self, batch: Sequence[Message], on_outcome: OutcomeHook | None = None
    ) -> list[Outcome]:
        outcomes: dict[str, Outcome] = {}
        groups: dict[str, list[tuple[Message, Any]]] = {}
        for message in batch:
            url = message.content.get("url") or self.default_url
            if not url:
                outcomes[message.message_id] = Outcome(
                    message.message_id, Status.FAILED, error="the webhook has no target URL"
                )
                continue
            try:
                payload = _payload(message)
            except ValueError as exc:
                outcomes[message.message_id] = Outcome(
                    message.message_id, Status.FAILED, error=f"the body is not JSON: {exc}"
                )
                continue
            groups.setdefault(url, []).append((message, payload))
        if on_outcome is not None:
            for refused in outcomes.values():
                on_outcome(refused)

        async def post_and_report(url: str, group: list[tuple[Message, Any]]) -> None:
            for outcome in await self._post(url, group):
                outcomes[outcome.message_id] = outcome
                if on_outcome is not None:
                    on_outcome(outcome)

        await asyncio.gather(*(post_and_report(url, group) for url, group in groups.items()))
        return [outcomes[m.message_id] for m in batch]

    async def _post(self, url: str, group: list[tuple[Message, Any]]) -> list[Outcome]:
        body = json.dumps(
            {
                "messages": [
                    {"message_id": m.message_id, "recipient": m.recipient, "payload": payload}
                    for m, payload in group
                ]
            },
            default=str,  # dates and decimals in row data
            ensure_ascii=False,
        ).encode()
        now = self.clock()
        timestamp = str(int(now.timestamp()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.secret, timestamp, body),
        }
        try:
            response = await self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return [outcome_for_error(m.message_id, exc) for m, _ in group]
        return [outcome_for_response(m.message_id, response, now) for m, _ in group]


def _payload(message: Message) -> Any:
    body = message.content.get("body")
    if body is None:
        return dict(message.data)
    return json.loads(body)


def webhook_provider(
    config: Mapping[str, Any], *, clock: Clock = utc_now, root: Path | None = None
) -> WebhookProvider:
    return WebhookProvider(config, clock=clock)
