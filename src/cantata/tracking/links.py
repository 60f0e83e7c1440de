"""Tracked links in rendered messages: the open pixel, signed click redirects, unsubscribe.

`rewrite_html` runs once per email, so it is one compiled regex over `href` attributes rather
than an HTML parser: attribute values are unescaped before signing (the redirect goes to the
URL the browser would have followed) and the signed URL, plain base64url, needs no escaping.
"""

from __future__ import annotations

import html
import re

from cantata.tracking.tokens import Kind, TokenSigner

# An href attribute, any quoting. The case-sensitive pattern has a literal prefix the regex
# engine scans for quickly; the case-insensitive one (5x slower) runs only when the HTML has
# an href spelt otherwise. `data-href` and the like are told apart in the callback.
_VALUE = r"""(\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))"""
_HREF = re.compile("href" + _VALUE)
_HREF_ANY_CASE = re.compile("href" + _VALUE, re.IGNORECASE)
_TRACKABLE = re.compile(r"\s*https?://", re.IGNORECASE)
# Bare URLs in plain text; trailing sentence punctuation is not part of them.
_TEXT_URL = re.compile(r"""https?://[^\s<>"'()\[\]{}]+""", re.IGNORECASE)
_TRAILING = ".,;:!?"


class TrackingLinks:
    """Builds the tracking URLs of one message and rewrites its parts to use them."""

    def __init__(self, base_url: str, secret: bytes) -> None:
        if not re.match(r"https?://", base_url, re.IGNORECASE):
            raise ValueError(f"the tracking base URL {base_url!r} must start with http(s)://")
        self.base_url = base_url.rstrip("/")
        self._own = self.base_url + "/"
        self._signer = TokenSigner(secret)

    def open_url(self, message_id: str) -> str:
        return f"{self.base_url}/o/{self._signer.sign(Kind.OPEN, message_id)}"

    def click_url(self, message_id: str, url: str) -> str:
        return f"{self.base_url}/c/{self._signer.sign(Kind.CLICK, message_id, url)}"

    def unsubscribe_url(self, message_id: str) -> str:
        """For the `List-Unsubscribe` header (RFC 8058 POSTs here) and the footer link."""
        return f"{self.base_url}/u/{self._signer.sign(Kind.UNSUBSCRIBE, message_id)}"

    def pixel(self, message_id: str) -> str:
        return (
            f'<img src="{self.open_url(message_id)}" width="1" height="1" alt="" '
            'style="display:block;border:0;width:1px;height:1px">'
        )

    def _tracked(self, url: str) -> bool:
        # Our own links (the unsubscribe link, an already rewritten one) stay as they are.
        return not url.startswith(self._own)

    def rewrite_html(self, html_text: str, message_id: str) -> str:
        """Every http(s) href becomes a signed click URL; the open pixel goes before </body>."""

        def sign(match: re.Match[str]) -> str:
            start = match.start()
            if start == 0 or not html_text[start - 1].isspace():
                return match.group(0)  # part of another name (data-href) or of text
            value = match.group(2)
            quote = '"'
            if value is None:
                value = match.group(3)
                quote = "'" if value is not None else '"'
                if value is None:
                    value = match.group(4)
            if not _TRACKABLE.match(value):
                return match.group(0)  # mailto:, tel:, #anchor, relative, templated...
            url = html.unescape(value).strip() if "&" in value else value.strip()
            if not self._tracked(url):
                return match.group(0)
            return f"{match.group(0)[:4]}{match.group(1)}{quote}{self.click_url(message_id, url)}{quote}"

        pattern = (
            _HREF if html_text.lower().count("href") == html_text.count("href") else _HREF_ANY_CASE
        )
        out = pattern.sub(sign, html_text)
        pixel = self.pixel(message_id)
        end = out.rfind("</body>")
        if end < 0:
            end = out.lower().rfind("</body")
        return out + pixel if end < 0 else out[:end] + pixel + out[end:]

    def rewrite_text(self, text: str, message_id: str) -> str:
        """Bare http(s) URLs of a plain-text part become signed click URLs."""

        def sign(match: re.Match[str]) -> str:
            url = match.group(0)
            cut = len(url.rstrip(_TRAILING))
            url, tail = url[:cut], url[cut:]
            if not self._tracked(url) or len(url) <= len("https://"):
                return match.group(0)
            return self.click_url(message_id, url) + tail

        return _TEXT_URL.sub(sign, text)
