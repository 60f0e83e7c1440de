"""What the provider tests share."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from cantata.delivery.message import Message, Outcome
from cantata.delivery.providers.base import Provider


def send_and_close(provider: Provider, batch: Sequence[Message]) -> list[Outcome]:
    """One batch through `provider` on its own event loop, then the provider closed (so no
    pooled connection outlives the loop it belongs to)."""

    async def go() -> list[Outcome]:
        try:
            return await provider.send(batch)
        finally:
            await provider.close()

    return asyncio.run(go())
