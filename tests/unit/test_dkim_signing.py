"""The DKIM signer on hand-written messages, checked with dkimpy's verifier."""

from __future__ import annotations

import re
from base64 import b64decode
from collections.abc import Callable
from functools import cache

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from cantata.delivery.dkim_signing import (
    DkimKey,
    _relaxed_body,
    _relaxed_header,
    dkim_signature,
    generate_dkim_key,
)
from cantata.errors import ConfigError

HEADERS = (b"from", b"to", b"subject", b"date", b"message-id")

# A throwaway 512-bit key (`openssl genrsa 512`): cryptography refuses to make one.
SMALL_KEY = b"""-----BEGIN PRIVATE KEY-----
MIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEApDn1w9L4/Lc3JdBc
LIdIidWnffGJyZXvxSiGfvwc/gSp2ta6PLM7GCyeGGUs42b8Og5i+kVCImy90V7s
UOZ/xwIDAQABAkACiI5dBf0nUOA96hfx6+hXj/80dyxr+q8nOHfSr6r21C9Aau91
cQpeELwPSdEbC9tx7oDnh28pJATHqec9fUuZAiEA2TGV/4NorNhCBxs79hsyGUTY
Y+Yf+mAGZ3YKcDJmCYsCIQDBkagSfmtEymYgeoiTfkb+W8afm8ht2WWZCFsXvyhS
NQIgLJL6n8fOUbrIQkEamzWVoI36gvYVlgLjDZSyK7iMLGUCIQCjY6aCDdHP3CR+
b8/O5/1XAPLUkPOKvcGDfkkd705CrQIhAMWPmQig7chAFcFlB5DEQfBAshGyUE4T
HnyXpSRSXSXO
-----END PRIVATE KEY-----
"""


@cache
def key_pair(bits: int) -> tuple[DkimKey, str]:
    return generate_dkim_key("sel", "example.com", bits=bits)


def verifies(raw: bytes, bits: int) -> bool:
    record = key_pair(bits)[1].encode()
    return bool(dkim.verify(raw, dnsfunc=lambda name, timeout=5: record))


def signed(raw: bytes, bits: int = 1024, timestamp: int | None = None) -> bytes:
    return dkim_signature(raw, key_pair(bits)[0], HEADERS, timestamp=timestamp) + raw


def signature_lines(raw: bytes) -> list[bytes]:
    field = re.match(rb"DKIM-Signature:.*?\r\n(?![ \t])", raw, re.DOTALL)
    assert field
    return field.group(0).split(b"\r\n")[:-1]


def tags(raw: bytes) -> dict[str, str]:
    value = re.sub(r"\s+", "", b"".join(signature_lines(raw)).decode())
    value = value.removeprefix("DKIM-Signature:")
    return dict(tag.split("=", 1) for tag in value.rstrip(";").split(";"))


# Whitespace a header may carry anywhere between words; folds keep a WSP after the CRLF.
spaces = st.sampled_from([" ", "  ", "\t", " \t ", "\r\n ", "\r\n\t", " \r\n  "])
word = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1)
body_line = st.text(
    alphabet=st.sampled_from([*"abcXYZ09.=<>/;:-_ \t", "é", "中", "🎉"]), max_size=120
)


@st.composite
def header_value(draw: st.DrawFn) -> str:
    words = draw(st.lists(word, min_size=1, max_size=8))
    value = draw(st.sampled_from(["", " ", "\t", "  "])) + words[0]
    for w in words[1:]:
        value += draw(spaces) + w
    return value + draw(st.sampled_from(["", " ", "\t "]))


@st.composite
def message(draw: st.DrawFn) -> bytes:
    names = ["From", "to", "SUBJECT", "Date", "Message-ID", "X-Other"]
    head = "".join(f"{name}:{draw(header_value())}\r\n" for name in draw(st.permutations(names)))
    lines = draw(st.lists(body_line, max_size=12))
    if draw(st.booleans()):
        lines.append("." + "long line " * draw(st.integers(10, 100)))
    lines += [""] * draw(st.integers(0, 3))  # empty lines at the end are not signed
    body = "".join(line + "\r\n" for line in lines)
    return (head + "\r\n" + body).encode()


@settings(max_examples=150, deadline=None)
@given(raw=message(), bits=st.sampled_from([1024, 2048]))
def test_signatures_verify_and_break_when_the_signed_text_changes(raw: bytes, bits: int) -> None:
    mail = signed(raw, bits)
    assert verifies(mail, bits)
    assert all(len(line) < 78 for line in signature_lines(mail))

    head, _, body = mail.partition(b"\r\n\r\n")
    assert verifies(head + b"\r\n\r\n" + body + b"\r\n \t\r\n\r\n", bits)  # relaxed: still ok
    assert not verifies(head + b"\r\n\r\n" + body + b"P.S.\r\n", bits)
    assert not verifies(re.sub(rb"(?mi)^(subject[ \t]*:)", rb"\1 Re:", mail), bits)
    assert verifies(re.sub(rb"(?mi)^(x-other[ \t]*:)", rb"\1 Re:", mail), bits)  # not signed


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(body_line, min_size=1, max_size=8), data=st.data())
def test_whitespace_changes_in_transit_keep_the_signature_valid(
    lines: list[str], data: st.DataObject
) -> None:
    text = "".join(line + "\r\n" for line in lines)
    raw = ("From: a@example.com\r\nSubject: Your trip\r\n\r\n" + text).encode()
    mail = signed(raw)
    head, _, body = mail.partition(b"\r\n\r\n")
    # A relay may refold headers and pad or re-space lines: relaxed canonicalization ignores it.
    refolded = re.sub(
        rb"(?<=[^ \t\r\n]) (?=[^ \t\r\n])",
        lambda _: data.draw(spaces).encode(),
        head,
    )
    padded = re.sub(
        rb"[ \t]*\r\n", lambda _: data.draw(st.sampled_from([b"\r\n", b" \t\r\n"])), body
    )
    assert verifies(refolded + b"\r\n\r\n" + padded, 1024)


def test_of_a_repeated_header_the_last_one_is_signed() -> None:
    raw = b"From: a@example.com\r\nSubject: first\r\nSubject: second\r\n\r\nHi\r\n"
    mail = signed(raw)
    assert tags(mail)["h"] == "from:subject"
    assert verifies(mail.replace(b"first", b"FIRST"), 1024)
    assert not verifies(mail.replace(b"second", b"SECOND"), 1024)


def test_empty_body_and_missing_final_crlf() -> None:
    assert verifies(signed(b"From: a@example.com\r\n\r\n"), 1024)
    assert tags(signed(b"From: a@example.com\r\n\r\n"))["bh"] == (
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="  # sha256 of the empty string
    )
    assert verifies(signed(b"From: a@example.com\r\n\r\nno final line break"), 1024)


def test_tags_and_folding() -> None:
    mail = signed(b"From: a@example.com\r\nTo: b@example.org\r\n\r\nHi\r\n", 2048, 1774785600)
    found = tags(mail)
    assert found["v"] == "1" and found["a"] == "rsa-sha256" and found["c"] == "relaxed/relaxed"
    assert (found["d"], found["s"], found["t"], found["h"]) == (
        "example.com",
        "sel",
        "1774785600",
        "from:to",
    )
    assert len(b64decode(found["b"])) == 256  # a 2048-bit signature
    field = signature_lines(mail)
    assert len(field) > 4 and all(len(line) < 78 for line in field)
    assert all(line.startswith(b" ") for line in field[1:])
    assert "t" not in tags(signed(b"From: a@example.com\r\n\r\nHi\r\n"))


def test_a_message_without_from_cannot_be_signed() -> None:
    with pytest.raises(ValueError, match="From"):
        signed(b"To: b@example.org\r\n\r\nHi\r\n")


def test_generated_keys_publish_their_public_half() -> None:
    key, record = key_pair(1024)
    assert key.private_key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert record.startswith("v=DKIM1; k=rsa; p=")
    private = serialization.load_pem_private_key(key.private_key_pem, password=None)
    public = serialization.load_der_public_key(b64decode(record.split("p=", 1)[1]))
    assert public.public_numbers() == private.public_key().public_numbers()  # type: ignore[union-attr]


def ec_key() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def encrypted_key() -> bytes:
    private = serialization.load_pem_private_key(key_pair(1024)[0].private_key_pem, password=None)
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )


@pytest.mark.parametrize(
    ("pem", "error"),
    [
        (lambda: b"not a key", "not an RSA private key"),
        (lambda: SMALL_KEY, "512 bits; verifiers reject keys under 1024"),
        (ec_key, "not an RSA private key in PEM form: found ECPrivateKey"),
        (encrypted_key, "encrypted"),
    ],
)
def test_unusable_keys_are_config_errors(pem: Callable[[], bytes], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        DkimKey("sel", "example.com", pem())


@pytest.mark.parametrize("domain", ["exämple.com", "example.com; x=1", ""])
def test_domains_must_be_ascii_labels(domain: str) -> None:
    with pytest.raises(ConfigError, match="xn--"):
        DkimKey("sel", domain, key_pair(1024)[0].private_key_pem)


def test_canonicalization_of_the_rfc_6376_example() -> None:
    # RFC 6376 §3.4.5, relaxed: two header fields and a body with odd whitespace.
    assert _relaxed_header(b"A: X") == b"a:X\r\n"
    assert _relaxed_header(b"B : Y\t\r\n\tZ  ") == b"b:Y Z\r\n"
    assert _relaxed_body(b" C \r\nD \t E\r\n\r\n\r\n") == b" C\r\nD E\r\n"


def test_a_name_listed_twice_signs_the_field_above_the_last() -> None:
    raw = b"From: a@example.com\r\nSubject: first\r\nSubject: second\r\n\r\nHi\r\n"
    mail = dkim_signature(raw, key_pair(1024)[0], [b"from", b"subject", b"subject"]) + raw
    assert tags(mail)["h"] == "from:subject:subject"
    assert verifies(mail, 1024)
    assert not verifies(mail.replace(b"first", b"FIRST"), 1024)
