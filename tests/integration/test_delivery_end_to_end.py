"""End to end on every engine: the demo's campaign (examples/pre_arrival_journey.yaml) on a
generated travel company sends real SMTP to aiosmtpd and SMS to a local HTTP endpoint. Every
received email is checked against the ledger and the data — envelope and headers, DKIM,
personalization for its recipient and booking — and the unsubscribe links of the marketing
ones, followed through the tracking app, update consent."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dkim
import httpx
import pytest

from cantata.canvas import lifecycle, parse_campaign
from cantata.canvas.runtime import Runner
from cantata.delivery.email_message import generate_dkim_key
from cantata.delivery.engine import DeliveryEngine
from cantata.demo.journey import (
    CALLBACK_SECRET,
    CAMPAIGN,
    SECRET,
    TRACKING_URL,
    DemoClock,
    campaign_text,
    send_deferred,
    settings,
)
from cantata.generate.travel import generate_travel
from cantata.ingest import ingest_file
from cantata.peers.http_sink import HttpSink
from cantata.peers.smtp_sink import ReceivedMessage, SmtpSink
from cantata.profile.consent import import_consent
from cantata.store import Store
from cantata.store.schema import apply_model
from cantata.tracking.app import tracking_app
from tests.integration.delivery_fixtures import MODEL

START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def company(store: Store, tmp_path: Path) -> Store:
    apply_model(store, MODEL)
    files = generate_travel(tmp_path / "data", customers=600, seed=11, today=START.date())
    for entity in ("customer", "hotel", "booking"):
        ingest_file(store, MODEL, entity, getattr(files, entity), quarantine_dir=tmp_path)
    import_consent(store, files.consent, now=START)
    return store


def send(store: Store, tmp_path: Path, smtp: SmtpSink, sms: HttpSink) -> tuple[str, int]:
    """Publish and start the campaign, send everything due on the first two days; return
    the DKIM public record and the run."""
    key, record = generate_dkim_key("demo", "travel.example", bits=1024)
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(key.private_key_pem)
    clock = DemoClock(START)

    async def go() -> int:
        runner = Runner(store, MODEL)
        raw = settings(smtp.port, sms.url, key_file)
        engine = DeliveryEngine(store, MODEL, raw, runner=runner, clock=clock, sleep=clock.sleep)
        lifecycle.publish(store, MODEL, parse_campaign(campaign_text()), now=START)
        run = runner.start(CAMPAIGN, now=START)
        await engine.round()
        await send_deferred(engine, clock, START + timedelta(days=2))
        await engine.close()
        return run.id

    return record, asyncio.run(go())


def ledger_rows(store: Store) -> dict[str, dict[str, Any]]:
    rows = store.fetchall(
        "SELECT message_id, activity, recipient, secondary_key, address, status "
        "FROM cantata_delivery"
    )
    keys = ("activity", "recipient", "secondary_key", "address", "status")
    return {str(r[0]): dict(zip(keys, r[1:], strict=True)) for r in rows}


def test_the_campaign_end_to_end(company: Store, tmp_path: Path) -> None:
    store = company
    with SmtpSink() as smtp, HttpSink() as sms:
        record, run = send(store, tmp_path, smtp, sms)
        received = list(smtp.messages)
        texts = list(sms.requests)
    ledger = ledger_rows(store)
    sent = {m: r for m, r in ledger.items() if r["status"] == "sent"}
    emails = {m: r for m, r in sent.items() if r["activity"] != "welcome_sms"}
    assert len(received) == len(emails) > 20  # each sent email arrived, once
    assert len(texts) == len(sent) - len(emails) > 5
    customers = {
        str(r[0]): r[1:]
        for r in store.fetchall("SELECT customer_id, email, first_name, tier FROM customer")
    }
    bookings = {
        str(r[0]): r[1:]
        for r in store.fetchall(
            "SELECT b.booking_id, b.customer_id, h.name, h.city, b.nights FROM booking b "
            "JOIN hotel h ON h.hotel_id = b.hotel_id"
        )
    }
    unsubscribe_links: dict[str, str] = {}
    seen: set[str] = set()
    for got in received:
        message = check_email(got, record, ledger, customers, bookings)
        mid = str(message["X-Cantata-Message-Id"])
        assert mid not in seen
        seen.add(mid)
        if ledger[mid]["activity"] == "welcome_email":
            unsubscribe_links[mid] = str(message["List-Unsubscribe"]).strip("<>")
    assert seen == set(emails)
    for request in texts:
        check_sms(request.body, ledger, customers)

    # Every marketing email's one-click unsubscribe, through the tracking app.
    assert unsubscribe_links
    chosen = sorted(unsubscribe_links)
    app = tracking_app(store, SECRET.encode(), callback_secret=CALLBACK_SECRET)

    async def unsubscribe() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=TRACKING_URL) as web:
            return [
                (
                    await web.post(
                        urlsplit(unsubscribe_links[mid]).path,
                        content=b"List-Unsubscribe=One-Click",
                        headers={"Content-Type": "application/x-www-form-urlencoded"},
                    )
                ).status_code
                for mid in chosen
            ]

    assert asyncio.run(unsubscribe()) == [200] * len(chosen)
    for mid in chosen:
        recipient = ledger[mid]["recipient"]
        assert (
            store.scalar(
                "SELECT status FROM cantata_consent WHERE recipient = %s AND channel = 'email' "
                "AND purpose = 'marketing'",
                [recipient],
            )
            == "denied"
        )
        assert (
            store.scalar(
                "SELECT count(*) FROM cantata_history WHERE message_id = %s AND event = 'unsubscribed'",
                [mid],
            )
            == 1
        )
    assert run > 0


def check_email(
    got: ReceivedMessage,
    record: str,
    ledger: dict[str, dict[str, Any]],
    customers: dict[str, tuple[Any, ...]],
    bookings: dict[str, tuple[Any, ...]],
) -> EmailMessage:
    message = email.message_from_bytes(got.data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    mid = str(message["X-Cantata-Message-Id"])
    row = ledger[mid]
    address, first_name, tier = customers[row["recipient"]]
    assert row["status"] == "sent"
    assert got.rcpt_tos == (address,) == (row["address"],)
    assert message["To"] == address
    assert message["Message-ID"] == f"<{mid}@travel.example>"
    assert dkim.verify(got.data, dnsfunc=lambda name, timeout=5: record.encode())
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    assert html is not None and text is not None
    body = html.get_content()
    if row["activity"] == "booking_email":
        customer, hotel, city, nights = bookings[row["secondary_key"]]
        assert str(customer) == row["recipient"]  # the booking's own customer
        assert message["Subject"].startswith(f"Your stay at {hotel} on ")
        assert f"#{row['secondary_key']}</b>: {nights} night" in body
        assert f"Hello {first_name}," in body
        assert city in body
        assert message["List-Unsubscribe"] is None  # transactional
    else:
        assert row["activity"] == "welcome_email"
        assert message["Subject"] == f"{first_name}, your trip is almost here"
        assert f"As a {tier} member" in body
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["List-Unsubscribe"].startswith(f"<{TRACKING_URL}/u/")
    # Links are tracked: every http link goes through the tracking app, plus the pixel.
    links = re.findall(r'href="([^"]+)"', body)
    assert links and all(link.startswith(f"{TRACKING_URL}/") for link in links)
    assert f'src="{TRACKING_URL}/o/' in body
    return message


def check_sms(body: bytes, ledger: dict[str, dict[str, Any]], customers: dict[str, Any]) -> None:
    import json

    payload = json.loads(body)
    row = ledger[payload["message_id"]]
    assert row["activity"] == "welcome_sms"
    first_name = customers[row["recipient"]][1]
    assert payload["to"] == row["address"]
    assert payload["body"].startswith(f"{first_name}, your trip is almost here!")
