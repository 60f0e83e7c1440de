"""Signed tracking tokens: what a link in a message may ask the tracking app to do.

A token is base64url(payload ‖ mac) without padding, where payload is one kind letter, the
ledger message id and, for clicks, NUL and the target URL, and mac is HMAC-SHA256(secret,
payload) cut to 16 bytes (128 bits is ample against forgery and keeps every link short).
Only the holder of `[tracking] secret` can make one, so a click token is the proof that its
URL was in a message we rendered: no open redirect.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

MAC_BYTES = 16
# b64decode would silently skip foreign characters; a token is only these.
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+\Z")


class Kind(StrEnum):
    OPEN = "o"
    CLICK = "c"
    UNSUBSCRIBE = "u"


@dataclass(frozen=True)
class Token:
    kind: Kind
    message_id: str
    url: str | None = None  # clicks only


class InvalidToken(ValueError):
    """Not a token we signed (tampered, truncated, another secret) or not of the kind asked."""


class TokenSigner:
    """Signs and verifies tokens with one secret; reuses the keyed HMAC state per token."""

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("the tracking secret is empty")
        self._keyed = hmac.new(secret, digestmod=hashlib.sha256)

    def _mac(self, payload: bytes) -> bytes:
        h = self._keyed.copy()  # copying the keyed state skips re-hashing the key each time
        h.update(payload)
        return h.digest()[:MAC_BYTES]

    def sign(self, kind: Kind, message_id: str, url: str | None = None) -> str:
        if "\0" in message_id:
            raise ValueError("a message id cannot contain NUL")
        if (url is not None) != (kind is Kind.CLICK):
            raise ValueError("a click token needs a URL, and only a click token has one")
        text = kind.value + message_id + ("\0" + url if url is not None else "")
        payload = text.encode("utf-8")
        return base64.urlsafe_b64encode(payload + self._mac(payload)).rstrip(b"=").decode("ascii")

    def verify(self, token: str, kind: Kind) -> Token:
        """The token's content, or InvalidToken; the MAC is compared in constant time."""
        if not _ALPHABET.match(token):
            raise InvalidToken("not base64url")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise InvalidToken("not base64url") from None
        payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
        if len(payload) < 2 or not hmac.compare_digest(mac, self._mac(payload)):
            raise InvalidToken("bad signature")
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidToken("not UTF-8") from None
        if text[0] != kind.value:
            raise InvalidToken(f"not a {kind.name.lower()} token")
        message_id, _, url = text[1:].partition("\0")
        if kind is Kind.CLICK and not url:
            raise InvalidToken("a click token without a URL")
        if not message_id:
            raise InvalidToken("no message id")
        return Token(kind, message_id, url if kind is Kind.CLICK else None)
