"""The delivery ledger: one row per message, the truth of what was sent.

Queueing is one `INSERT ... SELECT` from the channel's inbound worktable slice. The message id
is md5(run / activity / recipient / secondary key), unique in the table, so queueing twice
(a crash between the insert and the runner's hand-back) adds nothing. Rows that must not be
sent are inserted `excluded` with the reason, so the report can say why; the policies are
checked again when the dispatcher claims a message, since consent and suppression change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cantata.canvas.runtime.dialect import sql_literal
from cantata.canvas.runtime.worktable import KEY, Slice
from cantata.canvas.timestamps import db_time
from cantata.delivery.rules import Rules
from cantata.model import Model
from cantata.store.base import Store, quote_ident

# The model's address channel for each delivery channel (webhooks have no address).
ADDRESS_CHANNEL = {"email": "email", "sms": "sms", "push": "push", "direct_mail": "mail"}

PENDING, EXCLUDED, CLAIMED, SENT, FAILED = "pending", "excluded", "claimed", "sent", "failed"

# Why a message is excluded, in the order they are checked.
REASONS = ("no_address", "invalid_address", "suppressed", "no_consent", "capped")


@dataclass(frozen=True)
class Target:
    """Who a channel activity sends to: its inbound rows, and how to reach the recipient."""

    run: int
    activity: str
    campaign: str
    channel: str
    category: str  # marketing | transactional
    rows: Slice
    per: str | None = None  # the secondary entity when one message goes per row of it
    recipient_path: str | None = None  # to-one links from `per` to the recipient


def queue(store: Store, model: Model, rules: Rules, target: Target, now: datetime) -> int:
    """Insert the target's messages (pending or excluded); return how many rows were new."""
    before = _count(store, target)
    store.execute(queue_sql(store.dialect, model, rules, target, now))
    return _count(store, target) - before


def queue_sql(dialect: str, model: Model, rules: Rules, target: Target, now: datetime) -> str:
    recipient = model.recipient
    rkey = quote_ident(recipient.key)
    joins, alias = recipient_joins(model, target)
    address_fields = recipient.addresses().get(ADDRESS_CHANNEL.get(target.channel, ""), [])
    address = f"{alias}.{quote_ident(address_fields[0])}" if address_fields else "NULL"
    if target.channel == "webhook":
        address = f"CAST({alias}.{rkey} AS TEXT)"
    secondary = f"CAST(w.{quote_ident(KEY)} AS TEXT)" if target.per else "CAST(NULL AS TEXT)"
    source = (
        f"SELECT CAST({alias}.{rkey} AS TEXT) AS recipient, {secondary} AS secondary_key, "
        f"trim(CAST({address} AS TEXT)) AS address FROM ({target.rows.select()}) w {joins}"
    )
    ident = (
        f"md5({sql_literal(str(target.run))} || '/' || {sql_literal(target.activity)} || '/' || "
        "s.recipient || '/' || coalesce(s.secondary_key, ''))"
    )
    ranked = (
        f"SELECT s.*, {ident} AS message_id, row_number() OVER "
        f"(PARTITION BY s.recipient ORDER BY s.secondary_key) AS nth FROM ({source}) s"
    )
    reason = exclusion_sql(dialect, rules, target.channel, target.category, "r", now)
    at = timestamp_literal(now)
    return (
        "INSERT INTO cantata_delivery (message_id, run, activity, campaign, channel, category, "
        "recipient, secondary_entity, secondary_key, address, status, reason, attempts, "
        "next_attempt_at, created_at) "
        f"SELECT message_id, {int(target.run)}, {sql_literal(target.activity)}, "
        f"{sql_literal(target.campaign)}, {sql_literal(target.channel)}, "
        f"{sql_literal(target.category)}, recipient, "
        f"{sql_literal(target.per) if target.per else 'NULL'}, secondary_key, address, "
        f"CASE WHEN reason IS NULL THEN '{PENDING}' ELSE '{EXCLUDED}' END, reason, 0, "
        f"{at}, {at} "
        f"FROM (SELECT r.*, {reason} AS reason FROM ({ranked}) r) x "
        "ON CONFLICT (message_id) DO NOTHING"
    )


def exclusion_sql(
    dialect: str,
    rules: Rules,
    channel: str,
    category: str,
    row: str,
    now: datetime,
    *,
    queued: bool = True,
) -> str:
    """A CASE giving the exclusion reason of ledger-shaped row `row` (recipient, address, and
    `nth`, its rank among this recipient's new messages), or NULL. At claim time `queued` is
    False: the message itself is counted as pending, so caps leave it out."""
    if channel == "webhook":
        return "CAST(NULL AS TEXT)"
    addr = f"{row}.address"
    cases = [f"WHEN {addr} IS NULL OR {addr} = '' THEN 'no_address'"]
    valid = _valid_address(dialect, channel, addr)
    if valid:
        cases.append(f"WHEN NOT ({valid}) THEN 'invalid_address'")
    cases.append(
        "WHEN EXISTS (SELECT 1 FROM cantata_suppression sp WHERE sp.channel = "
        f"{sql_literal(channel)} AND sp.address = {_normalized(channel, addr)}) THEN 'suppressed'"
    )
    if category == "marketing":
        consent_channel = sql_literal(ADDRESS_CHANNEL[channel])
        consent = (
            "SELECT 1 FROM cantata_consent c WHERE c.recipient = "
            f"{row}.recipient AND c.channel = {consent_channel} AND c.purpose = 'marketing'"
        )
        if rules.consent == "opt_in":
            cases.append(f"WHEN NOT EXISTS ({consent} AND c.status = 'granted') THEN 'no_consent'")
        else:
            cases.append(f"WHEN EXISTS ({consent} AND c.status = 'denied') THEN 'no_consent'")
        for cap in rules.caps:
            if not cap.applies_to(channel):
                continue
            only = "" if cap.channel == "*" else f" AND h.channel = {sql_literal(channel)}"
            only_d = "" if cap.channel == "*" else f" AND d.channel = {sql_literal(channel)}"
            seconds = int(cap.window.total_seconds())
            # Caps are for marketing: transactional messages (a booking confirmation) neither
            # count nor wait in line. History the ledger does not know counts.
            sent = (
                f"(SELECT count(*) FROM cantata_history h WHERE h.recipient = {row}.recipient "
                f"AND h.event = 'sent'{only} AND h.\"at\" > {timestamp_literal(now)} - INTERVAL '{seconds} seconds' "
                "AND NOT EXISTS (SELECT 1 FROM cantata_delivery t WHERE t.message_id = h.message_id "
                "AND t.category = 'transactional'))"
            )
            # Messages queued and not yet sent count too. At claim, only those queued before
            # this one: two waiting messages must not exclude each other.
            earlier = (
                ""
                if queued
                else f" AND (d.created_at < {row}.created_at OR (d.created_at = "
                f"{row}.created_at AND d.message_id < {row}.message_id))"
            )
            waiting = (
                "(SELECT count(*) FROM cantata_delivery d WHERE d.recipient = "
                f"{row}.recipient AND d.status IN ('{PENDING}', '{CLAIMED}') "
                f"AND d.category = 'marketing'{only_d}{earlier})"
            )
            mine = f"{row}.nth" if queued else "1"
            cases.append(f"WHEN {sent} + {waiting} + {mine} > {int(cap.max)} THEN 'capped'")
    return "CASE " + " ".join(cases) + " ELSE NULL END"


def _valid_address(dialect: str, channel: str, addr: str) -> str | None:
    if channel == "email":
        pattern = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
        if dialect == "postgres":
            return f"{addr} ~ '{pattern}'"
        return f"regexp_full_match({addr}, '{pattern}')"
    if channel == "sms":
        return f"length(regexp_replace({addr}, '[^0-9]', '', 'g')) BETWEEN 7 AND 15"
    return None


def _normalized(channel: str, addr: str) -> str:
    """The suppression list's form of an address (see profile.suppression.normalize_address)."""
    if channel == "email":
        return f"lower({addr})"
    if channel == "sms":
        return (
            f"(CASE WHEN {addr} LIKE '+%' THEN '+' ELSE '' END || "
            f"regexp_replace({addr}, '[^0-9]', '', 'g'))"
        )
    return addr


def recipient_joins(model: Model, target: Target) -> tuple[str, str]:
    """JOINs from the worktable `w` to the recipient's row; the alias holding it."""
    recipient = model.recipient
    if target.per is None:
        return (
            f"JOIN {quote_ident(recipient.table)} rc ON rc.{quote_ident(recipient.key)} = "
            f"w.{quote_ident(KEY)}",
            "rc",
        )
    entity = model.entity(target.per)
    joins = [
        f"JOIN {quote_ident(entity.table)} e0 ON e0.{quote_ident(entity.key)} = "
        f"w.{quote_ident(KEY)}"
    ]
    current, alias = target.per, "e0"
    path = target.recipient_path or _only_path(model, target.per)
    for i, step in enumerate(path.split("."), start=1):
        relation = model.to_one(current)[step]
        nxt = f"e{i}"
        joins.append(
            f"JOIN {quote_ident(model.entity(relation.target).table)} {nxt} ON "
            f"{nxt}.{quote_ident(relation.target_field)} = "
            f"{alias}.{quote_ident(relation.source_field)}"
        )
        current, alias = relation.target, nxt
    return " ".join(joins), alias


def _only_path(model: Model, entity: str) -> str:
    from cantata.canvas.activities.channels import recipient_paths

    return recipient_paths(model, entity)[0]  # validation made sure there is exactly one


def history_from_ledger(event: str, at: str, details: str, source: str = "") -> str:
    """An `INSERT ... SELECT` of communication-history rows, one per ledger row `d` (with its
    run's version); `event`, `at` and `details` are SQL expressions, `source` a FROM clause
    naming the ledger `d` (default: the ledger alone). The caller adds the WHERE."""
    return (
        "INSERT INTO cantata_history (message_id, campaign, campaign_version, activity, run_id, "
        'recipient, secondary_entity, secondary_key, channel, event, "at", details) '
        "SELECT d.message_id, d.campaign, r.version, d.activity, CAST(d.run AS TEXT), "
        f"d.recipient, d.secondary_entity, d.secondary_key, d.channel, {event}, {at}, {details} "
        f"FROM {source or 'cantata_delivery d'} LEFT JOIN cantata_run r ON r.id = d.run "
    )


def timestamp_literal(at: datetime) -> str:
    """An instant as a literal of the stores' naive-UTC TIMESTAMP."""
    return sql_literal(db_time(at))


def _count(store: Store, target: Target) -> int:
    return int(
        store.scalar(
            "SELECT count(*) FROM cantata_delivery WHERE run = %s AND activity = %s",
            [target.run, target.activity],
        )
        or 0
    )


def status_counts(store: Store, run: int, activity: str) -> dict[str, int]:
    return {
        str(s): int(n)
        for s, n in store.fetchall(
            "SELECT status, count(*) FROM cantata_delivery WHERE run = %s AND activity = %s "
            "GROUP BY status",
            [run, activity],
        )
    }


def exclusion_counts(store: Store, run: int, activity: str) -> dict[str, int]:
    return {
        str(r): int(n)
        for r, n in store.fetchall(
            "SELECT reason, count(*) FROM cantata_delivery WHERE run = %s AND activity = %s "
            f"AND status = '{EXCLUDED}' GROUP BY reason ORDER BY reason",
            [run, activity],
        )
    }


def sqlsql_literal(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def sql_list(values: Iterable[str]) -> str:
    return ", ".join(sqlsql_literal(v) for v in values)
