"""Channel activities at run time. Sending is the delivery engine's: a test run ends the flow
at a channel, recording who would be targeted; a live run leaves the channel
`pending_delivery` with its input slice recorded, and the delivery engine hands it back with
`Runner.complete_delivery` once the messages are queued, then the population continues.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cantata.canvas.runtime.node import NodeContext, Output
from cantata.canvas.runtime.runs import PENDING_DELIVERY
from cantata.canvas.runtime.worktable import Slice
from cantata.store.base import Store


def channel(ctx: NodeContext) -> Output:
    arrival = ctx.input()
    details: dict[str, Any] = {"channel": ctx.activity.type.name, "recipients": arrival.count}
    if ctx.test_mode:
        details["sent"] = "no (test mode): the flow ends here"
        return Output({"out": ctx.passed(arrival, activated=False)}, details=details)
    found = arrival.slice
    assert found is not None, "validation: channels receive rows"
    details["input"] = {
        "transition": arrival.ref,
        "worktable": found.worktable,
        "slice": found.port,
        "columns": list(found.columns),
    }
    previous = ctx.previous.details if ctx.previous is not None else {}
    if "delivered_at" in previous:
        details["delivered_at"] = previous["delivered_at"]
        return Output({"out": ctx.passed(arrival)}, details=details)
    return Output({}, status=PENDING_DELIVERY, details=details)


@dataclass(frozen=True)
class PendingDelivery:
    """A channel activity waiting for the delivery engine: its recipients are `rows`."""

    run: int
    node: str
    channel: str
    rows: Slice
    count: int


def pending_deliveries(store: Store) -> list[PendingDelivery]:
    out = []
    for run, node, details in store.fetchall(
        "SELECT n.run, n.node, n.details FROM cantata_node_run n JOIN cantata_run r "
        "ON r.id = n.run WHERE n.status = %s AND r.status NOT IN ('stopped', 'failed') "
        "ORDER BY n.run, n.node",
        [PENDING_DELIVERY],
    ):
        d = json.loads(details)
        found = d["input"]
        out.append(
            PendingDelivery(
                int(run),
                node,
                d.get("channel", ""),
                Slice(found["worktable"], found["slice"], tuple(found["columns"])),
                int(d["recipients"]),
            )
        )
    return out
