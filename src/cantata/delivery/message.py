"""What the dispatcher hands to a provider, and what the provider answers for each message."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class Message:
    """One rendered message. `content` holds the rendered parts of the channel:
    email: subject, html, text · sms: body · push: title, body, deep_link ·
    webhook: body (JSON text) · direct_mail: none (`data` holds the row)."""

    message_id: str  # the ledger id: stable across retries, used as Message-ID / idempotency key
    channel: str  # email | sms | push | direct_mail | webhook
    address: str
    recipient: str
    content: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. List-Unsubscribe
    sender: str | None = None
    reply_to: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)  # row fields for webhook/direct mail
    run: int = 0
    activity: str = ""


class Status(StrEnum):
    SENT = "sent"  # accepted by the provider
    RETRY = "retry"  # temporary failure: try again later (SMTP 4xx, HTTP 429/5xx, network)
    FAILED = "failed"  # permanent failure (SMTP 5xx, HTTP 4xx)


@dataclass(frozen=True)
class Outcome:
    message_id: str
    status: Status
    provider_id: str | None = None  # the provider's own id for the message, for callbacks
    error: str | None = None
    retry_after: float | None = None  # seconds the provider asked us to wait (Retry-After)
    # A permanent failure that says the address itself is bad (SMTP 5.1.x, invalid number):
    # the address is suppressed.
    bad_address: bool = False
