"""Worktables: where the rows of a run's transitions live.

An activity that computes rows writes one table per run and node, `cantata_wt_<run>_<node>`:
the population's key as `_key`, the columns it carries, and `_port`, the output port each row
leaves by. A transition is a *slice* of a worktable — its rows with one `_port` — so activities
that pass their input on unchanged (fork, wait, test, alert, save_audience...) point at the
slice they received and copy nothing.

Writes are atomic: the runner creates an activity's worktables and records the node as done in
one transaction. A crash before that commit leaves no table, and the node is redone from its
inputs; a crash after it leaves a completed node, which is never redone.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from cantata.canvas.timestamps import db_time
from cantata.store.base import Store, quote_ident

KEY = "_key"
PORT = "_port"
PREFIX = "cantata_wt_"
_MAX_IDENTIFIER = 63  # PostgreSQL silently truncates longer names
_RUN_OF = re.compile(rf"^{PREFIX}(\d+)_")


def worktable_name(run_id: int, node: str, part: str = "") -> str:
    """The worktable of a node (and of one `part` when a node writes several)."""
    name = f"{PREFIX}{run_id}_{node}" + (f"__{part}" if part else "")
    if len(name) > _MAX_IDENTIFIER:
        digest = hashlib.sha1(f"{node}/{part}".encode()).hexdigest()[:16]
        name = f"{PREFIX}{run_id}_{digest}"
    return name


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Slice:
    """The rows of one transition: those of `worktable` whose `_port` is `port`, read with the
    `columns` the transition carries (a worktable may hold more)."""

    worktable: str
    port: str
    columns: tuple[str, ...] = ()

    def select(self) -> str:
        names = ", ".join(quote_ident(c) for c in (KEY, *self.columns))
        return (
            f"SELECT {names} FROM {quote_ident(self.worktable)} "
            f"WHERE {quote_ident(PORT)} = {sql_string(self.port)}"
        )

    def carrying(self, columns: tuple[str, ...]) -> Slice:
        return Slice(self.worktable, self.port, columns)


def existing_worktables(store: Store) -> list[str]:
    rows = store.fetchall(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND table_name LIKE 'cantata\\_wt\\_%' ESCAPE '\\'"
    )
    return sorted(r[0] for r in rows)


def drop_worktables(store: Store, run_id: int) -> int:
    """Drop every worktable of a run; return how many."""
    names = [n for n in existing_worktables(store) if _run_of(n) == run_id]
    for name in names:
        store.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")
    return len(names)


def purge_worktables(
    store: Store, now: datetime, retention: timedelta = timedelta(days=7)
) -> list[int]:
    """Drop the worktables of runs that finished more than `retention` before `now`; their
    counts, logs and statuses stay. A run whose messages are still to be sent keeps them: the
    dispatcher renders from them. Return the runs purged."""
    cutoff = db_time(now) - retention
    runs = [
        int(r[0])
        for r in store.fetchall(
            "SELECT id FROM cantata_run WHERE finished_at IS NOT NULL AND finished_at < %s "
            "AND purged_at IS NULL AND NOT EXISTS (SELECT 1 FROM cantata_delivery d "
            "WHERE d.run = cantata_run.id AND d.status IN ('pending', 'claimed')) ORDER BY id",
            [cutoff],
        )
    ]
    for run_id in runs:
        with store.transaction():
            drop_worktables(store, run_id)
            store.execute(
                "UPDATE cantata_run SET purged_at = %s WHERE id = %s", [db_time(now), run_id]
            )
    return runs


class Retention:
    """When to purge: the scheduler lease's holder calls it every turn; it purges the runs
    finished more than `keep` ago, at most once every `every`."""

    def __init__(self, keep: timedelta = timedelta(days=7), every: timedelta = timedelta(hours=1)):
        self.keep, self.every = keep, every
        self._last: datetime | None = None

    def __call__(self, store: Store, now: datetime) -> list[int]:
        if self._last is not None and now - self._last < self.every:
            return []
        self._last = now
        return purge_worktables(store, now, self.keep)


def _run_of(name: str) -> int | None:
    m = _RUN_OF.match(name)
    return int(m.group(1)) if m else None
