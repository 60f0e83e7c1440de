"""The model as JSON, with each entity's row count: what `cantata model show --json` prints
and `GET /model` answers (a UI offers the entities and fields from it)."""

from __future__ import annotations

from typing import Any

from cantata.model.entities import Model
from cantata.store.base import Store, quote_ident


def model_summary(store: Store, model: Model) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for e in model.entities.values():
        out[e.name] = {
            "rows": int(store.scalar(f"SELECT count(*) FROM {quote_ident(e.table)}")),
            "key": e.key,
            "recipient": e.recipient,
            "version": e.version,
            "fields": {f.name: f.type.value for f in e.fields.values()},
            "links": {
                r.name: {"to": r.target, "to_many": r.to_many}
                for r in model.relations(e.name).values()
            },
        }
    return out
