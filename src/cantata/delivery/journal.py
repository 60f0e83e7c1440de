"""The dispatcher's journal: each message the provider accepted, written the moment it is
accepted, before the batch's outcomes commit to the ledger.

A dispatcher killed mid-batch leaves claimed messages, some already accepted by the provider.
Without the journal they would all go out again; with it, the next dispatcher on the host
reads the dead one's journal first and records those messages as sent. What can still go
twice is only a message whose acceptance was on the wire when the process died.

A plain `write` to the file survives the death of the process (the data is in the kernel);
the journal does not protect against the machine losing power — the lease then resends.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

from cantata.delivery.claims import Claimed, claimed_rows, record
from cantata.delivery.message import Outcome, Status
from cantata.delivery.rules import Rules
from cantata.store.base import Store

_SAFE = re.compile(r"[^A-Za-z0-9_.:-]")


class Journal:
    def __init__(self, folder: Path, owner: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{_SAFE.sub('_', owner)}.journal"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def accepted(self, outcome: Outcome) -> None:
        if outcome.status is Status.SENT:
            os.write(self._fd, f"{outcome.message_id}\t{outcome.provider_id or ''}\n".encode())

    def committed(self) -> None:
        """The batch's outcomes are in the ledger: the journal has nothing left to say."""
        os.ftruncate(self._fd, 0)

    def close(self) -> None:
        os.close(self._fd)
        self.path.unlink(missing_ok=True)


def journal_owners(folder: Path) -> list[str]:
    """The dispatchers that left a journal in `folder` (its file name is the owner)."""
    return sorted(p.stem for p in folder.glob("*.journal")) if folder.exists() else []


def recover(store: Store, rules: Rules, folder: Path, owners: list[str], now: datetime) -> int:
    """Record as sent what the journals of dead dispatchers `owners` say was accepted;
    remove those journals. Return how many messages were recorded."""
    recovered = 0
    for owner in owners:
        path = folder / f"{_SAFE.sub('_', owner)}.journal"
        if not path.exists():
            continue
        accepted: dict[str, str | None] = {}
        for line in path.read_text("utf-8", errors="replace").splitlines():
            message_id, _, provider_id = line.partition("\t")
            if message_id:
                accepted[message_id] = provider_id or None
        held: list[Claimed] = claimed_rows(store, owner, list(accepted))
        if held:
            outcomes = [
                Outcome(c.message_id, Status.SENT, provider_id=accepted[c.message_id]) for c in held
            ]
            recovered += record(store, rules, owner, held, outcomes, now).sent
        path.unlink()
    return recovered
