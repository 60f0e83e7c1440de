"""Runs, node runs and transitions as stored (migrations 0005, 0011): records and their queries.

A node run carries its transitions as JSON, so finishing an activity is one statement.

Times in the store are naive UTC; records carry aware UTC datetimes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cantata.canvas.timestamps import aware, db_time, utc
from cantata.errors import CantataError, NotFoundError
from cantata.store.base import Store

# Run statuses. A finished run never changes again; the others can be resumed.
RUNNING, PAUSED, STOPPED, COMPLETED = "running", "paused", "stopped", "completed"
FAILED, SUSPENDED, WAITING = "failed", "suspended", "waiting"
FINISHED = frozenset({STOPPED, COMPLETED, FAILED})

# Node statuses. `failed` is redone when a suspended run resumes; `ignored` is a failure the
# error policy let pass (its branch ends there). Settled nodes are never redone.
DONE, SKIPPED, IGNORED = "done", "skipped", "ignored"
NODE_WAITING, PENDING_DELIVERY = "waiting", "pending_delivery"
SETTLED = frozenset({DONE, SKIPPED, IGNORED})


class RunError(CantataError):
    """A run cannot be found, resumed, paused or stopped as asked."""


class RunNotFound(RunError, NotFoundError):
    """No run of that id."""


@dataclass(frozen=True)
class Run:
    id: int
    campaign: str
    version: int | None  # None: a test run of a draft
    status: str
    variables: dict[str, Any]  # as given (JSON values); bind_variables types them
    idempotency_key: str | None
    test_mode: bool
    parent_run: int | None
    as_of: datetime  # the time its sources read the data at
    errors: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    purged_at: datetime | None
    definition: str | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass(frozen=True)
class NodeRun:
    run: int
    node: str
    status: str
    attempt: int
    seq: int | None
    as_of: datetime
    wake_at: datetime | None
    counts: dict[str, int]
    statements: list[dict[str, Any]]
    details: dict[str, Any]
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    elapsed_ms: float | None

    @property
    def output_time(self) -> datetime:
        """When its outputs are available, logically: a wait's wake time, else its as-of."""
        return self.wake_at or self.as_of


@dataclass(frozen=True)
class TransitionRecord:
    """What left one output port of a completed activity."""

    run: int
    node: str
    port: str
    worktable: str | None
    slice: str | None
    row_count: int | None
    activated: bool

    @property
    def ref(self) -> str:
        return f"{self.node}.{self.port}"


_RUN_COLUMNS = (
    "id, campaign, version, status, variables, idempotency_key, test_mode, parent_run, as_of, "
    "errors, error, started_at, finished_at, purged_at, definition"
)


def _run(row: Sequence[Any]) -> Run:
    (id_, campaign, version, status, variables, key, test, parent, as_of, errors, error) = row[:11]
    started, finished, purged, definition = row[11:]
    return Run(
        int(id_),
        campaign,
        None if version is None else int(version),
        status,
        json.loads(variables),
        key,
        bool(test),
        None if parent is None else int(parent),
        aware(as_of),
        int(errors),
        error,
        aware(started),
        utc(finished),
        utc(purged),
        definition,
    )


def load_run(store: Store, run_id: int) -> Run:
    row = store.fetchone(f"SELECT {_RUN_COLUMNS} FROM cantata_run WHERE id = %s", [run_id])
    if row is None:
        raise RunNotFound(f"no run {run_id}: `cantata campaign runs NAME` lists a campaign's runs")
    return _run(row)


def find_run(store: Store, campaign: str, idempotency_key: str) -> Run | None:
    row = store.fetchone(
        f"SELECT {_RUN_COLUMNS} FROM cantata_run WHERE campaign = %s AND idempotency_key = %s",
        [campaign, idempotency_key],
    )
    return _run(row) if row else None


def runs_of(store: Store, campaign: str, limit: int = 20) -> list[Run]:
    rows = store.fetchall(
        f"SELECT {_RUN_COLUMNS} FROM cantata_run WHERE campaign = %s ORDER BY id DESC LIMIT %s",
        [campaign, limit],
    )
    return [_run(r) for r in rows]


def runs_with_status(store: Store, statuses: Sequence[str]) -> list[Run]:
    marks = ", ".join(["%s"] * len(statuses))
    rows = store.fetchall(
        f"SELECT {_RUN_COLUMNS} FROM cantata_run WHERE status IN ({marks}) ORDER BY id",
        list(statuses),
    )
    return [_run(r) for r in rows]


def insert_run(
    store: Store,
    *,
    campaign: str,
    version: int | None,
    definition: str | None,
    variables: Mapping[str, Any],
    idempotency_key: str | None,
    test_mode: bool,
    parent_run: int | None,
    now: datetime,
) -> int | None:
    """Record a new run; None when the campaign already has a run with this idempotency key
    (another process may have started it since the caller looked)."""
    run_id = int(store.scalar("SELECT nextval('cantata_run_id')"))
    inserted = store.execute(
        "INSERT INTO cantata_run (id, campaign, version, definition, status, variables, "
        "idempotency_key, test_mode, parent_run, as_of, errors, started_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s) "
        "ON CONFLICT (campaign, idempotency_key) DO NOTHING",
        [
            run_id,
            campaign,
            version,
            definition,
            RUNNING,
            json.dumps(dict(variables), default=str),
            idempotency_key,
            test_mode,
            parent_run,
            db_time(now),
            db_time(now),
        ],
    )
    return run_id if inserted else None


def set_run_status(
    store: Store,
    run_id: int,
    status: str,
    *,
    finished_at: datetime | None = None,
    error: str | None = None,
    only: str | None = None,
) -> bool:
    """Set a run's status (`only` from that status: a run paused meanwhile stays paused);
    return whether it changed."""
    params = [status, db_time(finished_at) if finished_at else None, error, run_id]
    sql = (
        "UPDATE cantata_run SET status = %s, finished_at = %s, error = COALESCE(%s, error) "
        "WHERE id = %s"
    )
    if only is not None:
        sql += " AND status = %s"
        params.append(only)
    return store.execute(sql, params) != 0


def run_status(store: Store, run_id: int) -> str:
    return str(store.scalar("SELECT status FROM cantata_run WHERE id = %s", [run_id]))


_NODE_COLUMNS = (
    "run, node, status, attempt, seq, as_of, wake_at, counts, statements, details, error, "
    "started_at, finished_at, elapsed_ms"
)


def node_runs(store: Store, run_id: int, node: str | None = None) -> dict[str, NodeRun]:
    """The node runs of a run (of one node only when `node` is given), by node."""
    only = " AND node = %s" if node is not None else ""
    rows = store.fetchall(
        f"SELECT {_NODE_COLUMNS} FROM cantata_node_run WHERE run = %s{only} "
        "ORDER BY seq IS NULL, seq, started_at, node",
        [run_id] if node is None else [run_id, node],
    )
    out: dict[str, NodeRun] = {}
    for r in rows:
        run, node, status, attempt, seq, as_of, wake_at, counts, statements, details = r[:10]
        error, started, finished, elapsed = r[10:]
        out[node] = NodeRun(
            int(run),
            node,
            status,
            int(attempt),
            None if seq is None else int(seq),
            aware(as_of),
            utc(wake_at),
            json.loads(counts) if counts else {},
            json.loads(statements) if statements else [],
            json.loads(details) if details else {},
            error,
            aware(started),
            utc(finished),
            None if elapsed is None else float(elapsed),
        )
    return out


def transitions(
    store: Store, run_id: int, node: str | None = None
) -> dict[tuple[str, str], TransitionRecord]:
    """The transitions a run's activities recorded (one activity's when `node` is given)."""
    only = " AND node = %s" if node is not None else ""
    rows = store.fetchall(
        f"SELECT node, transitions FROM cantata_node_run WHERE run = %s{only} "
        "AND transitions IS NOT NULL ORDER BY node",
        [run_id] if node is None else [run_id, node],
    )
    return {
        (record.node, record.port): record
        for node_id, doc in rows
        for record in decode_transitions(run_id, node_id, doc)
    }


def encode_transitions(records: Sequence[TransitionRecord]) -> str:
    return json.dumps(
        [
            {
                "port": r.port,
                "worktable": r.worktable,
                "slice": r.slice,
                "rows": r.row_count,
                "activated": r.activated,
            }
            for r in sorted(records, key=lambda r: r.port)
        ]
    )


def decode_transitions(run_id: int, node: str, doc: str) -> list[TransitionRecord]:
    return [
        TransitionRecord(
            run_id,
            node,
            t["port"],
            t["worktable"],
            t["slice"],
            None if t["rows"] is None else int(t["rows"]),
            bool(t["activated"]),
        )
        for t in json.loads(doc)
    ]
