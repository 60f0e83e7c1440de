"""Channel activities: email, SMS, push, direct mail and webhook. Here they validate (the
Delivery engine sends); in test mode they end the flow.

A channel sends to recipients: its inbound transition carries rows of the recipient entity,
or — with `per: <entity>` — rows of another entity linked to the recipient by a to-one path
(one message per booking, to the booking's customer).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import ClassVar, Literal

from pydantic import Field

from cantata.canvas.activities.base import (
    ActivityType,
    Check,
    Flow,
    Inbound,
    Mark,
    Population,
    Scope,
    Settings,
    population,
)
from cantata.canvas.schema import LocalTime, Strict, Weekday
from cantata.errors import did_you_mean
from cantata.model import Model


class SendWindow(Strict):
    """Messages go out between `start` and `end` (campaign time zone), on `days` if given;
    outside it they wait for the next opening."""

    start: LocalTime
    end: LocalTime
    days: list[Weekday] | None = Field(default=None, min_length=1)


class Channel(Settings):
    # The inline content fields of the channel, and the ones inline content needs.
    inline: ClassVar[tuple[str, ...]] = ()
    inline_required: ClassVar[tuple[str, ...]] = ()
    address: ClassVar[str | None] = None  # the model's address channel for the recipient

    category: Literal["marketing", "transactional"] = "marketing"
    template: str | None = None
    per: str | None = None
    recipient_path: str | None = None
    throttle_per_second: int | None = Field(default=None, ge=1)
    send_window: SendWindow | None = None
    require_confirmation: bool = False


class Email(Channel):
    inline: ClassVar[tuple[str, ...]] = ("subject", "body", "text")
    inline_required: ClassVar[tuple[str, ...]] = ("subject", "body")
    address: ClassVar[str | None] = "email"

    subject: str | None = None
    body: str | None = None  # HTML
    text: str | None = None  # plain-text part; derived from the HTML when absent
    sender: str | None = None
    reply_to: str | None = None


class Sms(Channel):
    inline: ClassVar[tuple[str, ...]] = ("body",)
    inline_required: ClassVar[tuple[str, ...]] = ("body",)
    address: ClassVar[str | None] = "sms"

    body: str | None = None


class Push(Channel):
    inline: ClassVar[tuple[str, ...]] = ("title", "body", "deep_link")
    inline_required: ClassVar[tuple[str, ...]] = ("body",)
    address: ClassVar[str | None] = "push"

    title: str | None = None
    body: str | None = None
    deep_link: str | None = None


class DirectMail(Channel):
    """A file for the print provider: the postal address plus `columns` (paths or carried
    columns); `template` names the provider's letter template."""

    address: ClassVar[str | None] = "mail"

    columns: list[str] = Field(default_factory=list)
    file_format: Literal["csv", "jsonl"] = "csv"


class Webhook(Channel):
    """One HTTP request per message; `body` is a template (default: the row as JSON)."""

    inline: ClassVar[tuple[str, ...]] = ("body",)

    url: str
    method: Literal["POST", "PUT"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None


def _check_channel(kind: str) -> Check:
    def check(scope: Scope, s: Channel, inbounds: Sequence[Inbound]) -> Mapping[str, Flow]:
        pop = population(inbounds)
        _content(scope, s, kind, pop)
        if pop is not None:
            _audience(scope, s, kind, pop)
        return {"out": pop if pop is not None else Mark.UNKNOWN}

    return check


def _content(scope: Scope, s: Channel, kind: str, pop: Population | None) -> None:
    given = [f for f in s.inline if getattr(s, f) is not None]
    if s.template is not None and not isinstance(s, DirectMail):
        if given:
            scope.problem((given[0],), "give either a template or inline content, not both")
        saved = scope.template(("template",), s.template)
        if saved is not None and saved.channel != kind:
            scope.problem(("template",), f"{saved.label} is a {saved.channel} template, not {kind}")
        elif saved is not None:
            for part, text in saved.parts.items():
                html = kind == "email" and part == "body"
                label = f"{saved.label}, {part}"
                scope.message_template(("template",), text, html=html, flow=pop, label=label)
    elif s.template is None and s.inline_required:
        for f in s.inline_required:
            if getattr(s, f) is None:
                scope.problem(
                    (f,),
                    f"missing {f!r}: {kind} needs a template or inline {', '.join(s.inline_required)}",
                )
    # Each part compiles and renders against sample rows of what flows in; an email's body
    # is the HTML part (autoescaped).
    for f in given:
        html = isinstance(s, Email) and f == "body"
        scope.message_template((f,), str(getattr(s, f)), html=html, flow=pop)
    if isinstance(s, Webhook):
        scope.message_template(("url",), s.url, html=False, flow=pop)
        if not s.url.startswith(("https://", "http://")):
            scope.problem(("url",), f"{s.url!r} is not an http(s) URL")
    if s.send_window is not None and s.send_window.start == s.send_window.end:
        scope.problem(("send_window",), "the send window is empty: start and end are equal")


def _audience(scope: Scope, s: Channel, kind: str, pop: Population) -> None:
    model = scope.model
    recipient = model.recipient.name
    if pop.entity == recipient:
        if s.per is not None and s.per != recipient:
            scope.problem(
                ("per",),
                f"per: {s.per!r}, but {recipient!r} rows (the recipients) flow here; "
                "remove 'per' to send one message per recipient",
            )
    elif s.per is None:
        scope.problem(
            (),
            f"{kind} sends to recipients ({recipient!r}) but {pop.entity!r} rows flow here: "
            f"change the dimension to {recipient!r} first, or send one message per "
            f"{pop.entity} with per: {pop.entity}",
        )
    elif s.per != pop.entity:
        scope.problem(
            ("per",),
            f"per: {s.per!r}, but {pop.entity!r} rows flow here; per names the entity flowing in",
        )
    else:
        _recipient_path(scope, s, pop.entity)
    if s.recipient_path is not None and s.per is None:
        scope.problem(("recipient_path",), "recipient_path goes with per")
    if s.address is not None and s.address not in model.recipient.addresses():
        scope.problem(
            (),
            f"{recipient!r} has no {s.address} address field: mark one in the model with "
            f"address: {s.address}",
        )
    if isinstance(s, DirectMail):
        for i, name in enumerate(s.columns):
            scope.value(("columns", i), name, pop)


def _recipient_path(scope: Scope, s: Channel, entity: str) -> None:
    model, recipient = scope.model, scope.model.recipient.name
    if s.recipient_path is not None:
        current = entity
        for part in s.recipient_path.split("."):
            to_one = model.to_one(current)
            if part not in to_one:
                scope.problem(
                    ("recipient_path",),
                    f"{current!r} has no to-one link {part!r}{did_you_mean(part, to_one)}",
                )
                return
            current = to_one[part].target
        if current != recipient:
            scope.problem(
                ("recipient_path",), f"{s.recipient_path!r} leads to {current!r}, not {recipient!r}"
            )
        return
    paths = recipient_paths(model, entity)
    if not paths:
        scope.problem(
            ("per",),
            f"no to-one path leads from {entity!r} to the recipients ({recipient!r}); "
            "one message per row needs each row to belong to one recipient",
        )
    elif len(paths) > 1:
        shown = " or ".join(repr(p) for p in paths)
        scope.problem(
            ("recipient_path",),
            f"several paths lead from {entity!r} to {recipient!r} ({shown}): choose one with "
            "recipient_path",
        )


def recipient_paths(model: Model, entity: str) -> list[str]:
    """The shortest to-one paths from `entity` to the recipient entity (`customer`,
    `booking.customer`...); several when they tie."""
    target = model.recipient.name
    found: list[str] = []
    queue: deque[tuple[str, tuple[str, ...]]] = deque([(entity, ())])
    seen = {entity}
    while queue and not found:
        level: list[tuple[str, tuple[str, ...]]] = []
        for _ in range(len(queue)):
            current, path = queue.popleft()
            for name, relation in model.to_one(current).items():
                step = (*path, name)
                if relation.target == target:
                    found.append(".".join(step))
                elif relation.target not in seen:
                    level.append((relation.target, step))
        for item in level:
            seen.add(item[0])
            queue.append(item)
    return sorted(found)


TYPES = tuple(
    ActivityType(
        kind,
        "channel",
        settings,
        summary,
        _check_channel(kind),
    )
    for kind, settings, summary in (
        ("email", Email, "an email per recipient (or per row)"),
        ("sms", Sms, "an SMS per recipient (or per row)"),
        ("push", Push, "a push notification per recipient (or per row)"),
        ("direct_mail", DirectMail, "a file of postal addresses for the print provider"),
        ("webhook", Webhook, "an HTTP request per recipient (or per row)"),
    )
)
