"""`cantata campaign preview`: one recipient's message, rendered exactly as the dispatcher
would, from a test run of the draft (nothing is saved or sent)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cantata.canvas.activities.channels import Channel
from cantata.canvas.definition import Campaign
from cantata.canvas.runtime import Runner, transitions
from cantata.canvas.runtime.worktable import KEY, PORT, Slice
from cantata.delivery.content import Composer, Links
from cantata.delivery.context import RenderContext
from cantata.delivery.ledger import ADDRESS_CHANNEL, Target, recipient_joins
from cantata.delivery.message import Message
from cantata.delivery.template_library import with_template
from cantata.errors import CantataError, did_you_mean
from cantata.model import Model
from cantata.store.base import Store, quote_ident


def preview(
    store: Store,
    model: Model,
    campaign: Campaign,
    node: str,
    recipient: str,
    *,
    now: datetime,
    variables: Mapping[str, Any] | None = None,
    links: Links | None = None,
) -> Message:
    runner = Runner(store, model)
    run = runner.test(campaign, now=now, variables=variables)
    canvas = runner.canvas(run)
    activity = canvas.activities.get(node)
    if activity is None or not isinstance(activity.settings, Channel):
        channels = [n for n, a in canvas.activities.items() if isinstance(a.settings, Channel)]
        raise CantataError(f"{node!r} is not a channel activity{did_you_mean(node, channels)}")
    settings = activity.settings
    record = transitions(store, run.id).get((node, "out"))
    if record is None or record.worktable is None:
        raise CantataError(f"no rows reach {node!r} in a test run at {now.isoformat()}")
    target = Target(
        run.id, node, campaign.name, activity.type.name, settings.category,
        rows=Slice(record.worktable, record.slice or "out"),
        per=settings.per, recipient_path=settings.recipient_path,
    )  # fmt: skip
    joins, alias = recipient_joins(model, target)
    rkey = quote_ident(model.recipient.key)
    found = store.fetchall(
        f"SELECT w.* FROM {quote_ident(record.worktable)} w {joins} WHERE w.{quote_ident(PORT)} "
        f"= %s AND CAST({alias}.{rkey} AS TEXT) = %s ORDER BY w.{quote_ident(KEY)} LIMIT 1",
        [record.slice, recipient],
    )
    if not found:
        raise CantataError(f"recipient {recipient} is not among the rows reaching {node!r}")
    columns = _columns(store, record.worktable)
    row = dict(zip(columns, found[0], strict=True))
    profile = _row(store, model.recipient.table, model.recipient.key, recipient)
    target_row = {k: v for k, v in row.items() if k not in (KEY, PORT)}
    if settings.per is not None:
        entity = model.entity(settings.per)
        target_row = {**_row(store, entity.table, entity.key, str(row[KEY])), **target_row}
    else:
        target_row = {**profile, **target_row}
    address_fields = model.recipient.addresses().get(ADDRESS_CHANNEL.get(target.channel, ""), [])
    address = str(profile.get(address_fields[0]) or "") if address_fields else recipient
    composer = Composer(
        target.channel,
        with_template(target.channel, settings.model_dump(mode="json"), store),
        run.variables,
        where=f"{campaign.name}, node {node}",
        links=links if target.channel == "email" else None,
        mail_fields=tuple(model.recipient.addresses().get("mail", [])),
    )
    return composer.message(
        "preview", recipient, address, RenderContext(profile, target_row), run=run.id, activity=node
    )


def _columns(store: Store, table: str) -> list[str]:
    return [
        str(r[0])
        for r in store.fetchall(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND table_schema = current_schema() ORDER BY ordinal_position",
            [table],
        )
    ]


def _row(store: Store, table: str, key: str, value: str) -> dict[str, Any]:
    columns = _columns(store, table)
    rows = store.fetchall(
        f"SELECT * FROM {quote_ident(table)} WHERE CAST({quote_ident(key)} AS TEXT) = %s", [value]
    )
    if not rows:
        raise CantataError(f"no {table} with {key} = {value}")
    return dict(zip(columns, rows[0], strict=True))
