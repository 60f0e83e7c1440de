"""The provider protocol and the entry-point registry.

A provider sends batches of rendered messages for one channel and answers one `Outcome` per
message, in order. It never raises for a message's failure (that is an outcome); it raises
only for misconfiguration. It calls `on_outcome` the moment each message's outcome is known,
so the dispatcher can journal an acceptance before the batch ends. A factory builds it from its `[channels.NAME]` table in
cantata.toml and the workspace root (`root`), against which relative paths in the table
resolve.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

from cantata.delivery.message import Message, Outcome
from cantata.errors import ConfigError, did_you_mean

GROUP = "cantata.providers"


OutcomeHook = Callable[[Outcome], None]


class Provider(Protocol):
    name: str

    async def send(
        self, batch: Sequence[Message], on_outcome: OutcomeHook | None = None
    ) -> list[Outcome]: ...

    async def close(self) -> None: ...


class ProviderFactory(Protocol):
    def __call__(self, config: Mapping[str, Any], *, root: Path | None = None) -> Provider: ...


def factories() -> dict[str, ProviderFactory]:
    return {ep.name: ep.load() for ep in entry_points(group=GROUP)}


def open_provider(config: Mapping[str, Any], where: str, *, root: Path | None = None) -> Provider:
    """The provider named by `config["provider"]`, built from the rest of `config`; relative
    paths resolve against `root` (the workspace; default: the working directory)."""
    name = config.get("provider")
    known = {ep.name for ep in entry_points(group=GROUP)}
    if not isinstance(name, str):
        raise ConfigError(f"missing 'provider' (one of {sorted(known)})", where=where)
    if name not in known:
        raise ConfigError(f"unknown provider {name!r}{did_you_mean(name, known)}", where=where)
    factory = next(ep for ep in entry_points(group=GROUP) if ep.name == name).load()
    provider: Provider = factory(config, root=root)
    return provider
