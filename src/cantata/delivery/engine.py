"""The delivery engine of a workspace: providers from `[channels.*]`, tracking links from
`[tracking]`, rules from `[rules]`/`[delivery]`; each round queues the messages of channel
activities that runs reached, then dispatches what is due.

On DuckDB the process owning the store is the only dispatcher, so claims left by a previous
process are orphans of a crash and go back to pending at start; on PostgreSQL several
dispatchers share the work and an orphan's messages come back when its lease expires.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from cantata.canvas.runtime import Runner
from cantata.delivery.activities import queue_pending
from cantata.delivery.claims import claim_owners, dead_here, dead_owners, release
from cantata.delivery.dispatcher import Clock, Dispatcher, Sleep, Stats, system_clock
from cantata.delivery.journal import Journal, journal_owners, recover
from cantata.delivery.providers.base import Provider, open_provider
from cantata.delivery.rules import CHANNELS, Rules, load_rules
from cantata.errors import ConfigError, did_you_mean
from cantata.model import Model
from cantata.store.base import Store
from cantata.tracking.links import TrackingLinks
from cantata.tracking.settings import tracking_settings

# Keys of a `[channels.NAME]` table the engine reads; the rest configure the provider.
ENGINE_KEYS = frozenset({"rate_per_second"})


def open_providers(rules: Rules, root: Path | None = None) -> dict[str, Provider]:
    """One provider per configured channel (`[channels.email] provider = "smtp"` ...);
    relative paths in their tables resolve against `root`, the workspace."""
    out: dict[str, Provider] = {}
    for channel, config in rules.providers.items():
        if channel not in CHANNELS:
            raise ConfigError(
                f"[channels.{channel}] is not a channel{did_you_mean(channel, CHANNELS)}",
                where="cantata.toml",
            )
        own = {k: v for k, v in config.items() if k not in ENGINE_KEYS}
        out[channel] = open_provider(own, where=f"cantata.toml [channels.{channel}]", root=root)
    return out


def provider_rates(rules: Rules) -> dict[str, float]:
    """`rate_per_second` of each channel's provider: what the provider's account allows."""
    return {
        ch: float(cfg["rate_per_second"])
        for ch, cfg in rules.providers.items()
        if isinstance(cfg.get("rate_per_second"), int | float)
    }


def tracking_links(raw: Mapping[str, Any]) -> TrackingLinks | None:
    if "tracking" not in raw:
        return None
    settings = tracking_settings(raw)
    return settings.links() if settings.base_url else None


class DeliveryEngine:
    def __init__(
        self,
        store: Store,
        model: Model,
        raw_settings: Mapping[str, Any],
        *,
        runner: Runner | None = None,
        providers: Mapping[str, Provider] | None = None,
        clock: Clock = system_clock,
        sleep: Sleep | None = None,
        owner: str | None = None,
        journal_dir: Path | None = None,
        root: Path | None = None,
    ) -> None:
        self.store, self.model = store, model
        self.rules = load_rules(raw_settings)
        self.runner = runner or Runner(store, model)
        kwargs: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
        self.dispatcher = Dispatcher(
            store,
            model,
            self.rules,
            providers if providers is not None else open_providers(self.rules, root),
            links=tracking_links(raw_settings),
            clock=clock,
            owner=owner,
            provider_rates=provider_rates(self.rules),
            **kwargs,
        )
        self.clock = clock
        self.recovered = self._recover(journal_dir)
        if journal_dir is not None:
            self.dispatcher.journal = Journal(journal_dir, self.dispatcher.owner)

    def _recover(self, journal_dir: Path | None) -> int:
        """Take over what crashed dispatchers left: what their journals say the provider
        accepted is recorded as sent; their other claims go back to pending. On DuckDB this
        process owns the store alone, so every claim left is a crash's."""
        store, host = self.store, socket.gethostname()
        dead = set(claim_owners(store) if store.dialect == "duckdb" else dead_owners(store, host))
        recovered = 0
        if journal_dir is not None:
            # A dead dispatcher's journal may outlive its claims (recorded, then killed
            # before the journal was emptied): those are read too, and removed.
            dead |= {o for o in journal_owners(journal_dir) if dead_here(o, host)}
            recovered = recover(store, self.rules, journal_dir, sorted(dead), self.clock())
        for owner in dead:
            release(store, owner)
        return recovered

    def queue(self, now: datetime | None = None) -> list[int]:
        """Queue the messages of channel activities runs have reached; hand them back."""
        return queue_pending(self.store, self.runner, self.rules, now or self.clock())

    async def round(self) -> Stats:
        """Queue, then dispatch until nothing is due now. Queueing (a set-based insert per
        activity, and the runs it hands back) runs off the event loop, which may be serving
        requests (`cantata serve --all`)."""
        await asyncio.to_thread(self.queue)
        return await self.dispatcher.run(until_idle=True)

    async def close(self) -> None:
        await self.dispatcher.close()
