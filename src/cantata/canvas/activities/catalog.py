"""Every activity type by name: its settings schema, output ports, inbound transitions and
what it does to the dimension flowing through (docs/campaigns.md describes each)."""

from __future__ import annotations

from cantata.canvas.activities import channels, control, targeting
from cantata.canvas.activities.base import ActivityType

CATALOG: dict[str, ActivityType] = {
    t.name: t for t in (*targeting.TYPES, *control.TYPES, *channels.TYPES)
}
START_TYPES = tuple(name for name, t in CATALOG.items() if t.starts_flow)
