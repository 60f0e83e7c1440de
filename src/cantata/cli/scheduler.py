"""`cantata scheduler`: the loop firing due occurrences and waits (see cantata.canvas.scheduler).

The loop's core takes the clock and the sleep as parameters; here they are the real ones,
and SIGINT / SIGTERM stop it cleanly (the lease is released for a standby to take over).
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from cantata.canvas.runtime.scheduled import retention_of
from cantata.canvas.scheduler import (
    LEASE,
    Fired,
    Runner,
    lease_holder,
    release_lease,
    run_scheduler,
    scheduler_turn,
)
from cantata.cli.common import WorkspaceOption, console, err_console, reports_errors, workspace
from cantata.errors import CantataError, ConfigError
from cantata.workspace import Workspace

# The runner's factory: called with the workspace, it returns the object the scheduler calls
# (start_occurrence / resume_wait, recording through the workspace's store) and, if it has
# one, `advance(now)`, called after each committed round to execute what was recorded.
DEFAULT_RUNNER = "cantata.canvas.runtime:scheduler_runner"


def load_runner(spec: str, ws: Workspace) -> Runner:
    """`module:factory` → factory(ws), checked to have the two methods the scheduler calls."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"runner {spec!r}: write it module:factory")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load the campaign runner {spec!r}: {exc}") from None
    runner: Any = factory(ws)
    missing = [
        m for m in ("start_occurrence", "resume_wait") if not callable(getattr(runner, m, None))
    ]
    if missing:
        raise ConfigError(f"the runner from {spec!r} has no {' or '.join(missing)}")
    return runner  # type: ignore[no-any-return]


def _setting(ws: Workspace, key: str, given: Any, default: Any, kind: type) -> Any:
    """The command-line value, else [scheduler] KEY from cantata.toml, else the default."""
    if given is not None:
        return given
    value = ws.settings.raw.get("scheduler", {}).get(key, default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(f"[scheduler] {key} must be a {kind.__name__}", where="cantata.toml")
    return value


def _parse_now(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CantataError(f"--now {text!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise CantataError(f"--now {text!r} needs an offset or Z: it is an instant (UTC)")
    return moment.astimezone(UTC)


def describe(fired: Fired) -> str:
    t = fired.timer
    what = (
        f"occurrence {t.occurrence_key} (v{t.version})"
        if t.kind == "occurrence"
        else f"wait {t.run_id}/{t.node}"
    )
    line = f"{fired.outcome:<6} {what} due {t.fire_at:%Y-%m-%d %H:%M:%SZ}"
    return line + (f": {fired.error}" if fired.error else "")


@reports_errors
def scheduler(
    ws_path: WorkspaceOption = None,
    owner: Annotated[
        str | None,
        typer.Option(
            help="This scheduler's name in the lease (default: HOST:PID).", show_default=False
        ),
    ] = None,
    interval: Annotated[
        float | None,
        typer.Option(
            help="Longest sleep between polls, in seconds (default 5).",
            min=0.01,
            show_default=False,
        ),
    ] = None,
    lease_ttl: Annotated[
        float | None,
        typer.Option(
            "--lease-ttl",
            help="Seconds the lease lasts unless renewed (default: 3 × interval, at least 60).",
            show_default=False,
        ),
    ] = None,
    batch: Annotated[
        int | None,
        typer.Option(
            help="Timers fired per transaction round (default 100).", min=1, show_default=False
        ),
    ] = None,
    runner: Annotated[
        str | None,
        typer.Option(
            help=f"The runner factory, module:function (default {DEFAULT_RUNNER}).",
            show_default=False,
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Fire what is due now, once, and exit.")
    ] = False,
    now: Annotated[
        str | None,
        typer.Option(
            help="With --once: fire what is due at this instant (ISO-8601 with offset).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Fire due campaign occurrences and waits while holding the scheduler lease."""
    if now is not None and not once:
        raise CantataError("--now goes with --once (the loop follows the real clock)")
    me = owner or f"{socket.gethostname()}:{os.getpid()}"
    with workspace(ws_path) as ws:
        every = _setting(ws, "interval", interval, 5.0, float)
        ttl = _setting(ws, "lease_ttl", lease_ttl, max(60.0, 3 * every), float)
        size = _setting(ws, "batch", batch, 100, int)
        the_runner = load_runner(_setting(ws, "runner", runner, DEFAULT_RUNNER, str), ws)
        advance: Callable[[datetime], None] | None = getattr(the_runner, "advance", None)
        retention = retention_of(ws)
        store = ws.store
        if once:
            at = _parse_now(now) if now else datetime.now(UTC)
            try:
                handled = scheduler_turn(
                    store, at, me, the_runner, ttl=ttl, batch=size,
                    on_fired=lambda f: console.print(describe(f), highlight=False),
                    after_fire=advance, each_turn=lambda t: retention(store, t),
                )  # fmt: skip
            finally:
                release_lease(store, LEASE, me)
            if handled is None:
                holder = lease_holder(store, LEASE, at)
                who = f"{holder[0]} until {holder[1]:%Y-%m-%d %H:%M:%SZ}" if holder else "another"
                err_console.print(f"not fired: the scheduler lease is held by {who}")
                raise typer.Exit(1)
            console.print(f"{sum(f.outcome == 'fired' for f in handled)} fired", highlight=False)
            return

        stopping = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stopping.set())
        err_console.print(f"scheduler {me}: polling every {every:g}s (lease ttl {ttl:g}s)")
        count = run_scheduler(
            store,
            clock=lambda: datetime.now(UTC),
            sleep=stopping.wait,  # a stop signal wakes it
            owner=me,
            runner=the_runner,
            stop=stopping.is_set,
            interval=every,
            ttl=ttl,
            batch=size,
            on_fired=lambda f: console.print(describe(f), highlight=False),
            after_fire=advance,
            each_turn=lambda at: retention(store, at),
        )
        err_console.print(f"scheduler {me}: stopped after firing {count}")
