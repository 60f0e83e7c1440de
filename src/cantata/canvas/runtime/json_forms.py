"""Runs as JSON data: what `cantata campaign ... --json` prints and the REST API answers, so
both give the same shapes from the same code."""

from __future__ import annotations

from typing import Any

from cantata.canvas.runtime.runner import Runner
from cantata.canvas.runtime.runs import NodeRun, Run, node_runs, transitions
from cantata.store.base import Store


def run_json(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "campaign": run.campaign,
        "version": run.version,
        "status": run.status,
        "test_mode": run.test_mode,
        "as_of": run.as_of.isoformat(),
        "variables": run.variables,
        "idempotency_key": run.idempotency_key,
        "errors": run.errors,
        "error": run.error,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def node_run_json(n: NodeRun) -> dict[str, Any]:
    return {
        "node": n.node,
        "status": n.status,
        "attempt": n.attempt,
        "as_of": n.as_of.isoformat(),
        "wake_at": n.wake_at.isoformat() if n.wake_at else None,
        "counts": n.counts,
        "details": n.details,
        "error": n.error,
        "elapsed_ms": n.elapsed_ms,
        "statements": n.statements,
    }


def run_graph_json(runner: Runner, run: Run) -> dict[str, Any]:
    """The run, every activity's status, and the rows on every transition (port → targets)."""
    canvas = runner.canvas(run)
    nodes = node_runs(runner.store, run.id)
    trans = transitions(runner.store, run.id)
    return {
        "run": run_json(run),
        "activities": {n: nodes[n].status if n in nodes else None for n in canvas.order},
        "transitions": [
            {
                "from": f"{node}.{port}",
                "to": [t.target for t in canvas.outbound(node) if t.port == port],
                "rows": rec.row_count,
                "activated": rec.activated,
            }
            for (node, port), rec in sorted(trans.items())
        ],
    }


def run_log_json(store: Store, run: Run) -> dict[str, Any]:
    """The run and its activities: status, attempts, rows per port, time, errors, SQL."""
    return {
        "run": run_json(run),
        "activities": [node_run_json(n) for n in node_runs(store, run.id).values()],
    }
