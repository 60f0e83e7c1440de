"""Feedback on sent messages (opens, clicks, unsubscribes, delivery reports, bounces,
complaints) into communication history, the ledger, suppression and consent.

`record_event` records one event in its own transaction; `record_events` a group of them in
one (the tracking app's writer commits its requests' events in groups). Opens and clicks are
recorded every time (reports count unique ones); the other events at most once per message (a
bounce once per kind), so providers may retry callbacks and people may press "unsubscribe"
twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cantata.canvas.runtime.dialect import sql_literal
from cantata.delivery.ledger import history_from_ledger, sql_list, timestamp_literal
from cantata.profile.consent import set_consent
from cantata.profile.suppression import add_suppression
from cantata.store.base import Store

EVENTS = ("delivered", "opened", "clicked", "bounced", "unsubscribed", "complained")
REPEATABLE = frozenset({"opened", "clicked"})
# cantata_delivery.feedback keeps the most telling event so far: a late "delivered" callback
# does not hide a click, and nothing hides a complaint.
RANK = {event: i for i, event in enumerate(EVENTS)}
# The ledger's channel → the consent channel it is recorded under.
CONSENT_CHANNEL = {"direct_mail": "mail"}

_LEDGER = (
    "SELECT d.recipient, d.channel, d.address, d.feedback FROM cantata_delivery d "
    "WHERE d.message_id = %s"
)


@dataclass(frozen=True)
class Feedback:
    """One event on one message of the ledger, as a request reports it."""

    message_id: str
    event: str
    at: datetime
    details: Mapping[str, Any] | None = None


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


def message_for_provider_id(store: Store, provider_id: str) -> str | None:
    """Our message id for the id a provider gave it (SMS sids, API message ids)."""
    found = store.scalar(
        "SELECT message_id FROM cantata_delivery WHERE provider_id = %s LIMIT 1", [provider_id]
    )
    return None if found is None else str(found)


def record_delivered(
    store: Store, events: Mapping[str, tuple[datetime, Mapping[str, Any]]]
) -> set[str]:
    """Delivery reports in bulk (providers send them by the thousand), set-based: message id
    → (when, details). Each message gets its `delivered` event once. Returns the ids the
    ledger knows."""
    if not events:
        return set()
    values = ", ".join(
        f"({sql_literal(mid)}, {timestamp_literal(at)}, "
        f"{sql_literal(json.dumps(dict(details), sort_keys=True) if details else None)})"
        for mid, (at, details) in events.items()
    )
    ids = sql_list(events)
    # On PostgreSQL two callbacks reporting the same message must not both pass the NOT EXISTS
    # below: the ledger rows are locked first (in id order, so two batches cannot deadlock
    # here), and the insert, a later statement, sees what the other committed.
    lock = " ORDER BY message_id FOR UPDATE" if store.dialect == "postgres" else ""
    with store.transaction():
        known = {
            str(m)
            for (m,) in store.fetchall(
                f"SELECT message_id FROM cantata_delivery WHERE message_id IN ({ids}){lock}"
            )
        }
        store.execute(
            history_from_ledger(
                "'delivered'",
                "CAST(v.happened AS TIMESTAMP)",
                "v.details",
                f"(VALUES {values}) v(mid, happened, details) "
                "JOIN cantata_delivery d ON d.message_id = v.mid",
            )
            + "WHERE NOT EXISTS (SELECT 1 FROM cantata_history h WHERE "
            "h.message_id = d.message_id AND h.event = 'delivered')"
        )
        store.execute(
            f"UPDATE cantata_delivery SET feedback = 'delivered' WHERE message_id IN ({ids}) "
            "AND feedback IS NULL"
        )
    return known


def _already(store: Store, message_id: str, event: str, details: Mapping[str, Any]) -> bool:
    rows = store.fetchall(
        "SELECT details FROM cantata_history WHERE message_id = %s AND event = %s",
        [message_id, event],
    )
    if event != "bounced":
        return bool(rows)
    kind = details.get("type")
    return any(json.loads(d or "{}").get("type") == kind for (d,) in rows)


def record_event(
    store: Store,
    message_id: str,
    event: str,
    *,
    at: datetime,
    details: Mapping[str, Any] | None = None,
) -> bool:
    """Record `event` on a message of the ledger; False when the ledger has no such message.

    bounced {"type": "hard"} and complained suppress the address; unsubscribed denies
    marketing consent for the recipient on the message's channel."""
    if event not in RANK:
        raise ValueError(f"unknown feedback event {event!r} (one of {', '.join(EVENTS)})")
    details = dict(details or {})
    stamp = _utc(at)
    # On PostgreSQL the row lock serialises two workers handling the same message.
    lock = " FOR UPDATE OF d" if store.dialect == "postgres" else ""
    with store.transaction():
        row = store.fetchone(_LEDGER + lock, [message_id])
        if row is None:
            return False
        recipient, channel, address, current = row
        if event not in REPEATABLE and _already(store, message_id, event, details):
            return True
        store.execute(
            history_from_ledger("%s", "%s", "%s") + "WHERE d.message_id = %s",
            [event, stamp, json.dumps(details, sort_keys=True) if details else None, message_id],
        )
        if current is None or RANK.get(current, -1) < RANK[event]:
            store.execute(
                "UPDATE cantata_delivery SET feedback = %s WHERE message_id = %s",
                [event, message_id],
            )
        source = f"message {message_id}"
        hard = event == "bounced" and details.get("type") == "hard"
        if (hard or event == "complained") and address:
            reason = "hard_bounce" if hard else "complaint"
            add_suppression(store, address, channel, reason, source=source, now=stamp)
        if event == "unsubscribed":
            set_consent(
                store,
                recipient,
                CONSENT_CHANNEL.get(channel, channel),
                "denied",
                source=f"unsubscribe link, {source}",
                now=stamp,
            )
    return True


def record_events(store: Store, events: Sequence[Feedback]) -> list[bool]:
    """Record a group of events in one transaction; for each, whether the ledger knows its
    message (as `record_event` answers).

    Opens and clicks, the bulk of a campaign's feedback, take one INSERT ... SELECT and an
    UPDATE per feedback value for the whole group; the other events go one by one through
    `record_event`, inside the same transaction."""
    for e in events:
        if e.event not in RANK:
            raise ValueError(f"unknown feedback event {e.event!r} (one of {', '.join(EVENTS)})")
    if not events:
        return []
    ids = sorted({e.message_id for e in events})
    marks = ", ".join(["%s"] * len(ids))
    # PostgreSQL: lock the group's ledger rows in id order before anything reads history, so
    # another worker's group touching the same messages waits here instead of deadlocking.
    lock = " ORDER BY message_id FOR UPDATE" if store.dialect == "postgres" else ""
    with store.transaction():
        current: dict[str, str | None] = {
            str(m): f
            for m, f in store.fetchall(
                f"SELECT message_id, feedback FROM cantata_delivery WHERE message_id IN ({marks})"
                + lock,
                ids,
            )
        }
        repeated = [e for e in events if e.event in REPEATABLE and e.message_id in current]
        if repeated:
            values = ", ".join(
                ["(%s, %s, CAST(%s AS TIMESTAMP), CAST(%s AS TEXT))"] * len(repeated)
            )
            store.execute(
                history_from_ledger(
                    "v.event",
                    "v.happened",
                    "v.details",
                    f"(VALUES {values}) v(mid, event, happened, details) "
                    "JOIN cantata_delivery d ON d.message_id = v.mid",
                ),
                [
                    value
                    for e in repeated
                    for value in (
                        e.message_id,
                        e.event,
                        _utc(e.at),
                        json.dumps(dict(e.details), sort_keys=True) if e.details else None,
                    )
                ],
            )
            _raise_feedback(store, current, repeated)
        return [
            e.message_id in current
            if e.event in REPEATABLE
            else record_event(store, e.message_id, e.event, at=e.at, details=e.details)
            for e in events
        ]


def _raise_feedback(
    store: Store, current: Mapping[str, str | None], events: Sequence[Feedback]
) -> None:
    """Set each message's `feedback` to its most telling event, one UPDATE per value."""
    best = dict(current)
    for e in events:
        held = best[e.message_id]
        if held is None or RANK.get(held, -1) < RANK[e.event]:
            best[e.message_id] = e.event
    raised: dict[str, list[str]] = {}
    for mid, event in best.items():
        if event is not None and event != current[mid]:
            raised.setdefault(event, []).append(mid)
    for event, mids in sorted(raised.items()):
        store.execute(
            "UPDATE cantata_delivery SET feedback = %s "
            f"WHERE message_id IN ({', '.join(['%s'] * len(mids))})",
            [event, *mids],
        )
