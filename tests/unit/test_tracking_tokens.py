"""Signed tracking tokens and the link rewriting of rendered messages."""

from __future__ import annotations

import base64
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cantata.errors import ConfigError
from cantata.tracking.links import TrackingLinks
from cantata.tracking.settings import tracking_settings
from cantata.tracking.tokens import MAC_BYTES, InvalidToken, Kind, TokenSigner

SECRET = b"s3cret-for-tests-only"
BASE = "https://t.example.com"
MID = "4f3c2a1b9e8d7c6b"

signer = TokenSigner(SECRET)
links = TrackingLinks(BASE, SECRET)


def click_target(url: str) -> str | None:
    """The URL a tracked click link redirects to."""
    assert url.startswith(BASE + "/c/"), url
    return signer.verify(url.removeprefix(BASE + "/c/"), Kind.CLICK).url


@given(
    kind=st.sampled_from([Kind.OPEN, Kind.UNSUBSCRIBE]),
    mid=st.text(min_size=1).filter(lambda s: "\0" not in s),
)
def test_open_and_unsubscribe_tokens_round_trip(kind: Kind, mid: str) -> None:
    token = signer.verify(signer.sign(kind, mid), kind)
    assert (token.kind, token.message_id, token.url) == (kind, mid, None)


@given(url=st.text(min_size=1))
def test_click_tokens_carry_any_url(url: str) -> None:
    token = signer.verify(signer.sign(Kind.CLICK, MID, url), Kind.CLICK)
    assert (token.message_id, token.url) == (MID, url)


def test_tokens_are_url_safe_and_short() -> None:
    token = signer.sign(Kind.OPEN, MID)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    # kind + id + 16-byte MAC, base64url without padding
    assert len(token) == len(
        base64.urlsafe_b64encode(b"o" + MID.encode() + b"x" * MAC_BYTES).rstrip(b"=")
    )
    assert len(token) < 60


def tamper(token: str, at: int) -> str:
    c = token[at]
    return token[:at] + ("A" if c != "A" else "B") + token[at + 1 :]


@pytest.mark.parametrize("at", [0, 3, 10, -5, -1])
def test_a_tampered_token_is_rejected(at: int) -> None:
    token = signer.sign(Kind.CLICK, MID, "https://shop.example/a")
    with pytest.raises(InvalidToken):
        signer.verify(tamper(token, at), Kind.CLICK)


def test_a_forged_click_token_for_another_url_is_rejected() -> None:
    # Re-encoding a real token's MAC with another URL (evil.example) does not verify.
    raw = base64.urlsafe_b64decode(signer.sign(Kind.CLICK, MID, "https://shop.example/") + "==")
    forged = b"c" + MID.encode() + b"\0https://evil.example/" + raw[-MAC_BYTES:]
    with pytest.raises(InvalidToken, match="signature"):
        signer.verify(base64.urlsafe_b64encode(forged).rstrip(b"=").decode(), Kind.CLICK)


def test_other_secret_wrong_kind_and_junk_are_rejected() -> None:
    with pytest.raises(InvalidToken):
        TokenSigner(b"another secret").verify(signer.sign(Kind.OPEN, MID), Kind.OPEN)
    with pytest.raises(InvalidToken, match="not a unsubscribe token"):
        signer.verify(signer.sign(Kind.OPEN, MID), Kind.UNSUBSCRIBE)
    for junk in ["", "x", "!!!!", signer.sign(Kind.OPEN, MID) + "!", "A" * 40]:
        with pytest.raises(InvalidToken):
            signer.verify(junk, Kind.OPEN)


def test_a_click_token_needs_a_url_and_others_refuse_one() -> None:
    with pytest.raises(ValueError):
        signer.sign(Kind.CLICK, MID)
    with pytest.raises(ValueError):
        signer.sign(Kind.OPEN, MID, "https://x.example")


# --- link rewriting ---------------------------------------------------------------------


def test_links_point_at_the_tracking_endpoints() -> None:
    assert (
        signer.verify(links.open_url(MID).removeprefix(BASE + "/o/"), Kind.OPEN).message_id == MID
    )
    unsub = links.unsubscribe_url(MID).removeprefix(BASE + "/u/")
    assert signer.verify(unsub, Kind.UNSUBSCRIBE).message_id == MID
    assert click_target(links.click_url(MID, "https://a.example/x")) == "https://a.example/x"


def hrefs(html: str) -> list[str]:
    return re.findall(r"""(?<=\s)href\s*=\s*["']([^"']*)["']""", html, re.IGNORECASE)


def test_rewrite_html_tracks_http_links_and_leaves_the_rest() -> None:
    unsub = links.unsubscribe_url(MID)
    html = (
        "<html><body>"
        '<a href="https://shop.example/deal?a=1&amp;b=2">deal</a> '
        "<a class=x href='http://shop.example/single'>single</a> "
        "<A HREF=https://shop.example/unquoted>unquoted</A> "
        '<a href="mailto:help@shop.example">mail</a> '
        '<a href="tel:+3312345">call</a> '
        '<a href="#top">top</a> '
        '<a href="/relative">rel</a> '
        f'<a href="{unsub}">unsubscribe</a> '
        '<div data-href="https://shop.example/not-a-link"></div>'
        "</body></html>"
    )
    out = links.rewrite_html(html, MID)
    found = hrefs(out)
    assert [click_target(u) for u in found[:3]] == [
        "https://shop.example/deal?a=1&b=2",  # unescaped before signing
        "http://shop.example/single",
        "https://shop.example/unquoted",
    ]
    assert "<a class=x href='" + BASE + "/c/" in out  # the quote style is kept
    assert found[3:] == ["mailto:help@shop.example", "tel:+3312345", "#top", "/relative", unsub]
    assert 'data-href="https://shop.example/not-a-link"' in out
    # the pixel goes right before </body>
    assert out.endswith(f"{links.pixel(MID)}</body></html>")
    assert links.open_url(MID) in links.pixel(MID)


def test_rewrite_html_without_body_appends_the_pixel() -> None:
    out = links.rewrite_html('<p><a href="https://a.example">a</a></p>', MID)
    assert out.endswith(links.pixel(MID))
    assert out.count("/c/") == 1


def test_rewrite_html_is_idempotent_on_its_own_links() -> None:
    once = links.rewrite_html('<a href="https://a.example">a</a>', MID)
    twice = links.rewrite_html(once.replace(links.pixel(MID), ""), MID)
    assert hrefs(twice) == hrefs(once)


def test_rewrite_text_tracks_bare_urls_without_trailing_punctuation() -> None:
    text = (
        "See https://shop.example/deal?a=1&b=2. Or (http://shop.example/x), "
        f"mail help@shop.example.\nUnsubscribe: {links.unsubscribe_url(MID)}\n"
    )
    out = links.rewrite_text(text, MID)
    urls = re.findall(r"https://t\.example\.com/c/[A-Za-z0-9_-]+", out)
    assert [click_target(u) for u in urls] == [
        "https://shop.example/deal?a=1&b=2",
        "http://shop.example/x",
    ]
    assert urls[0] + ". Or (" in out and urls[1] + ")," in out
    assert f"Unsubscribe: {links.unsubscribe_url(MID)}\n" in out


def test_rewrite_html_is_fast_enough_for_a_send_run() -> None:
    html = (
        "<html><body>"
        + "".join(
            f'<p><a href="https://shop.example/item/{i}?utm=x&amp;y=1">item {i}</a></p>'
            for i in range(10)
        )
        + "</body></html>"
    )
    n = 2000
    start = time.perf_counter()
    for i in range(n):
        links.rewrite_html(html, f"m{i}")
    per_second = n / (time.perf_counter() - start)
    # 10 links per email; the dispatcher targets thousands of emails a second.
    assert per_second > 2500, per_second


def test_settings_name_the_missing_or_weak_secret() -> None:
    with pytest.raises(ConfigError, match=r"\[tracking\] secret is missing"):
        tracking_settings({})
    with pytest.raises(ConfigError, match=r"\[tracking\] secret is too short"):
        tracking_settings({"tracking": {"secret": "short"}})
    with pytest.raises(ConfigError, match=r"\[tracking\] secrett.*did you mean 'secret'"):
        tracking_settings({"tracking": {"secrett": "x" * 20}})
    with pytest.raises(ConfigError, match=r"\[tracking\] base_url is missing"):
        tracking_settings({"tracking": {"secret": "x" * 20}}).links()
    conf = tracking_settings(
        {"tracking": {"secret": "x" * 20, "base_url": BASE, "callback_secret": "cb", "port": 9}}
    )
    assert (conf.secret, conf.port, conf.callback_secret) == (b"x" * 20, 9, "cb")
    assert conf.links().open_url(MID).startswith(BASE + "/o/")


def test_settings_read_and_check_the_group_commit_knobs() -> None:
    defaults = tracking_settings({"tracking": {"secret": "x" * 20}})
    assert (defaults.group_max, defaults.group_window) == (500, 0.002)
    tuned = tracking_settings(
        {"tracking": {"secret": "x" * 20, "group_max": 50, "group_window_ms": 0}}
    )
    assert (tuned.group_max, tuned.group_window) == (50, 0)
    with pytest.raises(ConfigError, match=r"\[tracking\] group_max must be an integer"):
        tracking_settings({"tracking": {"secret": "x" * 20, "group_max": 0}})
    with pytest.raises(ConfigError, match=r"\[tracking\] group_window_ms must be a number"):
        tracking_settings({"tracking": {"secret": "x" * 20, "group_window_ms": "2ms"}})
