"""MIME composition: what compose() writes, read back with the stdlib parser."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from functools import cache

import dkim
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cantata.delivery.email_message import DkimKey, compose, generate_dkim_key
from cantata.delivery.message import Message
from cantata.errors import ConfigError

NOON = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)


def message(**changes: object) -> Message:
    fields: dict[str, object] = {
        "message_id": "0f3a9c",
        "channel": "email",
        "address": "ana@example.org",
        "recipient": "C1",
        "content": {"subject": "Your trip", "text": "Hello Ana", "html": "<p>Hello Ana</p>"},
    }
    return Message(**(fields | changes))  # type: ignore[arg-type]


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def composed(m: Message, key: DkimKey | None = None) -> EmailMessage:
    return parse(
        compose(
            m, sender="Travel <news@example.com>", domain="mail.example.com", dkim=key, date=NOON
        )
    )


def test_text_only_when_there_is_no_html() -> None:
    mail = composed(message(content={"subject": "S", "text": "Just text\nline two"}))
    assert mail.get_content_type() == "text/plain"
    assert not mail.is_multipart()
    assert mail.get_content() == "Just text\r\nline two\r\n"


def test_message_id_and_date_come_from_the_ledger_id_and_the_clock() -> None:
    mail = composed(message())
    assert mail["Message-ID"] == "<0f3a9c@mail.example.com>"
    assert mail["X-Cantata-Message-Id"] == "0f3a9c"
    assert mail["Date"].datetime == NOON
    assert mail["From"] == "Travel <news@example.com>"
    assert mail["To"] == "ana@example.org"
    assert "Reply-To" not in mail


def test_message_sender_overrides_the_channel_default() -> None:
    assert (
        composed(message(sender="Offers <offers@example.com>"))["From"]
        == "Offers <offers@example.com>"
    )


def test_long_and_non_ascii_subjects_round_trip() -> None:
    subject = (
        "Ihr Aufenthalt in München — Frühstück inklusive, Zimmer mit Blick auf die Alpen ☀ " * 3
    )
    mail = composed(message(content={"subject": subject, "text": "x"}))
    assert mail["Subject"] == subject.strip()
    raw = compose(
        message(content={"subject": subject, "text": "x"}), sender="a@b.c", domain="b.c", dkim=None
    )
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert max(len(line) for line in head.split(b"\r\n")) <= 78  # folded


def test_a_rendered_subject_cannot_inject_headers() -> None:
    mail = composed(message(content={"subject": "Hi\r\nBcc: victim@example.net", "text": "x"}))
    assert "Bcc" not in mail
    assert mail["Subject"] == "Hi Bcc: victim@example.net"


def test_one_click_post_only_for_an_http_unsubscribe_link() -> None:
    both = composed(
        message(headers={"List-Unsubscribe": "<https://t.example.com/u/1>, <mailto:u@example.com>"})
    )
    assert both["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    mailto = composed(message(headers={"List-Unsubscribe": "<mailto:u@example.com>"}))
    assert mailto["List-Unsubscribe"] == "<mailto:u@example.com>"
    assert "List-Unsubscribe-Post" not in mailto


def test_headers_given_by_the_dispatcher_cannot_replace_our_own() -> None:
    mail = composed(message(headers={"Message-ID": "<forged@x>", "X-Campaign": "spring"}))
    assert mail.get_all("Message-ID") == ["<0f3a9c@mail.example.com>"]
    assert mail["X-Campaign"] == "spring"
    with pytest.raises(ValueError, match="invalid header name"):
        composed(message(headers={"Bad Name": "x"}))


def test_parts_survive_long_lines_trailing_spaces_and_equals_signs() -> None:
    text = "a=b " * 60 + "\ntrailing   \n\nZoë 🎉"
    html = '<p style="color:red">' + "x" * 2000 + "</p>"
    mail = composed(message(content={"subject": "s", "text": text, "html": html}))
    plain, rich = mail.iter_parts()
    assert plain.get_content() == text.replace("\n", "\r\n")
    assert rich.get_content() == html
    raw = compose(
        message(content={"subject": "s", "text": text, "html": html}),
        sender="a@b.c",
        domain="b.c",
        dkim=None,
    )
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78  # quoted-printable keeps lines short


def test_display_names_are_encoded_and_utf8_mailboxes_kept() -> None:
    mail = composed(message(address="josé@exemplo.br", reply_to="Équipe Voyage <aide@example.com>"))
    assert mail["To"] == "josé@exemplo.br"
    assert mail["Reply-To"] == "Équipe Voyage <aide@example.com>"


def test_dkim_signature_verifies_and_signs_the_listed_headers() -> None:
    key, record = generate_dkim_key("sel", "example.com", bits=1024)
    raw = compose(
        message(headers={"List-Unsubscribe": "<https://t.example.com/u/1>"}),
        sender="news@example.com",
        domain="example.com",
        dkim=key,
    )
    assert raw.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com;")
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: record.encode())
    tags = dict(
        tag.strip().split("=", 1)
        for tag in parse(raw)["DKIM-Signature"].replace(" ", "").split(";")
    )
    signed = set(tags["h"].split(":"))
    assert {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    } <= signed
    body_changed = raw.replace(b"Hello Ana", b"Hello Bob")
    assert not dkim.verify(body_changed, dnsfunc=lambda name, timeout=5: record.encode())


def test_a_dkim_key_that_is_not_pem_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not an RSA private key"):
        DkimKey(
            "sel", "example.com", b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"
        )


@pytest.mark.parametrize("subject", ["😀" * 30, "é" * 50, "a" + "中" * 40, "Été " * 30])
def test_encoded_words_never_split_a_character(subject: str) -> None:
    raw = compose(
        message(content={"subject": subject, "text": "x"}), sender="a@b.c", domain="b.c", dkim=None
    )
    assert parse(raw)["Subject"] == subject.strip()
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        assert len(line) <= 78


@cache
def dkim_pair(bits: int) -> tuple[DkimKey, str]:
    return generate_dkim_key("sel", "example.com", bits=bits)


def dkim_verifies(raw: bytes, bits: int) -> bool:
    record = dkim_pair(bits)[1].encode()
    return bool(dkim.verify(raw, dnsfunc=lambda name, timeout=5: record))


# Rendered text: any Unicode but lone surrogates and control characters other than these.
rendered = st.text(
    alphabet=st.characters(exclude_categories=["Cs", "Cc"], include_characters="\t\r\n "),
    max_size=200,
)
body_text = st.lists(
    st.one_of(
        rendered,
        st.sampled_from(["", " ", "trailing  \t ", ".", "..leading dots", "a=b  c"]),
        st.integers(1, 40).map(lambda n: "long line " * n),
    ),
    max_size=12,
).map(lambda lines: "\n".join(lines))
wsp = st.sampled_from([" ", "  ", "\t", " \t "])


@st.composite
def unsubscribe(draw: st.DrawFn) -> str:
    return draw(wsp).join(["<https://t.example.com/u/1>,", "<mailto:u@example.com>", ""])


@settings(max_examples=80, deadline=None)
@given(
    subject=rendered,
    text=body_text,
    html=st.one_of(st.just(""), body_text.map(lambda t: f"<p>{t}</p>\n\n\n")),
    list_unsubscribe=unsubscribe(),
    bits=st.sampled_from([1024, 2048]),
    data=st.data(),
)
def test_every_composed_message_verifies_and_tampering_is_caught(
    subject: str, text: str, html: str, list_unsubscribe: str, bits: int, data: st.DataObject
) -> None:
    m = message(
        content={"subject": subject, "text": text, "html": html},
        headers={"List-Unsubscribe": list_unsubscribe, "X-Campaign": "spring  \t sale"},
    )
    raw = compose(m, sender="news@example.com", domain="example.com", dkim=dkim_pair(bits)[0])
    assert dkim_verifies(raw, bits)
    head, _, body = raw.partition(b"\r\n\r\n")

    # Refolding and re-spacing the headers in transit keeps it valid (relaxed/relaxed).
    refolded = re.sub(
        rb"(?<=[^ \t\r\n]) (?=[^ \t\r\n])",
        lambda _: data.draw(st.sampled_from([b" ", b"  ", b"\t", b"\r\n ", b"\r\n\t"])),
        head,
    )
    assert dkim_verifies(refolded + b"\r\n\r\n" + body + b"\r\n\r\n", bits)

    # A visible character anywhere in the body breaks it (whitespace is all relaxed ignores).
    at = data.draw(st.integers(0, len(body)))
    assert not dkim_verifies(head + b"\r\n\r\n" + body[:at] + b"#" + body[at:], bits)

    # So does changing a signed header; an unsigned one may change.
    name = data.draw(st.sampled_from([b"From", b"To", b"Subject", b"Date", b"List-Unsubscribe"]))
    assert not dkim_verifies(raw.replace(b"\r\n" + name + b": ", b"\r\n" + name + b": x", 1), bits)
    assert dkim_verifies(raw.replace(b"X-Campaign: ", b"X-Campaign: x"), bits)


def test_the_signature_time_is_the_compose_date_and_absent_without_one() -> None:
    key = dkim_pair(1024)[0]
    then = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
    with_date = compose(
        message(), sender="a@example.com", domain="example.com", dkim=key, date=then
    )
    without = compose(message(), sender="a@example.com", domain="example.com", dkim=key)
    assert "t=1774785600;" in parse(with_date)["DKIM-Signature"].replace(" ", "")
    assert "t=" not in parse(without)["DKIM-Signature"]
    assert dkim_verifies(with_date, 1024) and dkim_verifies(without, 1024)
