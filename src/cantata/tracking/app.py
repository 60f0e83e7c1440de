"""The tracking app (ASGI): open pixel, click redirects, unsubscribe, provider callbacks and
DSN bounces, all landing in communication history through `feedback`.

Endpoints are async; they hand their events to the app's one writer (`writer.FeedbackWriter`),
which records them in groups, one transaction per group, on a thread of its own, and answer once
their event is committed. A store holds one connection (DuckDB: the app runs in the process
owning the file; PostgreSQL: each worker process opens its own store from the factory).
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from cantata.store.access import StoreAccess
from cantata.store.base import Store
from cantata.tracking.bounces import parse_dsn
from cantata.tracking.feedback import (
    Feedback,
    message_for_provider_id,
    record_delivered,
    record_event,
)
from cantata.tracking.tokens import InvalidToken, Kind, Token, TokenSigner
from cantata.tracking.writer import MAX_GROUP, WINDOW, FeedbackWriter

Clock = Callable[[], datetime]

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_CACHE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}
MAX_BODY = 10 * 1024 * 1024  # a DSN returning a large message still fits
CALLBACK_EVENTS = ("delivered", "bounced", "complained")
# Twilio-style MessageStatus → (event, bounce type); other statuses are progress reports.
TWILIO_STATUS = {
    "delivered": ("delivered", None),
    "undelivered": ("bounced", "soft"),
    "failed": ("bounced", "hard"),
}
# Twilio error codes meaning the number itself is bad: an undelivered message bounces hard.
TWILIO_BAD_NUMBER = {"21211", "21614", "30005", "30006"}


def utc_now() -> datetime:
    return datetime.now(UTC)


class BadRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CallbackEvent:
    message_id: str | None
    provider_id: str | None
    event: str
    at: datetime
    details: dict[str, Any]


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title></head><body><main><h1>{escape(title)}</h1>"
        f"{body}</main></body></html>",
        status_code=status,
        headers=NO_CACHE,
    )


def _not_found() -> HTMLResponse:
    # One answer for forged, wrong-kind and unknown links: nothing to learn from it.
    return _page("Link not valid", "<p>This link is not valid.</p>", 404)


def _form(body: bytes, content_type: str) -> dict[str, str]:
    """An url-encoded form body (the only kind the endpoints need) as its first values."""
    if "application/x-www-form-urlencoded" not in content_type and content_type:
        return {}
    text = body.decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _one_click(body: bytes, content_type: str) -> bool:
    """RFC 8058: the body says List-Unsubscribe=One-Click (url-encoded or multipart)."""
    if content_type.startswith("multipart/form-data"):
        # No multipart parser needed for one fixed field: its name and value in one part.
        return any(
            b'name="List-Unsubscribe"' in part and part.rstrip(b"\r\n-").endswith(b"One-Click")
            for part in body.split(b"--")
        )
    return _form(body, content_type).get("List-Unsubscribe") == "One-Click"


def _instant(value: Any, where: str, clock: Clock) -> datetime:
    if value is None:
        return clock()
    if not isinstance(value, str):
        raise BadRequest(f"{where}: 'at' must be an ISO-8601 string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{where}: 'at' {value!r} is not an ISO-8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def json_events(payload: Any, clock: Clock) -> list[CallbackEvent]:
    """The generic callback: {"events": [{"message_id" | "provider_id", "event", "type",
    "at"}]}; every event is checked before any is recorded."""
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise BadRequest('expected a JSON object {"events": [...]}')
    out = []
    for i, item in enumerate(payload["events"]):
        where = f"events[{i}]"
        if not isinstance(item, dict):
            raise BadRequest(f"{where}: expected an object")
        mid, pid = item.get("message_id"), item.get("provider_id")
        if not (isinstance(mid, str) and mid) and not (isinstance(pid, str) and pid):
            raise BadRequest(f"{where}: needs 'message_id' or 'provider_id' (a string)")
        event = item.get("event")
        if event not in CALLBACK_EVENTS:
            raise BadRequest(
                f"{where}: 'event' must be one of {', '.join(CALLBACK_EVENTS)}, not {event!r}"
            )
        details: dict[str, Any] = {}
        if event == "bounced":
            kind = item.get("type", "hard")  # providers report soft bounces as deferrals
            if kind not in ("hard", "soft"):
                raise BadRequest(f"{where}: 'type' must be hard or soft, not {kind!r}")
            details["type"] = kind
        for key in ("reason", "status", "diagnostic"):
            if isinstance(item.get(key), str | int):
                details[key] = item[key]
        at = _instant(item.get("at"), where, clock)
        out.append(CallbackEvent(mid if isinstance(mid, str) else None, pid, event, at, details))
    return out


def twilio_event(form: dict[str, str], clock: Clock) -> CallbackEvent | None:
    """A Twilio-style status callback; None for statuses that are not feedback (sent, queued)."""
    sid = form.get("MessageSid") or form.get("SmsSid")
    if not sid:
        raise BadRequest("expected a form with MessageSid and MessageStatus")
    mapped = TWILIO_STATUS.get(form.get("MessageStatus", "").lower())
    if mapped is None:
        return None
    event, kind = mapped
    details: dict[str, Any] = {}
    code = form.get("ErrorCode")
    if kind is not None:
        details["type"] = "hard" if code in TWILIO_BAD_NUMBER else kind
    if code:
        details["status"] = code
    return CallbackEvent(None, sid, event, clock(), details)


def _record_callbacks(store: Store, events: list[CallbackEvent], provider: str) -> dict[str, Any]:
    """A provider's batch of events in one transaction (a commit per event would make a
    large callback slow); the provider retries the whole batch if it fails. The writer runs it
    as one unit of a group."""
    with store.transaction():
        return _record_each(store, events, provider)


def _record_each(store: Store, events: list[CallbackEvent], provider: str) -> dict[str, Any]:
    recorded = 0
    unknown: list[str | None] = []
    reports = [e for e in events if e.event == "delivered" and e.message_id]
    delivered: dict[str, tuple[datetime, dict[str, Any]]] = {}
    for e in reports:  # a provider's retry repeats an event: the first one counts
        assert e.message_id is not None
        delivered.setdefault(e.message_id, (e.at, {**e.details, "provider": provider}))
    known = record_delivered(store, delivered)
    for e in reports:
        if e.message_id in known:
            recorded += 1
        else:
            unknown.append(e.message_id)
    for e in events:
        if e.event == "delivered" and e.message_id:
            continue
        mid = e.message_id or message_for_provider_id(store, e.provider_id or "")
        details = {**e.details, "provider": provider}
        if mid is not None and record_event(store, mid, e.event, at=e.at, details=details):
            recorded += 1
        else:
            unknown.append(e.message_id or e.provider_id)
    return {"recorded": recorded, "unknown": unknown}


def tracking_app(
    store: Store | Callable[[], Store],
    secret: bytes,
    *,
    callback_secret: str | None = None,
    clock: Clock = utc_now,
    group_max: int = MAX_GROUP,
    group_window: float = WINDOW,
) -> Starlette:
    """The tracking app over `store` (or a factory opening this process's store). Events are
    committed in groups of up to `group_max`, each event waiting at most `group_window`
    seconds for others to join it; the writer is `app.state.feedback_writer`."""
    signer = TokenSigner(secret)
    access = StoreAccess(store)
    writer = FeedbackWriter(access, max_group=group_max, window=group_window)

    def verified(request: Request, kind: Kind) -> Token | None:
        try:
            return signer.verify(request.path_params["token"], kind)
        except InvalidToken:
            return None

    async def record(message_id: str, event: str, details: dict[str, Any] | None = None) -> bool:
        return await writer.record(Feedback(message_id, event, clock(), details))

    async def opened(request: Request) -> Response:
        token = verified(request, Kind.OPEN)
        if token is None:
            return _not_found()
        await record(token.message_id, "opened")
        return Response(PIXEL, media_type="image/gif", headers=NO_CACHE)

    async def clicked(request: Request) -> Response:
        token = verified(request, Kind.CLICK)
        # Signed tokens only carry http(s) URLs from rewrite_*; refuse anything else anyway.
        if (
            token is None
            or token.url is None
            or not token.url.lower().startswith(("http://", "https://"))
        ):
            return _not_found()
        await record(token.message_id, "clicked", {"url": token.url})
        # A link of a message since purged from the ledger still works; it is just not counted.
        return RedirectResponse(token.url, status_code=302, headers=NO_CACHE)

    async def unsubscribe_page(request: Request) -> Response:
        # GET never unsubscribes: mail scanners follow every link.
        if verified(request, Kind.UNSUBSCRIBE) is None:
            return _not_found()
        return _page(
            "Unsubscribe",
            "<p>Stop receiving these messages?</p>"
            '<form method="post"><input type="hidden" name="List-Unsubscribe" '
            'value="One-Click"><button type="submit">Unsubscribe</button></form>',
        )

    async def unsubscribe(request: Request) -> Response:
        token = verified(request, Kind.UNSUBSCRIBE)
        if token is None:
            return _not_found()
        body = await request.body()
        if not _one_click(body, request.headers.get("content-type", "")):
            return _page(
                "Unsubscribe",
                "<p>Expected the form field List-Unsubscribe=One-Click.</p>",
                400,
            )
        if not await record(token.message_id, "unsubscribed"):
            return _not_found()
        return _page("Unsubscribed", "<p>You will not receive these messages any more.</p>")

    def authorized(request: Request) -> bool:
        if callback_secret is None:
            return False
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else None
        given = given or request.query_params.get("key") or ""
        return hmac.compare_digest(given.encode(), callback_secret.encode())

    def refused() -> JSONResponse:
        reason = "callbacks are not configured" if callback_secret is None else "unauthorized"
        return JSONResponse({"error": reason}, status_code=401)

    async def callback(request: Request) -> Response:
        if not authorized(request):
            return refused()
        provider = request.path_params["provider"]
        body = await request.body()
        content_type = request.headers.get("content-type", "")
        try:
            if "json" in content_type:
                try:
                    payload = json.loads(body)
                except ValueError:
                    raise BadRequest("the body is not valid JSON") from None
                events = json_events(payload, clock)
            else:
                one = twilio_event(_form(body, content_type), clock)
                events = [] if one is None else [one]
        except BadRequest as exc:
            return JSONResponse({"error": exc.message}, status_code=400)
        result = await writer.run(lambda s: _record_callbacks(s, events, provider))
        return JSONResponse(result)

    async def bounces(request: Request) -> Response:
        if not authorized(request):
            return refused()
        found = parse_dsn(await request.body())
        failed = [b for b in found if b.action == "failed"]  # a delay is not a bounce yet
        at = clock()

        def store_them(store: Store) -> dict[str, Any]:
            recorded, unmatched = 0, []
            for b in failed:
                details = {"type": b.kind, "status": b.status, "recipient": b.recipient}
                if b.diagnostic:
                    details["diagnostic"] = b.diagnostic
                ok = b.message_id is not None and record_event(
                    store, b.message_id, "bounced", at=at, details=details
                )
                recorded += ok
                if not ok:
                    unmatched.append(b.recipient)
            return {"bounces": len(failed), "recorded": recorded, "unmatched": unmatched}

        return JSONResponse(await writer.run(store_them))

    async def health(request: Request) -> Response:
        return Response("ok", media_type="text/plain")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        access.close()

    app = Starlette(
        routes=[
            Route("/o/{token}", opened, methods=["GET"]),
            Route("/c/{token}", clicked, methods=["GET"]),
            Route("/u/{token}", unsubscribe_page, methods=["GET"]),
            Route("/u/{token}", unsubscribe, methods=["POST"]),
            Route("/callbacks/{provider}", callback, methods=["POST"]),
            Route("/bounces", bounces, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
        max_body_size=MAX_BODY,
    )
    app.state.feedback_writer = writer
    return app


_KEY_IN_QUERY = re.compile(r"([?&]key=)[^&\s]*")


class CallbackKeyRedaction(logging.Filter):
    """Blanks the callback secret a provider passes as `?key=` (when it cannot send a header)
    out of the access log: a log is read by more people than the secret should be."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _KEY_IN_QUERY.sub(r"\1…", a) if isinstance(a, str) else a for a in record.args
            )
        return True


def redact_callback_keys() -> None:
    """Install the redaction on uvicorn's access log (the tracking app's server)."""
    logging.getLogger("uvicorn.access").addFilter(CallbackKeyRedaction())
