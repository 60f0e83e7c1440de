"""Delivery status notifications (RFC 3464): which of our messages bounced, and how hard.

A DSN is a multipart/report (report-type=delivery-status) holding a human part, a
message/delivery-status part (one block of per-message fields, then one block per
recipient) and the returned message or its headers, where our Message-ID (or the
X-Cantata-Message-Id header) says which ledger row it is about.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser
from typing import Literal

# Actions that mean "not delivered"; delivered/relayed/expanded reports are no bounce.
BOUNCE_ACTIONS = ("failed", "delayed")
_STATUS = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")
_MESSAGE_ID = re.compile(r"<([^<>@\s]+)@[^<>\s]*>")


@dataclass(frozen=True)
class Bounce:
    message_id: str | None  # our ledger id, when the returned headers carry it
    recipient: str  # from Final-Recipient (else Original-Recipient)
    action: str  # failed | delayed
    status: str  # e.g. 5.1.1
    kind: Literal["hard", "soft"]  # hard: failed with 5.x.x; soft: the rest
    diagnostic: str | None


def _address(value: str | None) -> str:
    """`rfc822; user@example.org` → user@example.org."""
    if not value:
        return ""
    _, _, addr = value.partition(";")
    return (addr or value).strip().strip("<>").strip()


def _status_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    parts = payload if isinstance(payload, list) else [payload]
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding not in ("base64", "quoted-printable"):
        return [p for p in parts if isinstance(p, Message)]
    # Some MTAs encode the status part; the parser then sees one headerless block of it.
    encoded = "\n\n".join(p.as_string() if isinstance(p, Message) else str(p) for p in parts)
    if encoding == "base64":
        try:
            data = base64.b64decode(encoded.encode("ascii", "ignore"))
        except binascii.Error:
            return []  # truncated or corrupt: nothing to learn from it
    else:
        data = quopri.decodestring(encoded.encode("utf-8", "replace"))
    text = data.decode("utf-8", "replace").replace("\r\n", "\n")
    blocks = re.split(r"\n[ \t]*\n", text.strip())
    return [HeaderParser().parsestr(b) for b in blocks if b.strip()]


def _returned_headers(report: Message) -> Message | None:
    for part in report.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
        elif ctype == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                return BytesHeaderParser().parsebytes(raw)
    return None


def our_message_id(headers: Message | None) -> str | None:
    """The ledger id in returned headers: X-Cantata-Message-Id, else Message-ID's local part."""
    if headers is None:
        return None
    ours = headers.get("X-Cantata-Message-Id")
    if ours and str(ours).strip():
        return str(ours).strip()
    match = _MESSAGE_ID.search(str(headers.get("Message-ID", "")))
    return match.group(1) if match else None


def parse_dsn(raw: bytes) -> list[Bounce]:
    """The failed and delayed recipients a DSN reports; [] for anything that is not a DSN."""
    report = message_from_bytes(raw)
    if report.get_content_type() != "multipart/report":
        return []
    status_part = next(
        (
            p
            for p in report.walk()
            if p.get_content_type() in ("message/delivery-status", "message/global-delivery-status")
        ),
        None,
    )
    if status_part is None:
        return []
    message_id = our_message_id(_returned_headers(report))
    bounces = []
    for block in _status_blocks(status_part):
        recipient = _address(block.get("Final-Recipient") or block.get("Original-Recipient"))
        action = str(block.get("Action", "")).strip().lower()
        if not recipient or action not in BOUNCE_ACTIONS:
            continue  # the per-message block, or a recipient that was delivered
        diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split()) or None
        found = _STATUS.search(str(block.get("Status", ""))) or _STATUS.search(diagnostic or "")
        status = found.group(0) if found else ""
        bounces.append(
            Bounce(
                message_id=message_id,
                recipient=recipient,
                action=action,
                status=status,
                kind="hard" if action == "failed" and status.startswith("5") else "soft",
                diagnostic=diagnostic,
            )
        )
    return bounces
