"""The plain-text part derived from an email's HTML when the campaign gives none."""

from __future__ import annotations

from cantata.delivery.content import html_to_text


def test_blocks_become_lines_and_tags_go() -> None:
    html = "<h1>Hello&nbsp;Ana</h1>\n<p>Your   stay<br>starts <b>soon</b>.</p><ul><li>one</li><li>two</li></ul>"
    assert html_to_text(html) == "Hello\xa0Ana\nYour stay\nstarts soon.\none\ntwo"


def test_links_keep_their_address() -> None:
    html = (
        '<p><a href="https://travel.example/b?id=1&amp;x=2">Manage</a> or '
        "<A HREF='mailto:help@travel.example'>write to us</A></p>"
    )
    assert html_to_text(html) == (
        "Manage (https://travel.example/b?id=1&x=2) or write to us (mailto:help@travel.example)"
    )
