"""Claiming messages under a lease, and recording what became of them.

A dispatcher claims a batch of due messages (pending and due, or claimed under a lease that
expired — its dispatcher died); several dispatchers on PostgreSQL skip each other's locked
rows. Each message's outcome, its history event and any suppression commit in one
transaction: a crash before that commit leaves the messages claimed, and they go out again
when the lease expires — the only way a message can be sent twice is a crash between the
provider's acceptance and this commit.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cantata.canvas.runtime.dialect import sql_literal
from cantata.canvas.timestamps import db_time
from cantata.delivery.activities import SENDING
from cantata.delivery.ledger import (
    CLAIMED,
    EXCLUDED,
    FAILED,
    PENDING,
    SENT,
    exclusion_sql,
    history_from_ledger,
    sql_list,
    timestamp_literal,
)
from cantata.delivery.message import Outcome, Status
from cantata.delivery.rules import Rules
from cantata.profile.suppression import add_suppression
from cantata.store.base import Store

_FIELDS = "message_id, run, activity, channel, recipient, secondary_key, address, attempts"


@dataclass(frozen=True)
class Claimed:
    message_id: str
    run: int
    activity: str
    channel: str
    recipient: str
    secondary_key: str | None
    address: str | None
    attempts: int


def claim(store: Store, owner: str, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
    """Claim up to `limit` due messages of sending activities for `owner` until now + lease.
    Expired claims are taken over from other dispatchers only: this one's own are in its
    hands (a batch waiting to be sent), and renewed before they go."""
    at = timestamp_literal(now)
    due = (
        f"SELECT d.message_id FROM cantata_delivery d JOIN cantata_delivery_activity a "
        f"ON a.run = d.run AND a.activity = d.activity AND a.status = '{SENDING}' "
        f"WHERE (d.status = '{PENDING}' AND d.next_attempt_at <= {at}) "
        f"OR (d.status = '{CLAIMED}' AND d.lease_until < {at} "
        f"AND d.lease_owner <> {sql_literal(owner)}) "
        f"ORDER BY d.next_attempt_at, d.message_id LIMIT {int(limit)}"
    )
    until = timestamp_literal(now + lease)
    if store.dialect == "postgres":
        sql = (
            f"UPDATE cantata_delivery t SET status = '{CLAIMED}', lease_owner = %s, "
            f"lease_until = {until} FROM ({due} FOR UPDATE OF d SKIP LOCKED) c "
            f"WHERE t.message_id = c.message_id RETURNING "
            + ", ".join(f"t.{f.strip()}" for f in _FIELDS.split(","))
        )
    else:
        sql = (
            f"UPDATE cantata_delivery SET status = '{CLAIMED}', lease_owner = %s, "
            f"lease_until = {until} WHERE message_id IN ({due}) RETURNING {_FIELDS}"
        )
    with store.transaction():
        rows = store.fetchall(sql, [owner])
    claimed = [Claimed(str(r[0]), int(r[1]), r[2], r[3], r[4], r[5], r[6], int(r[7])) for r in rows]
    claimed.sort(key=lambda c: c.message_id)
    return claimed


def recheck(
    store: Store,
    rules: Rules,
    batch: Sequence[Claimed],
    categories: Mapping[tuple[int, str], str],
    now: datetime,
) -> dict[str, str]:
    """Exclusions that hold now (consent withdrawn, address suppressed, cap reached since the
    message was queued): message id → reason, for the claimed messages of `batch`."""
    reasons: dict[str, str] = {}
    groups: dict[tuple[str, str], list[str]] = {}
    for c in batch:
        groups.setdefault((c.channel, categories[(c.run, c.activity)]), []).append(c.message_id)
    for (channel, category), ids in groups.items():
        case = exclusion_sql(store.dialect, rules, channel, category, "r", now, queued=False)
        rows = store.fetchall(
            f"SELECT r.message_id, {case} FROM cantata_delivery r WHERE r.message_id IN "
            f"({sql_list(ids)})"
        )
        reasons.update({str(m): str(reason) for m, reason in rows if reason is not None})
    return reasons


def exclude(store: Store, reasons: Mapping[str, str], owner: str) -> None:
    for reason in sorted(set(reasons.values())):
        ids = [m for m, r in reasons.items() if r == reason]
        store.execute(
            f"UPDATE cantata_delivery SET status = '{EXCLUDED}', reason = %s, lease_owner = NULL, "
            f"lease_until = NULL WHERE message_id IN ({sql_list(ids)}) AND lease_owner = %s",
            [reason, owner],
        )


def defer(store: Store, until: Mapping[str, datetime], owner: str) -> None:
    """Give messages back, due at a later time (outside the send window or in quiet hours);
    not an attempt."""
    for message_id, at in until.items():
        store.execute(
            f"UPDATE cantata_delivery SET status = '{PENDING}', next_attempt_at = %s, "
            "lease_owner = NULL, lease_until = NULL WHERE message_id = %s AND lease_owner = %s",
            [db_time(at), message_id, owner],
        )


def release(store: Store, owner: str | None = None) -> int:
    """Give back claimed messages: one dispatcher's, or all (on DuckDB a starting dispatcher
    owns the store alone, so every claim left is an orphan of a crash)."""
    where, params = f"status = '{CLAIMED}'", []
    if owner is not None:
        where += " AND lease_owner = %s"
        params.append(owner)
    count = int(store.scalar(f"SELECT count(*) FROM cantata_delivery WHERE {where}", params) or 0)
    store.execute(
        f"UPDATE cantata_delivery SET status = '{PENDING}', lease_owner = NULL, "
        f"lease_until = NULL WHERE {where}",
        params,
    )
    return count


def renew(store: Store, owner: str, ids: Sequence[str], until: datetime) -> set[str]:
    """Extend `owner`'s lease on the messages `ids` it still holds; return those. A message
    whose lease ran out and went to another dispatcher is not among them: not ours to send."""
    if not ids:
        return set()
    with store.transaction():
        store.execute(
            f"UPDATE cantata_delivery SET lease_until = {timestamp_literal(until)} "
            f"WHERE status = '{CLAIMED}' AND lease_owner = %s AND message_id IN ({sql_list(ids)})",
            [owner],
        )
        return {
            str(m)
            for (m,) in store.fetchall(
                f"SELECT message_id FROM cantata_delivery WHERE status = '{CLAIMED}' "
                f"AND lease_owner = %s AND message_id IN ({sql_list(ids)})",
                [owner],
            )
        }


def extend(store: Store, owner: str, until: datetime) -> int:
    """Extend every lease `owner` holds to `until` (its batches in hand, one of them on the
    wire); a claim that went to another dispatcher is not touched."""
    return store.execute(
        f"UPDATE cantata_delivery SET lease_until = {timestamp_literal(until)} "
        f"WHERE status = '{CLAIMED}' AND lease_owner = %s",
        [owner],
    )


def claim_owners(store: Store) -> list[str]:
    return sorted(
        str(r[0])
        for r in store.fetchall(
            f"SELECT DISTINCT lease_owner FROM cantata_delivery WHERE status = '{CLAIMED}'"
        )
    )


def dead_owners(store: Store, host: str) -> list[str]:
    """Dispatchers on this host holding claims whose process is gone (owners are
    `host:pid:nonce`): their claims need not wait for the leases to expire."""
    return [owner for owner in claim_owners(store) if dead_here(owner, host)]


def dead_here(owner: str, host: str) -> bool:
    """Whether `owner` (`host:pid:nonce`) was a process on this host that is gone."""
    parts = owner.rsplit(":", 2)
    return len(parts) == 3 and parts[0] == host and parts[1].isdigit() and not _alive(int(parts[1]))


def claimed_rows(store: Store, owner: str, ids: Sequence[str]) -> list[Claimed]:
    """The messages among `ids` that `owner` still holds."""
    if not ids:
        return []
    rows = store.fetchall(
        f"SELECT {_FIELDS} FROM cantata_delivery WHERE status = '{CLAIMED}' AND lease_owner = %s "
        f"AND message_id IN ({sql_list(ids)})",
        [owner],
    )
    return [Claimed(str(r[0]), int(r[1]), r[2], r[3], r[4], r[5], r[6], int(r[7])) for r in rows]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@dataclass(frozen=True)
class Recorded:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def record(
    store: Store,
    rules: Rules,
    owner: str,
    batch: Iterable[Claimed],
    outcomes: Sequence[Outcome],
    now: datetime,
) -> Recorded:
    """Record each outcome, its history event and any suppression, in one transaction. Only
    messages still claimed by `owner` are touched (a lease that expired went to another)."""
    by_id = {c.message_id: c for c in batch}
    sent = [o for o in outcomes if o.status is Status.SENT]
    retry = [o for o in outcomes if o.status is Status.RETRY]
    failed = [o for o in outcomes if o.status is Status.FAILED]
    exhausted = [o for o in retry if by_id[o.message_id].attempts + 1 >= rules.max_attempts]
    failed += [Outcome(o.message_id, Status.FAILED, error=o.error) for o in exhausted]
    retry = [o for o in retry if o not in exhausted]
    at = timestamp_literal(now)
    with store.transaction():
        if sent:
            values = ", ".join(
                f"({sql_literal(o.message_id)}, {sql_literal(o.provider_id)})" for o in sent
            )
            # History first: only for messages this dispatcher still holds.
            _history(store, [o.message_id for o in sent], "sent", now, owner=owner)
            store.execute(
                f"UPDATE cantata_delivery SET status = '{SENT}', sent_at = {at}, "
                "attempts = attempts + 1, provider_id = v.pid, lease_owner = NULL, "
                f"lease_until = NULL, reason = NULL FROM (VALUES {values}) v(mid, pid) "
                "WHERE cantata_delivery.message_id = v.mid AND cantata_delivery.lease_owner = %s",
                [owner],
            )
        for o in retry:
            c = by_id[o.message_id]
            wait = rules.backoff * (2**c.attempts)
            if o.retry_after is not None:
                wait = max(wait, timedelta(seconds=o.retry_after))
            store.execute(
                f"UPDATE cantata_delivery SET status = '{PENDING}', attempts = attempts + 1, "
                "next_attempt_at = %s, reason = %s, lease_owner = NULL, lease_until = NULL "
                "WHERE message_id = %s AND lease_owner = %s",
                [db_time(now + wait), o.error, o.message_id, owner],
            )
        for o in failed:
            changed = store.execute(
                f"UPDATE cantata_delivery SET status = '{FAILED}', attempts = attempts + 1, "
                "reason = %s, lease_owner = NULL, lease_until = NULL WHERE message_id = %s "
                "AND lease_owner = %s",
                [o.error, o.message_id, owner],
            )
            c = by_id[o.message_id]
            if changed and o.bad_address and c.address:  # not if the lease went elsewhere
                add_suppression(
                    store, c.address, c.channel, "hard_bounce", source=f"run {c.run}", now=now
                )
                _history(store, [o.message_id], "bounced", now, details='{"type": "hard"}')
    return Recorded(len(sent), len(retry), len(failed))


def _history(
    store: Store,
    ids: Sequence[str],
    event: str,
    now: datetime,
    *,
    details: str | None = None,
    owner: str | None = None,
) -> None:
    held = "" if owner is None else f" AND d.lease_owner = {sql_literal(owner)}"
    store.execute(
        history_from_ledger("%s", "%s", "%s") + f"WHERE d.message_id IN ({sql_list(ids)}){held}",
        [event, db_time(now), details],
    )
