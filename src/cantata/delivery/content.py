"""A channel activity's message content: which template parts it has, how they render into a
`Message`, with tracked links and the unsubscribe headers for email."""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Mapping
from typing import Any, Protocol

from cantata.delivery.context import RenderContext
from cantata.delivery.message import Message
from cantata.delivery.personalize import CompiledMessage, compile_parts
from cantata.errors import CantataError

# The template settings of each channel (an email's `body` is its HTML part, autoescaped).
PARTS: dict[str, tuple[str, ...]] = {
    "email": ("subject", "body", "text"),
    "sms": ("body",),
    "push": ("title", "body", "deep_link"),
    "webhook": ("url", "body"),
    "direct_mail": (),
}


class Links(Protocol):
    def rewrite_html(self, html: str, message_id: str) -> str: ...

    def rewrite_text(self, text: str, message_id: str) -> str: ...

    def unsubscribe_url(self, message_id: str) -> str: ...


class Composer:
    """Renders one channel activity's messages (compiled once)."""

    def __init__(
        self,
        channel: str,
        settings: Mapping[str, Any],
        variables: Mapping[str, Any],
        *,
        where: str,
        links: Links | None = None,
        mail_fields: tuple[str, ...] = (),
    ) -> None:
        if (
            settings.get("template") is not None
            and PARTS[channel]
            and not settings.get("template_version")
        ):
            raise CantataError(
                f"template {settings['template']!r} is not resolved: pass the settings through "
                "template_library.with_template",
                where=where,
            )
        self.channel = channel
        self.settings = settings
        self.variables = dict(variables)
        self.links = links
        self.mail_fields = mail_fields  # the recipient's postal address fields
        parts = {name: str(settings[name]) for name in PARTS[channel] if settings.get(name)}
        html = ("body",) if channel == "email" else ()
        self.compiled: CompiledMessage = compile_parts(parts, html_parts=html, where=where)
        self.columns: list[str] = list(settings.get("columns") or [])

    def message(
        self,
        message_id: str,
        recipient: str,
        address: str,
        context: RenderContext,
        *,
        run: int,
        activity: str,
    ) -> Message:
        unsubscribe = self.links.unsubscribe_url(message_id) if self.links else None
        values = {
            "recipient": context.recipient,
            "target": context.target,
            "row": context.target,
            "vars": self.variables,
            "unsubscribe_url": unsubscribe or "",
        }
        content = dict(self.compiled.render(values)) if self.compiled.parts else {}
        headers: dict[str, str] = {}
        data: dict[str, Any] = {}
        if self.channel == "email":
            html = content.pop("body", None)
            if html is not None:
                content["html"] = html
            if "text" not in content and html is not None:
                content["text"] = html_to_text(html)
            if self.links is not None:
                if html is not None:
                    content["html"] = self.links.rewrite_html(html, message_id)
                content["text"] = self.links.rewrite_text(content["text"], message_id)
            if unsubscribe and self.settings.get("category") == "marketing":
                # One-click unsubscribe (RFC 8058) is for marketing: transactional mail
                # (a booking's details) is not something one unsubscribes from.
                headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        elif self.channel == "direct_mail":
            data = {f: _plain(context.recipient.get(f)) for f in self.mail_fields}
            data.update({c: _plain(context.target.get(c)) for c in self.columns})
        elif self.channel == "webhook":
            data = {"recipient": _jsonable(context.recipient), "target": _jsonable(context.target)}
            if "body" not in content:
                content["body"] = json.dumps(data, default=str)
        return Message(
            message_id=message_id,
            channel=self.channel,
            address=address,
            recipient=recipient,
            content=content,
            headers=headers,
            sender=self.settings.get("sender"),
            reply_to=self.settings.get("reply_to"),
            data=data,
            run=run,
            activity=activity,
        )


_TAG = re.compile(r"<[^>]+>")
_LINK = re.compile(r"""<a\s[^>]*?href\s*=\s*["']([^"']+)["'][^>]*>(.*?)</a\s*>""", re.I | re.S)
_BREAK = re.compile(r"<\s*(br|/p|/div|/h[1-6]|/li|/tr)\b[^>]*>", re.I)
_BLANKS = re.compile(r"[ \t]+")


def html_to_text(html: str) -> str:
    """A plain-text part from the HTML one: block ends become line breaks, links keep their
    address after their text, tags go."""
    html = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", html)
    text = _TAG.sub("", _BREAK.sub("\n", html))
    lines = (_BLANKS.sub(" ", line).strip() for line in html_lib.unescape(text).splitlines())
    return "\n".join(line for line in lines if line)


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = json.loads(json.dumps(dict(row), default=str))
    return plain
