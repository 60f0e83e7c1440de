"""The demo's campaign, end to end on a fast-forwarded clock: publish and start
`pre_arrival_journey`, send through a real local SMTP server (aiosmtpd) and a local SMS
endpoint, have recipients open, click, unsubscribe and bounce through the tracking app, wait
two days, remind the non-openers, and report.

Recipients' behaviour is drawn from each message id (a hash), so a demo run is repeatable.
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from cantata.canvas import lifecycle, parse_campaign
from cantata.canvas.runtime import Runner
from cantata.delivery.dispatcher import next_due
from cantata.delivery.email_message import generate_dkim_key
from cantata.delivery.engine import DeliveryEngine
from cantata.delivery.report import CampaignReport, campaign_report
from cantata.peers.process import PeerProcess
from cantata.store.base import Store
from cantata.tracking.app import tracking_app
from cantata.workspace import Workspace

CAMPAIGN = "pre_arrival_journey"
TRACKING_URL = "http://127.0.0.1:8025"
SECRET = "demo-tracking-secret-not-for-production"
CALLBACK_SECRET = "demo-callback-secret"
# Shares of the recipients of an email who do each thing (drawn per message).
BOUNCE, OPEN, CLICK, UNSUBSCRIBE = 0.03, 0.45, 0.35, 0.04  # click/unsubscribe: of openers


def campaign_text() -> str:
    return resources.files("cantata.demo").joinpath(f"{CAMPAIGN}.yaml").read_text("utf-8")


class DemoClock:
    """The fast-forwarded clock: sleeping moves it, nothing waits."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Step:
    at: datetime
    text: str


@dataclass
class JourneyResult:
    report: CampaignReport
    steps: list[Step] = field(default_factory=list)
    emails: int = 0
    sms: int = 0


def settings(smtp_port: int, sms_url: str, key_file: Path) -> dict[str, Any]:
    """The demo's delivery configuration: what a user writes in cantata.toml."""
    return {
        "channels": {
            "email": {
                "provider": "smtp",
                "host": "127.0.0.1",
                "port": smtp_port,
                "sender": "Cantata Travel <hello@travel.example>",
                "connections": 4,
                "dkim": {
                    "selector": "demo",
                    "domain": "travel.example",
                    "private_key_file": str(key_file),
                },
            },
            "sms": {"provider": "http_json", "url": f"{sms_url}/sms", "from": "CANTATA"},
        },
        "rules": {
            "quiet_hours": {"start": "21:00", "end": "08:00"},
            "caps": [{"channel": "*", "max": 4, "per": "week"}],
        },
        "tracking": {
            "base_url": TRACKING_URL,
            "secret": SECRET,
            "callback_secret": CALLBACK_SECRET,
        },
    }


def run_journey(
    ws: Workspace, start: datetime, say: Callable[[Step], None] = lambda s: None
) -> JourneyResult:
    return asyncio.run(_journey(ws, start, say))


async def _journey(ws: Workspace, start: datetime, say: Callable[[Step], None]) -> JourneyResult:
    clock = DemoClock(start)
    result = JourneyResult(campaign_report(ws.store, CAMPAIGN))

    def step(text: str) -> None:
        result.steps.append(Step(clock.now, text))
        say(result.steps[-1])

    key, _record = generate_dkim_key("demo", "travel.example", bits=1024)
    key_file = ws.root / "dkim-demo.pem"
    key_file.write_bytes(key.private_key_pem)
    spool = ws.root / "outbox"  # every email the local SMTP server received, one .eml each
    shutil.rmtree(spool, ignore_errors=True)
    # The servers run as their own processes: they must not share the sender's GIL.
    with (
        PeerProcess("cantata.peers.smtp_sink", "--spool", str(spool)) as smtp,
        PeerProcess("cantata.peers.http_sink") as sms,
    ):
        raw = settings(smtp.port, sms.address, key_file)
        inbox = Inbox(spool)
        runner = Runner(ws.store, ws.model)
        engine = DeliveryEngine(
            ws.store,
            ws.model,
            raw,
            runner=runner,
            clock=clock,
            sleep=clock.sleep,
            owner="demo",
            root=ws.root,
        )
        app = tracking_app(ws.store, SECRET.encode(), callback_secret=CALLBACK_SECRET, clock=clock)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=TRACKING_URL) as web:
            lifecycle.publish(ws.store, ws.model, parse_campaign(campaign_text()), now=clock.now)
            run = runner.start(CAMPAIGN, now=clock.now)
            step(f"started run {run.id} of {CAMPAIGN}")
            stats = await engine.round()
            step(f"sent {stats.sent:,}; {stats.deferred:,} wait for the recipient's morning")
            await _react(web, inbox, clock)
            await _sms_delivered(web, ws.store)
            sent = await send_deferred(engine, clock, start + timedelta(days=2))
            step(f"sent the deferred messages as mornings came: {sent:,}")
            await _react(web, inbox, clock)
            await _sms_delivered(web, ws.store)
            clock.now = start + timedelta(days=2, minutes=1)
            runner.resume_due_waits(now=clock.now)
            stats = await engine.round()
            sent = stats.sent + await send_deferred(engine, clock, start + timedelta(days=3))
            step(f"two days later: reminded {sent:,} who had not opened the welcome")
            await _react(web, inbox, clock)
        await engine.close()
    result.emails = inbox.count
    result.sms = sms.counts.get("requests", 0)
    result.report = campaign_report(ws.store, CAMPAIGN)
    return result


async def send_deferred(engine: DeliveryEngine, clock: DemoClock, until: datetime) -> int:
    """Send what quiet hours and send windows deferred: jump the clock from one due time to
    the next (each recipient's morning comes in their own time zone)."""
    sent = 0
    while (due := next_due(engine.store)) is not None and due < until:
        clock.now = max(clock.now, due)
        sent += (await engine.round()).sent
    return sent


def _draw(message_id: str, what: str) -> float:
    """A repeatable number in [0, 1) per message and behaviour."""
    digest = hashlib.sha256(f"{message_id}/{what}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class Inbox:
    """The emails the local SMTP server wrote to its spool, read as they arrive."""

    def __init__(self, spool: Path) -> None:
        self.spool = spool
        self.count = 0

    def fresh(self) -> list[bytes]:
        names = sorted(p.name for p in self.spool.glob("*.eml"))
        new, self.count = names[self.count :], len(names)
        return [(self.spool / name).read_bytes() for name in new]


_HEADER = re.compile(rb"^(Message-ID|X-Cantata-Message-Id|To|List-Unsubscribe): (.*?)\r?$", re.M)
_PIXEL = re.compile(rb'src="https?://[^"/]+(/o/[A-Za-z0-9_-]+)"')
_CLICK = re.compile(rb'href="https?://[^"/]+(/c/[A-Za-z0-9_-]+)"')


async def _react(web: httpx.AsyncClient, inbox: Inbox, clock: DemoClock) -> None:
    """Recipients of the emails received since the last call act on them over the next
    hours: delivery reports, bounces (as DSNs), opens, clicks, one-click unsubscribes."""
    auth = {"Authorization": f"Bearer {CALLBACK_SECRET}"}
    delivered: list[dict[str, str]] = []
    for raw in inbox.fresh():
        head, _, body = raw.partition(b"\r\n\r\n")
        headers = {m.group(1).decode(): m.group(2).decode() for m in _HEADER.finditer(head)}
        mid = headers["X-Cantata-Message-Id"]
        clock.now += timedelta(seconds=1)  # spread the reactions over the hours that follow
        if _draw(mid, "bounce") < BOUNCE:
            await web.post("/bounces", content=_dsn(headers), headers=auth)
            continue
        delivered.append({"message_id": mid, "event": "delivered"})
        if len(delivered) == 500:
            await web.post("/callbacks/smtp", json={"events": delivered}, headers=auth)
            delivered = []
        if _draw(mid, "open") >= OPEN:
            continue
        html = binascii.a2b_qp(body)  # the parts are quoted-printable
        pixel = _PIXEL.search(html)
        if pixel:
            await web.get(pixel.group(1).decode())
        click = _CLICK.search(html)
        if click and _draw(mid, "click") < CLICK:
            await web.get(click.group(1).decode())
        unsubscribe = headers.get("List-Unsubscribe", "").strip("<>")
        if unsubscribe and _draw(mid, "unsubscribe") < UNSUBSCRIBE:
            await web.post(
                urlsplit(unsubscribe).path,
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
    if delivered:
        await web.post("/callbacks/smtp", json={"events": delivered}, headers=auth)


async def _sms_delivered(web: httpx.AsyncClient, store: Store) -> None:
    """The SMS gateway reports delivery of what it accepted."""
    sent = store.fetchall(
        "SELECT message_id FROM cantata_delivery WHERE channel = 'sms' AND status = 'sent' "
        "AND feedback IS NULL"
    )
    events = [{"message_id": str(m), "event": "delivered"} for (m,) in sent]
    auth = {"Authorization": f"Bearer {CALLBACK_SECRET}"}
    await web.post("/callbacks/sms", json={"events": events}, headers=auth)


def _dsn(original: dict[str, str]) -> bytes:
    """What the recipient's mail server sends back for a mailbox that does not exist: an
    RFC 3464 report with the original message's headers."""
    recipient = original["To"]
    returned = "".join(
        f"{name}: {original[name]}\r\n" for name in ("Message-ID", "X-Cantata-Message-Id", "To")
    )
    boundary = "dsn-boundary"
    text = (
        "From: MAILER-DAEMON@mx.example\r\nTo: bounces@travel.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"'
        f"\r\n\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\n"
        f"The mail system could not deliver your message to <{recipient}>.\r\n"
        f"\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        f"\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{returned}"
        f"\r\n--{boundary}--\r\n"
    )
    return text.encode("utf-8")
