"""What a message is rendered from: the recipient's profile and the target row — the
worktable row the channel received (its carried columns: enrichment attributes, aggregates,
top-N collections) plus, with one message per row of another entity, that row's fields.

One query per batch and activity; the ledger's text keys are cast to the model's key types
so PostgreSQL reaches the rows through their primary keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cantata.canvas.runtime.worktable import KEY, Slice
from cantata.delivery.ledger import sql_list
from cantata.model import Model
from cantata.store.base import Store, quote_ident


@dataclass(frozen=True)
class RenderContext:
    recipient: dict[str, Any]
    target: dict[str, Any]


def contexts(
    store: Store,
    model: Model,
    rows: Slice,
    per: str | None,
    message_ids: Sequence[str],
) -> dict[str, RenderContext]:
    """message id → its render context, for messages of one channel activity."""
    if not message_ids:
        return {}
    recipient = model.recipient
    rkey_type = store.sql_type(recipient.key_field.type)
    r_fields = list(recipient.fields)
    select = ["d.message_id"]
    select += [f"rc.{quote_ident(f)}" for f in r_fields]
    select += [f"w.{quote_ident(c)}" for c in rows.columns]
    joins = [
        f"JOIN {quote_ident(recipient.table)} rc ON rc.{quote_ident(recipient.key)} = "
        f"CAST(d.recipient AS {rkey_type})"
    ]
    p_fields: list[str] = []
    if per is None:
        wkey = f"CAST(d.recipient AS {rkey_type})"
    else:
        entity = model.entity(per)
        wkey = f"CAST(d.secondary_key AS {store.sql_type(entity.key_field.type)})"
        p_fields = [f for f in entity.fields if f not in rows.columns]
        select += [f"e.{quote_ident(f)}" for f in p_fields]
        joins.append(
            f"LEFT JOIN {quote_ident(entity.table)} e ON e.{quote_ident(entity.key)} = {wkey}"
        )
    joins.append(f"LEFT JOIN ({rows.select()}) w ON w.{quote_ident(KEY)} = {wkey}")
    ids = sql_list(message_ids)
    sql = (
        f"SELECT {', '.join(select)} FROM cantata_delivery d {' '.join(joins)} "
        f"WHERE d.message_id IN ({ids})"
    )
    out: dict[str, RenderContext] = {}
    n_r, n_w = len(r_fields), len(rows.columns)
    for row in store.fetchall(sql):
        profile = dict(zip(r_fields, row[1 : 1 + n_r], strict=True))
        target = dict(zip(p_fields, row[1 + n_r + n_w :], strict=True))
        target.update(zip(rows.columns, row[1 + n_r : 1 + n_r + n_w], strict=True))
        if per is None:
            target = {**profile, **target}
        out[str(row[0])] = RenderContext(profile, target)
    return out
