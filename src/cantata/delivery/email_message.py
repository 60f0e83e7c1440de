"""Compose a rendered email `Message` into the RFC 5322 bytes an SMTP server receives.

The MIME is written by hand rather than through `email.message.EmailMessage`: the stdlib
object model costs ~10x more per message, and we compose one per recipient. Parts are always
quoted-printable, so the boundary (which starts with "=_") can never occur inside a part.
Header values from templates are single-lined here: a rendered subject must never inject a
header.
"""

from __future__ import annotations

import binascii
import re
from base64 import b64encode
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache

# DkimKey and generate_dkim_key are re-exported: callers import them from here.
from cantata.delivery.dkim_signing import DkimKey as DkimKey
from cantata.delivery.dkim_signing import dkim_signature
from cantata.delivery.dkim_signing import generate_dkim_key as generate_dkim_key
from cantata.delivery.message import Message

# Signed when present. RFC 8058 requires List-Unsubscribe and List-Unsubscribe-Post to be
# covered by a valid DKIM signature for one-click unsubscribe to be honoured.
SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
)

# Headers compose() writes itself: `message.headers` may not replace them.
_OWN_HEADERS = frozenset(
    {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "reply-to",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "x-cantata-message-id",
        "dkim-signature",
    }
)
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # printable ASCII without ':' (RFC 5322 ftext)
_LINE_BREAKS = re.compile(r"[\r\n]+\s*")
_WORD_BYTES = 42  # 56 base64 characters: "Subject: =?utf-8?b?...?=" fits 78 columns
_TEXT_PART_HEADERS = (
    "Content-Type: {}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"
)
_BARE_ADDRESS = re.compile(r"[^\s<>()\[\]\",;:@\\]+@[^\s<>()\[\]\",;:@\\]+")
_HTTP_URI = re.compile(r"<\s*https?://", re.IGNORECASE)


def compose(
    message: Message,
    *,
    sender: str,
    domain: str,
    dkim: DkimKey | None,
    date: datetime | None = None,
) -> bytes:
    """The message as sent: headers, a text part (and an HTML part when there is one), and a
    DKIM-Signature when `dkim` is given. `sender` is the default From, `domain` the right-hand
    side of the Message-ID (which is the ledger id, so retries keep the same Message-ID)."""
    content = message.content
    html = content.get("html") or ""
    text = content.get("text") or ""
    headers = [
        f"From: {_address_header(message.sender or sender)}",
        f"To: {_address_header(message.address)}",
        "Subject: " + _subject(content.get("subject", "")),
        "Date: " + format_datetime(date or datetime.now(UTC)),
        f"Message-ID: <{message.message_id}@{domain}>",
    ]
    if message.reply_to:
        headers.append(f"Reply-To: {_address_header(message.reply_to)}")
    extra = {name.lower() for name in message.headers}
    for name, value in message.headers.items():
        if name.lower() in _OWN_HEADERS:
            continue
        if not _HEADER_NAME.match(name):
            raise ValueError(f"invalid header name {name!r} for message {message.message_id}")
        headers.append(f"{name}: {_single_line(value)}")
        one_click = name.lower() == "list-unsubscribe" and _HTTP_URI.search(value)
        if one_click and "list-unsubscribe-post" not in extra:
            headers.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    headers.append(f"X-Cantata-Message-Id: {message.message_id}")
    headers.append("MIME-Version: 1.0")

    if html:
        boundary = f"=_cantata_{message.message_id}"
        headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        body = b"".join(
            (
                f"--{boundary}\r\n".encode(),
                _part("text/plain", text),
                f"\r\n--{boundary}\r\n".encode(),
                _part("text/html", html),
                f"\r\n--{boundary}--\r\n".encode(),
            )
        )
    else:
        headers.append(_TEXT_PART_HEADERS.format("text/plain"))
        body = _quoted_printable(text) + b"\r\n"

    raw = ("\r\n".join(headers) + "\r\n\r\n").encode("utf-8") + body
    if dkim is None:
        return raw
    timestamp = int(date.timestamp()) if date else None  # t= only from a given clock
    return dkim_signature(raw, dkim, SIGNED_HEADERS, timestamp=timestamp) + raw


def _part(content_type: str, value: str) -> bytes:
    head = _TEXT_PART_HEADERS.format(content_type) + "\r\n\r\n"
    return head.encode("ascii") + _quoted_printable(value)


def _quoted_printable(value: str) -> bytes:
    # binascii (C) breaks lines with LF only when the input's first line does, so encode
    # LF-only text and turn every LF of the result (QP leaves no other) into CRLF.
    lf = value.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(lf, istext=True).replace(b"\n", b"\r\n")


def _single_line(value: str) -> str:
    return _LINE_BREAKS.sub(" ", value).strip()


def _subject(value: str) -> str:
    value = _single_line(value)
    if value.isascii():
        if len(value) <= 68:
            return value
        return Header(value, "us-ascii", header_name="Subject").encode(linesep="\r\n")
    return _encoded_words(value)


def _encoded_words(value: str) -> str:
    """RFC 2047 base64 encoded words, folded, each line within 78 characters after
    "Subject: ". Written here because email.header measures every character's encoded
    length in Python: 80 % of compose()'s time with it."""
    data = value.encode("utf-8")
    words = []
    start = 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and 0x80 <= data[end] < 0xC0:
            end -= 1  # never split a character's bytes across two words
        words.append("=?utf-8?b?" + b64encode(data[start:end]).decode("ascii") + "?=")
        start = end
    return "\r\n ".join(words)


@lru_cache(maxsize=4096)
def _address_header(value: str) -> str:
    """`Name <addr>` or `addr`, the display name RFC 2047-encoded when it is not ASCII."""
    if _BARE_ADDRESS.fullmatch(value):
        return value  # the common case (a recipient's address): skip the parser
    name, address = parseaddr(_single_line(value))
    if not address:
        raise ValueError(f"not an email address: {value!r}")
    if not name:
        return address
    if address.isascii():
        return formataddr((name, address), charset="utf-8")
    # An SMTPUTF8 mailbox: formataddr refuses non-ASCII addresses, so let it format the name only.
    shown = formataddr((name, "x@x"), charset="utf-8").removesuffix(" <x@x>")
    return f"{shown} <{address}>"


def address_of(value: str) -> str:
    """The bare address of `Name <addr>` (for the SMTP envelope)."""
    return parseaddr(_single_line(value))[1]


def domain_of(value: str) -> str:
    return address_of(value).rpartition("@")[2]
