"""The runner: executes a run of a campaign, activity by activity, on worktables.

A run walks the canvas in topological order. An activity runs when its inbound transitions
allow it (`readiness`): most when their one input has arrived; `combine` once every input has
settled; `and_join` when all it waits for have arrived; `or_join` and `end` at the first
arrival. An activity whose inputs will never arrive is skipped, and so, in turn, is what
follows it.

An activity begins only if the run is still running (that is how a pause or stop takes
effect); on PostgreSQL, where other processes can watch, its node run is recorded as running
by that same check. Then one transaction creates its worktables, runs its commit hooks (saving
an audience, remembering incremental keys, recording an alert) and records the node run as
done, with its counts and transitions, in one statement. After a crash a node is therefore
either done — and never redone — or redone from its inputs, which are done and unchanged.

The runner keeps nothing between calls: `start`, `resume`, `wake`, `resume_due_waits` and
`complete_delivery` read the run from the store, advance it as far as it can go at `now`, and
leave it completed, waiting (for a wait or a delivery), paused, suspended, stopped or failed.
Within a call it reads the node runs and transitions once and keeps those it writes.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from cantata.canvas import lifecycle
from cantata.canvas.activities.base import Population
from cantata.canvas.activities.control import AndJoin
from cantata.canvas.activities.targeting import Combine
from cantata.canvas.definition import Campaign, bind_variables, load_campaign, parse_campaign
from cantata.canvas.runtime import channels, enrich, flow, targeting
from cantata.canvas.runtime.dialect import analyze, others_can_watch, try_lock_run, unlock_run
from cantata.canvas.runtime.node import Arrival, Executor, NodeContext, PortResult, Write
from cantata.canvas.runtime.runs import (
    COMPLETED,
    DONE,
    FAILED,
    IGNORED,
    NODE_WAITING,
    PAUSED,
    PENDING_DELIVERY,
    RUNNING,
    SETTLED,
    SKIPPED,
    STOPPED,
    SUSPENDED,
    WAITING,
    NodeRun,
    Run,
    RunError,
    TransitionRecord,
    encode_transitions,
    find_run,
    insert_run,
    load_run,
    node_runs,
    run_status,
    set_run_status,
    transitions,
)
from cantata.canvas.runtime.worktable import KEY, PORT
from cantata.canvas.timestamps import aware, db_time, utc
from cantata.canvas.validate import Canvas, Transition
from cantata.errors import CantataError, did_you_mean
from cantata.model import Model
from cantata.store.base import Store, quote_ident

EXECUTORS: dict[str, Executor] = {
    "build_audience": targeting.build_audience,
    "read_audience": targeting.read_audience,
    "incremental_query": targeting.incremental_query,
    "combine": targeting.combine,
    "dedupe": targeting.dedupe,
    "split": targeting.split,
    "change_dimension": targeting.change_dimension,
    "save_audience": targeting.save_audience,
    "enrich": enrich.enrich,
    "start": flow.start,
    "fork": flow.fork,
    "and_join": flow.and_join,
    "or_join": flow.or_join,
    "wait": flow.wait,
    "test": flow.test,
}

# An observer sees (event, run, node) for event in started | written | committed: progress
# display, and the crash tests' kill points.
Observer = Callable[[str, int, str], None]
# Called when a node starts waiting: (run, node, wake_at), for a scheduler to set its timer.
WaitHook = Callable[[int, str, datetime], None]

RUN, SKIP, WAIT = "run", "skip", "wait"
# The keys of scheduled occurrences (scheduler.occurrence_key), reserved for the scheduler.
_SCHEDULER_KEY = re.compile(r"^.+@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
# What an activity left in the store: its node run and its transitions by (node, port).
Recorded = tuple[NodeRun, dict[tuple[str, str], TransitionRecord]]


class _NotRunning(Exception):
    """The run was paused, stopped or suspended before an activity began: the run stops there."""


log = logging.getLogger("cantata.runner")


class Runner:
    def __init__(
        self,
        store: Store,
        model: Model,
        *,
        on_alert: Callable[[flow.AlertRaised], None] | None = None,
        on_wait: WaitHook | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.store = store
        self.model = model
        self.on_wait = on_wait
        self.observer = observer
        self.hooks = flow.Hooks(on_alert, self._start_from_end)
        self._canvases: dict[int, Canvas] = {}
        self._started: list[int] = []  # runs started by `end` activities, to execute next

    # --- runs: start, test, resume, pause, stop --------------------------------------------

    def start(
        self,
        campaign: str,
        *,
        now: datetime,
        variables: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        version: int | None = None,
    ) -> Run:
        """Start a run of the campaign's published version (the latest, or `version`) and
        advance it. With an idempotency key already used for this campaign, return that run
        and do nothing."""
        return self.launch(
            campaign,
            now=now,
            variables=variables,
            idempotency_key=idempotency_key,
            version=version,
        )[0]

    def launch(
        self,
        campaign: str,
        *,
        now: datetime,
        variables: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        version: int | None = None,
    ) -> tuple[Run, bool]:
        """`start`, also telling whether the run is new (false: the key's earlier run)."""
        if idempotency_key is not None and _SCHEDULER_KEY.match(idempotency_key):
            # Taking one would start the scheduler's occurrence early or keep it from starting.
            raise RunError(
                f"idempotency key {idempotency_key!r} has the form of the scheduler's keys "
                "(CAMPAIGN@TIME): choose another"
            )
        run, new = self._record(campaign, now, variables, idempotency_key, version)
        return (self._advance_all(run.id, now, new=True), True) if new else (run, False)

    def create(
        self,
        campaign: str,
        *,
        now: datetime,
        variables: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        version: int | None = None,
    ) -> Run:
        """Record a run without executing it — `resume` executes it. For callers inside their
        own transaction, like the scheduler. Idempotent per key, as `start`."""
        return self._record(campaign, now, variables, idempotency_key, version)[0]

    def _record(
        self,
        campaign: str,
        now: datetime,
        variables: Mapping[str, Any] | None,
        idempotency_key: str | None,
        version: int | None,
    ) -> tuple[Run, bool]:
        """The run for this start, and whether it is new."""
        if idempotency_key is not None:
            existing = find_run(self.store, campaign, idempotency_key)
            if existing is not None:
                return existing, False
        run_id = self._create(campaign, variables or {}, idempotency_key, None, now, version)
        if run_id is None:  # another process started it since we looked
            assert idempotency_key is not None
            raced = find_run(self.store, campaign, idempotency_key)
            assert raced is not None
            return raced, False
        return load_run(self.store, run_id), True

    def test(
        self, campaign: Campaign, *, now: datetime, variables: Mapping[str, Any] | None = None
    ) -> Run:
        """Run a draft in test mode: targeting and flow activities run on worktables; nothing is
        saved or sent, waits do not wait, channels end the flow."""
        canvas = _runnable(lifecycle.check(self.store, self.model, campaign))
        typed = bind_variables(campaign, variables or {})
        with self.store.transaction():
            run_id = insert_run(
                self.store,
                campaign=campaign.name,
                version=None,
                definition=lifecycle.definition_json(campaign),
                variables=_stored(typed),
                idempotency_key=None,
                test_mode=True,
                parent_run=None,
                now=now,
            )
        assert run_id is not None  # no idempotency key: always a new run
        self._canvases[run_id] = canvas
        return self._advance_all(run_id, now, new=True)

    def resume(self, run_id: int, *, now: datetime) -> Run:
        """Continue a run after a crash, a pause or a suspension (a failed node is redone)."""
        run = load_run(self.store, run_id)
        if run.finished:
            raise RunError(f"run {run_id} is {run.status}; there is nothing to resume")
        set_run_status(self.store, run_id, RUNNING)
        return self._advance_all(run_id, now)

    def pause(self, run_id: int) -> Run:
        """Pause a running or waiting run: it stops before its next activity, and due waits
        do not continue it until it is resumed."""
        run = load_run(self.store, run_id)
        if run.status not in (RUNNING, WAITING):
            raise RunError(f"run {run_id} is {run.status}; only a running or waiting run pauses")
        set_run_status(self.store, run_id, PAUSED)
        return load_run(self.store, run_id)

    def stop(self, run_id: int, *, now: datetime) -> Run:
        """Stop a run for good: no activity of it runs again."""
        run = load_run(self.store, run_id)
        if run.finished:
            raise RunError(f"run {run_id} is already {run.status}")
        set_run_status(self.store, run_id, STOPPED, finished_at=now)
        return load_run(self.store, run_id)

    # --- what schedulers and the delivery engine call ---------------------------------------

    def wake(self, run_id: int, node: str, *, now: datetime) -> Run:
        """A timer for `node` fired: continue the run if it is waiting (a paused run continues
        when it is resumed)."""
        run = load_run(self.store, run_id)
        if run.status != WAITING:
            return run
        return self._advance_all(run_id, now)

    def resume_due_waits(self, *, now: datetime) -> list[Run]:
        """Continue every waiting run with a wait over at `now`."""
        ids = [
            int(r[0])
            for r in self.store.fetchall(
                "SELECT DISTINCT n.run FROM cantata_node_run AS n JOIN cantata_run AS r "
                "ON r.id = n.run WHERE n.status = %s AND n.wake_at <= %s AND r.status = %s "
                "ORDER BY n.run",
                [NODE_WAITING, db_time(now), WAITING],
            )
        ]
        advanced = []
        for run_id in ids:
            with suppress(RunError):  # being advanced by another process
                advanced.append(self._advance_all(run_id, now))
        return advanced

    def complete_delivery(self, run_id: int, node: str, *, now: datetime) -> Run:
        """The delivery engine queued a channel's messages: its population continues."""
        found = node_runs(self.store, run_id).get(node)
        if found is None or found.status != PENDING_DELIVERY:
            status = found.status if found else "not started"
            raise RunError(f"{node} of run {run_id} is {status}, not pending delivery")
        details = {**found.details, "delivered_at": db_time(now).isoformat()}
        self.store.execute(
            "UPDATE cantata_node_run SET details = %s WHERE run = %s AND node = %s",
            [json.dumps(details), run_id, node],
        )
        return self.wake(run_id, node, now=now)

    # --- reading ----------------------------------------------------------------------------

    def canvas(self, run: Run) -> Canvas:
        """The validated canvas a run executes (its version, or a test run's draft)."""
        if run.id not in self._canvases:
            if run.definition is not None:
                text, source = run.definition, f"{run.campaign} (test run {run.id})"
            else:
                assert run.version is not None
                text = lifecycle.version(self.store, run.campaign, run.version).definition
                source = f"{run.campaign} v{run.version}"
            canvas = lifecycle.check(self.store, self.model, parse_campaign(text, source))
            self._canvases[run.id] = _runnable(canvas)
        return self._canvases[run.id]

    def transition_rows(
        self, run_id: int, ref: str, limit: int = 20
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and the first rows (by key) of transition `node` or `node.port`."""
        run = load_run(self.store, run_id)
        canvas = self.canvas(run)
        node, _, port = ref.partition(".")
        activity = canvas.activities.get(node)
        if activity is None:
            raise RunError(
                f"run {run_id} has no activity {node!r}{did_you_mean(node, canvas.activities)}"
            )
        ports = list(activity.outputs)
        port = port or ("out" if "out" in ports else "")
        if port not in ports:
            names = ", ".join(f"{node}.{p}" for p in ports) or "none"
            raise RunError(f"{node!r} has no output {port or '(unnamed)'!r} (outputs: {names})")
        if run.purged_at is not None:
            raise RunError(
                f"the worktables of run {run_id} were purged on {run.purged_at:%Y-%m-%d}"
            )
        record = transitions(self.store, run_id).get((node, port))
        if record is None:
            status = node_runs(self.store, run_id).get(node)
            raise RunError(
                f"{node}.{port} has carried nothing yet ({node} is "
                f"{status.status if status else 'not started'})"
            )
        flow_ = activity.outputs[port]
        if record.worktable is None or not isinstance(flow_, Population):
            return [], []
        columns = [KEY, *flow_.columns]
        names = ", ".join(quote_ident(c) for c in columns)
        rows = self.store.fetchall(
            f"SELECT {names} FROM {quote_ident(record.worktable)} WHERE {quote_ident(PORT)} = %s "
            f"ORDER BY {quote_ident(KEY)} LIMIT %s",
            [record.slice, limit],
        )
        key_name = self.model.entities[flow_.entity].key
        return [key_name, *flow_.columns], rows

    # --- advancing a run --------------------------------------------------------------------

    def _create(
        self,
        name: str,
        variables: Mapping[str, Any],
        idempotency_key: str | None,
        parent: int | None,
        now: datetime,
        number: int | None = None,
    ) -> int | None:
        """The new run's id (None: the idempotency key's run exists)."""
        version = lifecycle.runnable_version(self.store, name)
        if number is not None and number != version.version:
            version = lifecycle.version(self.store, name, number)
            if version.status != "published":
                raise RunError(f"campaign {name!r} v{number} is a draft; publish it first")
        typed = bind_variables(version.parse(), variables)
        with self.store.transaction():
            return insert_run(
                self.store,
                campaign=name,
                version=version.version,
                definition=None,
                variables=_stored(typed),
                idempotency_key=idempotency_key,
                test_mode=False,
                parent_run=parent,
                now=now,
            )

    def _start_from_end(
        self, name: str, variables: dict[str, Any], key: str, parent: int, as_of: datetime
    ) -> int:
        existing = find_run(self.store, name, key)
        if existing is not None:
            return existing.id
        run_id = self._create(name, variables, key, parent, as_of)
        if run_id is None:  # started by another process since we looked
            raced = find_run(self.store, name, key)
            assert raced is not None
            return raced.id
        self._started.append(run_id)
        return run_id

    def _advance_all(self, run_id: int, now: datetime, *, new: bool = False) -> Run:
        """Advance the run (`new`: just recorded, nothing of it run yet), then the runs its
        `end` activities started."""
        self._advance(run_id, now, new=new)
        while self._started:
            self._advance(self._started.pop(0), now, new=True)
        return load_run(self.store, run_id)

    def _advance(self, run_id: int, now: datetime, *, new: bool) -> None:
        if not try_lock_run(self.store, run_id):
            raise RunError(f"run {run_id} is being executed (by another thread or process)")
        try:
            run = load_run(self.store, run_id)
            if run.status == WAITING:
                if not set_run_status(self.store, run_id, RUNNING, only=WAITING):
                    return  # paused or stopped meanwhile
            elif run.status != RUNNING:
                return  # paused, suspended or finished: resume() decides
            try:
                canvas = self.canvas(run)
                variables = bind_variables(canvas.campaign, run.variables)
            except CantataError as exc:
                set_run_status(self.store, run_id, FAILED, finished_at=now, error=str(exc))
                return
            # Read once (a new run has none): each activity's records are then kept as
            # written, not read back.
            nodes = {} if new else node_runs(self.store, run_id)
            trans = {} if new else transitions(self.store, run_id)
            for node_id in canvas.order:
                prior = nodes.get(node_id)
                if prior is not None and _stays(prior):
                    continue
                decision, arrivals = readiness(canvas, node_id, nodes, trans)
                if decision == WAIT:
                    continue
                recorded: Recorded | None
                try:
                    if decision == SKIP:
                        recorded = self._skip(run, node_id, _next_seq(nodes), now, prior=prior)
                    else:
                        recorded = self._execute(
                            run, canvas, node_id, arrivals, nodes, trans, variables, now
                        )
                except _NotRunning:
                    break  # paused or stopped meanwhile, or suspended by the error policy
                if recorded is None:  # failed: read back what the error policy recorded
                    nodes.update(node_runs(self.store, run_id, node_id))
                    trans.update(transitions(self.store, run_id, node_id))
                else:
                    nodes[node_id] = recorded[0]
                    for stale in [k for k in trans if k[0] == node_id]:
                        del trans[stale]  # an earlier attempt's, replaced in the store too
                    trans.update(recorded[1])
            self._settle(run, canvas, nodes, now)
        finally:
            unlock_run(self.store, run_id)

    def _execute(
        self,
        run: Run,
        canvas: Canvas,
        node_id: str,
        arrivals: list[Arrival],
        nodes: Mapping[str, NodeRun],
        trans: Mapping[tuple[str, str], TransitionRecord],
        variables: Mapping[str, Any],
        now: datetime,
    ) -> Recorded | None:
        """Run one activity; return its node run and transitions as stored (None: failed)."""
        prior = nodes.get(node_id)
        resumed = prior is not None and prior.status in (NODE_WAITING, PENDING_DELIVERY)
        attempt = (prior.attempt + (0 if resumed else 1)) if prior else 1
        activated = [a.output_time for a in arrivals if a.state == "activated" and a.output_time]
        as_of = max(activated, default=run.as_of)
        # Where other processes can watch the run, the activity is recorded as running first
        # (in a statement that also checks the run still is); elsewhere one transaction
        # records it when it settles. Either way a pause or stop takes effect here.
        watched = not resumed and others_can_watch(self.store)
        if watched:
            self._record_start(run.id, node_id, RUNNING, attempt, as_of, now, fresh=prior is None)
        elif run_status(self.store, run.id) != RUNNING:
            raise _NotRunning
        if not resumed:
            self._notify("started", run.id, node_id)
        stored = watched or prior is not None  # the node run has a row to update
        ctx = NodeContext(
            self.store,
            self.model,
            canvas,
            run,
            node_id,
            as_of,
            now,
            arrivals,
            _counts(canvas, trans),
            variables,
            previous=prior,
        )
        statements: list[dict[str, Any]] = []
        clock = time.perf_counter()
        try:
            output = self._executor(canvas, node_id)(ctx)
            seq = _next_seq(nodes)
            done = output.status == DONE
            # One transaction writes the worktables and records the node: a crash before its
            # commit leaves no table, and the node running or unrecorded: redone from its inputs.
            with self.store.transaction():
                counted = self._write(output.writes, statements, replace=prior is not None)
                self._notify("written", run.id, node_id)
                ports = _resolve(output.ports, counted)
                for hook in output.on_commit:
                    hook()
                statements += [{"sql": sql} for sql in ctx.statements]
                recorded = self._transitions(run.id, node_id, ports) if done else {}
                # The node run as stored, kept for the rest of the run (a resumed attempt
                # keeps the as-of and start of the attempt that began it).
                record = NodeRun(
                    run.id,
                    node_id,
                    output.status,
                    attempt,
                    seq if done else None,
                    prior.as_of if resumed and prior else as_of,
                    output.wake_at,
                    {p: r.count for p, r in ports.items() if r.count is not None},
                    statements,
                    json.loads(json.dumps(output.details, default=str)),  # as it reads back
                    None,
                    prior.started_at if resumed and prior else now,
                    now if done else None,
                    _elapsed(clock),
                )
                self._put_node(record, list(recorded.values()) if done else None, stored=stored)
        except Exception as exc:  # the run's error boundary: recorded, then the policy applies
            error, elapsed = f"{type(exc).__name__}: {exc}".strip(), _elapsed(clock)
            if resumed and prior is not None:  # the attempt that began it keeps its record
                began = prior
            else:
                began = NodeRun(
                    run.id, node_id, RUNNING, attempt, None, as_of, None, {}, [], {}, None, now,
                    None, None,
                )  # fmt: skip
            failed = replace(
                began, statements=statements, error=error, finished_at=now, elapsed_ms=elapsed
            )
            self._fail(canvas, failed, stored=stored)
            return None
        hooks = list(output.after_commit)
        if output.status == NODE_WAITING and not resumed and self.on_wait is not None:
            on_wait, wake_at = self.on_wait, output.wake_at
            assert wake_at is not None
            hooks.append(lambda: on_wait(run.id, node_id, wake_at))
        for hook in hooks:
            # The node is done: a failing notification must not stop the run (a missed
            # timer is caught up by resume_due_waits, which reads the node runs).
            try:
                hook()
            except Exception:
                log.exception(
                    "run %s, %s: a hook failed after the activity completed", run.id, node_id
                )
        self._notify("committed", run.id, node_id)
        return _as_stored(record), recorded

    def _executor(self, canvas: Canvas, node_id: str) -> Executor:
        kind = canvas.activities[node_id].type
        if kind.kind == "channel":
            return channels.channel
        if kind.name == "alert":
            return lambda ctx: flow.alert(ctx, self.hooks)
        if kind.name == "end":
            return lambda ctx: flow.end(ctx, self.hooks)
        return EXECUTORS[kind.name]

    def _write(
        self, writes: Sequence[Write], statements: list[dict[str, Any]], *, replace: bool
    ) -> dict[str, dict[str, int]]:
        """Create each write's worktable (replacing one a completed earlier attempt left, a
        wait's or a hand-back's: `replace`); return its rows per port."""
        counted: dict[str, dict[str, int]] = {}
        for write in writes:
            table = quote_ident(write.table)
            create = f"CREATE TABLE {table} AS {write.select}"
            if replace and self.store.dialect == "duckdb":
                create = f"CREATE OR REPLACE TABLE {table} AS {write.select}"
            elif replace:
                self.store.execute(f"DROP TABLE IF EXISTS {table}")
            entry: dict[str, Any] = {"sql": create}
            statements.append(entry)  # logged before it runs: a failing statement shows too
            clock = time.perf_counter()
            written = self.store.execute(entry["sql"])
            entry["ms"] = _elapsed(clock)
            analyze(self.store, write.table)
            if write.port is not None and written >= 0:  # both engines report a CTAS's rows
                counted[write.table] = {write.port: written}
                continue
            rows = self.store.fetchall(
                f"SELECT {quote_ident(PORT)}, count(*) FROM {table} GROUP BY {quote_ident(PORT)}"
            )
            counted[write.table] = {str(port): int(n) for port, n in rows}
        return counted

    @staticmethod
    def _transitions(
        run_id: int, node: str, ports: Mapping[str, PortResult]
    ) -> dict[tuple[str, str], TransitionRecord]:
        records = {}
        for port, result in ports.items():
            found = result.slice
            records[(node, port)] = TransitionRecord(
                run_id,
                node,
                port,
                found.worktable if found else None,
                found.port if found else None,
                result.count,
                result.activated,
            )
        return records

    def _fail(self, canvas: Canvas, failed: NodeRun, *, stored: bool) -> None:
        """Record the failure, then apply the error policy: ignore it (up to N per run: the
        branch ends there), suspend the run, or abort it."""
        run_id, now = failed.run, failed.finished_at
        assert now is not None
        policy = canvas.campaign.on_error
        errors = load_run(self.store, run_id).errors + 1
        ignored = policy.action == "ignore" and errors <= policy.max_errors
        with self.store.transaction():
            status = IGNORED if ignored else FAILED
            self._put_node(replace(failed, status=status), None, stored=stored)
            self.store.execute("UPDATE cantata_run SET errors = %s WHERE id = %s", [errors, run_id])
            if not ignored:  # a run paused or stopped meanwhile stays so
                outcome, finished = (FAILED, now) if policy.action == "abort" else (SUSPENDED, None)
                set_run_status(
                    self.store,
                    run_id,
                    outcome,
                    finished_at=finished,
                    error=f"{failed.node}: {failed.error}",
                    only=RUNNING,
                )

    def _put_node(
        self, record: NodeRun, trans: Sequence[TransitionRecord] | None, *, stored: bool
    ) -> None:
        """Write a node run as it settles (or waits): over its row when it has one."""
        values = [
            record.status,
            record.attempt,
            record.seq,
            db_time(record.as_of),
            db_time(record.wake_at) if record.wake_at else None,
            json.dumps(record.counts),
            encode_transitions(trans) if trans is not None else None,
            json.dumps(record.statements),
            json.dumps(record.details),
            record.error,
            db_time(record.started_at),
            db_time(record.finished_at) if record.finished_at else None,
            record.elapsed_ms,
        ]
        if stored:
            self.store.execute(
                "UPDATE cantata_node_run SET status = %s, attempt = %s, seq = %s, as_of = %s, "
                "wake_at = %s, counts = %s, transitions = %s, statements = %s, details = %s, "
                "error = %s, started_at = %s, finished_at = %s, elapsed_ms = %s "
                "WHERE run = %s AND node = %s",
                [*values, record.run, record.node],
            )
        else:
            self.store.execute(
                "INSERT INTO cantata_node_run (status, attempt, seq, as_of, wake_at, counts, "
                "transitions, statements, details, error, started_at, finished_at, elapsed_ms, "
                "run, node) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [*values, record.run, record.node],
            )

    def _skip(
        self, run: Run, node_id: str, seq: int, now: datetime, *, prior: NodeRun | None
    ) -> Recorded:
        self._record_start(
            run.id, node_id, SKIPPED, 0, run.as_of, now, fresh=prior is None, seq=seq, done=True
        )
        record = NodeRun(
            run.id, node_id, SKIPPED, 0, seq, run.as_of, None, {}, [], {}, None, now, now, None
        )
        return _as_stored(record), {}

    def _record_start(
        self,
        run_id: int,
        node_id: str,
        status: str,
        attempt: int,
        as_of: datetime,
        now: datetime,
        *,
        fresh: bool,
        seq: int | None = None,
        done: bool = False,
    ) -> None:
        """The node run as it begins (a skip: as it ends, `done`), in one statement that
        replaces an earlier attempt's — if the run is still running: else `_NotRunning`."""
        sql = (
            "INSERT INTO cantata_node_run (run, node, status, attempt, as_of, started_at, seq, "
            "finished_at) SELECT %s, %s, %s, %s, %s, %s, %s, %s WHERE EXISTS "
            "(SELECT 1 FROM cantata_run WHERE id = %s AND status = %s)"
        )
        if not fresh:  # the usual case is fresh: a plain insert costs less than the upsert
            sql += (
                " ON CONFLICT (run, node) DO UPDATE SET status = excluded.status, "
                "attempt = excluded.attempt, as_of = excluded.as_of, "
                "started_at = excluded.started_at, seq = excluded.seq, wake_at = NULL, "
                "counts = NULL, transitions = NULL, statements = NULL, details = NULL, error = NULL, "
                "finished_at = excluded.finished_at, elapsed_ms = NULL"
            )
        params = [run_id, node_id, status, attempt, db_time(as_of), db_time(now)]
        params += [seq, db_time(now) if done else None, run_id, RUNNING]
        if self.store.execute(sql, params) == 0:
            raise _NotRunning

    def _settle(
        self, run: Run, canvas: Canvas, nodes: Mapping[str, NodeRun], now: datetime
    ) -> None:
        """Record where the run stopped; a run paused or stopped meanwhile stays so."""
        statuses = [nodes[n].status if n in nodes else None for n in canvas.order]
        if all(s in SETTLED for s in statuses):
            moved = set_run_status(self.store, run.id, COMPLETED, finished_at=now, only=RUNNING)
            if moved and not run.test_mode and canvas.campaign.schedule.once is not None:
                record = lifecycle.campaign_record(self.store, run.campaign)
                if record.state == lifecycle.LIVE:
                    lifecycle.move(self.store, run.campaign, "complete", now=now)
        elif any(s in (NODE_WAITING, PENDING_DELIVERY) for s in statuses):
            set_run_status(self.store, run.id, WAITING, only=RUNNING)
        else:
            stuck = [n for n, s in zip(canvas.order, statuses, strict=True) if s not in SETTLED]
            set_run_status(
                self.store,
                run.id,
                FAILED,
                finished_at=now,
                error=f"no activity can run any more; unsettled: {', '.join(stuck)}",
                only=RUNNING,
            )

    def _notify(self, event: str, run_id: int, node: str) -> None:
        if self.observer is not None:
            self.observer(event, run_id, node)


# --- readiness --------------------------------------------------------------------------------


def arrival(
    t: Transition,
    nodes: Mapping[str, NodeRun],
    trans: Mapping[tuple[str, str], TransitionRecord],
) -> Arrival:
    source = nodes.get(t.source)
    record = trans.get((t.source, t.port))
    if source is None or source.status not in SETTLED:
        state = "pending"
    elif source.status == DONE and record is not None and record.activated:
        state = "activated"
    else:
        state = "dead"
    return Arrival(
        t,
        record if state == "activated" else None,
        state,  # type: ignore[arg-type]
        source.output_time if source else None,
        source.seq if source else None,
    )


def readiness(
    canvas: Canvas,
    node_id: str,
    nodes: Mapping[str, NodeRun],
    trans: Mapping[tuple[str, str], TransitionRecord],
) -> tuple[str, list[Arrival]]:
    """Whether the activity runs now, is skipped (its inputs will never arrive), or waits."""
    activity = canvas.activities[node_id]
    arrivals = [arrival(t, nodes, trans) for t in canvas.inbound(node_id)]
    kind = activity.type
    if kind.starts_flow:
        return RUN, arrivals
    states = [a.state for a in arrivals]
    if kind.name in ("or_join", "end"):
        if "activated" in states:
            return RUN, arrivals
        return (SKIP if all(s == "dead" for s in states) else WAIT), arrivals
    if kind.name == "and_join":
        settings = cast(AndJoin, activity.settings)
        waited = arrivals
        if settings.wait_for is not None:
            waited = [arrivals[targeting.inbound_index(arrivals, r)] for r in settings.wait_for]
        if any(a.state == "dead" for a in waited):
            return SKIP, arrivals
        return (RUN if all(a.state == "activated" for a in waited) else WAIT), arrivals
    if kind.name == "combine":
        if "pending" in states:
            return WAIT, arrivals
        settings_ = cast(Combine, activity.settings)
        if settings_.operation == "union":
            go = "activated" in states
        elif settings_.operation == "intersection":
            go = all(s == "activated" for s in states)
        else:  # an exclusion needs its primary; the inputs it removes may be empty
            assert settings_.primary is not None
            go = arrivals[targeting.inbound_index(arrivals, settings_.primary)].state == "activated"
        return (RUN if go else SKIP), arrivals
    state = states[0]
    return (RUN if state == "activated" else SKIP if state == "dead" else WAIT), arrivals


# --- small pieces -----------------------------------------------------------------------------


def _runnable(canvas: Canvas) -> Canvas:
    """The canvas, if no column it carries takes a worktable's own name."""
    for t in canvas.transitions:
        if isinstance(t.flow, Population) and {KEY, PORT} & set(t.flow.columns):
            raise CantataError(
                f"{t.ref}: the columns {KEY} and {PORT} are the worktables' own; "
                "rename the enrichment column"
            )
    return canvas


def _next_seq(nodes: Mapping[str, NodeRun]) -> int:
    """The completion order of the next activity to settle (or_join's "first to arrive")."""
    return 1 + max((n.seq or 0 for n in nodes.values()), default=0)


def _stays(prior: NodeRun) -> bool:
    """Whether an activity is left as it is: settled, or waiting for the delivery engine."""
    undelivered = prior.status == PENDING_DELIVERY and "delivered_at" not in prior.details
    return prior.status in SETTLED or undelivered


def _resolve(
    ports: Mapping[str, PortResult], counted: Mapping[str, Mapping[str, int]]
) -> dict[str, PortResult]:
    """Fill in the counts of written slices; an empty skip_empty port is not activated."""
    out = {}
    for port, result in ports.items():
        count = result.count
        if result.slice is not None and count is None:
            count = counted.get(result.slice.worktable, {}).get(result.slice.port, 0)
        activated = result.activated and not (result.skip_empty and not count)
        out[port] = replace(result, count=count, activated=activated)
    return out


def _counts(canvas: Canvas, trans: Mapping[tuple[str, str], TransitionRecord]) -> dict[str, int]:
    """Rows of every transition, by node.port, for test conditions (0 for what did not run)."""
    counts = {f"{n}.{p}": 0 for n, a in canvas.activities.items() for p in a.outputs}
    counts.update({f"{n}.{p}": rec.row_count or 0 for (n, p), rec in trans.items()})
    return counts


def _stored(variables: Mapping[str, Any]) -> dict[str, Any]:
    """Typed variables as JSON values (dates, times and decimals as ISO text), which
    bind_variables types again when the run resumes."""
    out: dict[str, Any] = {}
    for name, value in variables.items():
        if isinstance(value, datetime | type(None) | bool | int | str):
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        else:
            out[name] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return out


def _as_stored(record: NodeRun) -> NodeRun:
    """A node run as reading it back gives it: times in UTC, to the microsecond."""
    return replace(
        record,
        as_of=aware(db_time(record.as_of)),
        wake_at=utc(db_time(record.wake_at)) if record.wake_at else None,
        started_at=aware(db_time(record.started_at)),
        finished_at=utc(db_time(record.finished_at)) if record.finished_at else None,
    )


def _elapsed(clock: float) -> float:
    return round((time.perf_counter() - clock) * 1000, 1)


# --- module-level entry points ----------------------------------------------------------------


def run_test(
    campaign: str | Path | Campaign,
    model: Model,
    store: Store,
    now: datetime,
    variables: Mapping[str, Any] | None = None,
) -> Run:
    """Test-run a campaign given as YAML/JSON text, a file, or a parsed Campaign."""
    if isinstance(campaign, Path):
        campaign = load_campaign(campaign)
    elif isinstance(campaign, str):
        campaign = parse_campaign(campaign)
    return Runner(store, model).test(campaign, now=now, variables=variables)


def resume_due_waits(store: Store, model: Model, now: datetime) -> list[Run]:
    return Runner(store, model).resume_due_waits(now=now)


def resume(store: Store, model: Model, run_id: int, now: datetime) -> Run:
    return Runner(store, model).resume(run_id, now=now)
