"""A small travel company for delivery tests: customers in several time zones with consent,
suppression and bookings, and helpers to publish and start a campaign."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import yaml

from cantata.canvas import lifecycle, parse_campaign
from cantata.canvas.runtime import Runner, load_run
from cantata.delivery.activities import queue_pending
from cantata.delivery.rules import Rules
from cantata.model import parse_model
from cantata.store import Store
from cantata.store.schema import apply_model
from cantata.workspace import starter_model

MODEL = parse_model(starter_model())
NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)

# customer_id, email, phone, first_name, tier, time_zone, language
CUSTOMERS: list[tuple[Any, ...]] = [
    (1, "ana@example.com", "+33 6 12 34 56 78", "Ana", "gold", "Europe/Paris", "fr"),
    (2, "ben@example.com", "+1 212 555 0100", "Ben", "basic", "America/New_York", "en"),
    (3, None, None, "Cleo", "gold", "Europe/Paris", "fr"),  # no address
    (4, "not-an-email", "12", "Dan", "basic", "Europe/Paris", "en"),  # invalid addresses
    (5, "Eve@Example.com", "+44 20 7946 0000", "Eve", "silver", "Europe/London", "en"),
    (6, "fay@example.com", "+33 6 00 00 00 06", "Fay", "platinum", "Asia/Tokyo", "ja"),
    (7, "gus@example.com", "+33 6 00 00 00 07", "Gus", "basic", "Europe/Paris", "de"),
]
# Consent for marketing email: 6 denied, 7 has no record (opt-in: excluded).
CONSENT = {1: "granted", 2: "granted", 3: "granted", 4: "granted", 5: "granted", 6: "denied"}
HOTELS = [(10, "Hotel Lumière", "Lyon"), (11, "Grand Hotel", "New York")]
# booking_id, customer_id, hotel_id, check_in, nights, status
BOOKINGS = [
    (100, 1, 10, date(2026, 6, 10), 2, "confirmed"),
    (101, 1, 11, date(2026, 6, 20), 3, "confirmed"),
    (102, 2, 11, date(2026, 6, 12), 1, "confirmed"),
    (103, 5, 10, date(2026, 6, 5), 4, "cancelled"),
]


def load_company(store: Store) -> None:
    apply_model(store, MODEL)
    for c in CUSTOMERS:
        store.execute(
            "INSERT INTO customer (customer_id, email, phone, first_name, tier, time_zone, "
            "language, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [*c, datetime(2026, 1, 1)],
        )
    for h in HOTELS:
        store.execute("INSERT INTO hotel (hotel_id, name, city) VALUES (%s, %s, %s)", list(h))
    for b in BOOKINGS:
        store.execute(
            "INSERT INTO booking (booking_id, customer_id, hotel_id, check_in, nights, status) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            list(b),
        )
    for channel in ("email", "sms"):
        for key, status in CONSENT.items():
            store.execute(
                "INSERT INTO cantata_consent (recipient, channel, purpose, status, updated_at) "
                "VALUES (%s, %s, 'marketing', %s, %s)",
                [str(key), channel, status, datetime(2026, 1, 1)],
            )


def campaign(name: str, nodes: list[dict[str, Any]], edges: list[str], **extra: Any) -> str:
    data = {
        "name": name,
        "time_zone": "Europe/Paris",
        **extra,
        "nodes": nodes,
        "edges": [dict(zip(("from", "to"), e.split(" -> "), strict=True)) for e in edges],
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def node(node_id: str, kind: str, **settings: Any) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "settings": settings}


def start(
    store: Store, text: str, rules: Rules, now: datetime = NOW, **variables: Any
) -> tuple[Runner, int]:
    """Publish and start a campaign, then queue its channels' messages."""
    runner = Runner(store, MODEL)
    parsed = parse_campaign(text)
    lifecycle.publish(store, MODEL, parsed, now=now)
    run = runner.start(parsed.name, now=now, variables=variables)
    queue_pending(store, runner, rules, now)
    return runner, load_run(store, run.id).id


def ledger(store: Store, run: int) -> dict[str, tuple[str, str | None]]:
    """recipient(/secondary key) → (status, reason) of a run's messages."""
    rows = store.fetchall(
        "SELECT recipient, secondary_key, status, reason FROM cantata_delivery WHERE run = %s",
        [run],
    )
    return {(r if s is None else f"{r}/{s}"): (st, why) for r, s, st, why in rows}
