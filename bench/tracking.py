"""Tracking throughput: opens recorded through the tracking app (many clients at once, over
httpx's ASGI transport), against the physical limits measured in the same run on the same
store: a bare loop of the same history INSERT ... SELECT and feedback UPDATE, one transaction
per event (what a commit costs), and one transaction per group of the size the app formed
(what group commit can reach); and the same requests with a forged token, which the app
answers (404) without recording anything: the cost of HTTP in this process, client included.

    python bench/tracking.py [--engine duckdb|postgres] [--events 5000] [--clients 64]
                             [--messages 1000] [--group-max N] [--group-window-ms MS]

Every figure is events per second; the history rows are counted after each part.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from stores import bench_store, close_bench_store

from cantata.delivery.ledger import history_from_ledger
from cantata.store import Store
from cantata.tracking.app import tracking_app
from cantata.tracking.links import TrackingLinks

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
BASE = "https://t.travel.example"
SECRET = b"bench-secret-0123456789"


def prepare(store: Store, messages: int) -> None:
    stamp = NOW.replace(tzinfo=None)
    store.execute(
        "INSERT INTO cantata_run (id, campaign, version, status, variables, test_mode, as_of, "
        "started_at) VALUES (1, 'bench', 1, 'running', '{}', false, %s, %s)",
        [stamp, stamp],
    )
    store.execute(
        "INSERT INTO cantata_delivery (message_id, run, activity, campaign, channel, recipient, "
        "address, status, attempts, next_attempt_at, created_at, sent_at) "
        "SELECT 'm' || CAST(i AS TEXT), 1, 'mail', 'bench', 'email', CAST(i AS TEXT), "
        "'guest' || CAST(i AS TEXT) || '@example.com', 'sent', 1, %s, %s, %s "
        f"FROM generate_series(1, {messages}) AS t(i)",
        [stamp, stamp, stamp],
    )


def reset(store: Store) -> None:
    store.execute("DELETE FROM cantata_history")
    store.execute("UPDATE cantata_delivery SET feedback = NULL")


def recorded(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM cantata_history"))


def ids(events: int, messages: int) -> list[str]:
    return [f"m{i % messages + 1}" for i in range(events)]


def through_app(
    store: Store, mids: list[str], clients: int, options: dict[str, Any], *, forged: bool = False
) -> tuple[float, int]:
    """Seconds to answer every open, `clients` requests in flight; and the transactions the
    app committed them in. `forged`: links signed with another secret (nothing recorded)."""
    app = tracking_app(store, SECRET, clock=lambda: NOW, **options)
    links = TrackingLinks(BASE, b"not-the-app-secret-0123" if forged else SECRET)
    urls = [links.open_url(m).removeprefix(BASE) for m in mids]
    expected = 404 if forged else 200

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:

            async def one(part: list[str]) -> None:
                for url in part:
                    response = await client.get(url)
                    assert response.status_code == expected, response.status_code

            await asyncio.gather(*(one(urls[i::clients]) for i in range(clients)))

    started = time.perf_counter()
    asyncio.run(go())
    elapsed = time.perf_counter() - started
    writer = getattr(app.state, "feedback_writer", None)  # absent before group commit
    return elapsed, len(mids) if writer is None else writer.stats.groups


def bare(store: Store, mids: list[str], group: int) -> float:
    """The same rows and feedback updates, `group` events per transaction, nothing else."""
    stamp = NOW.replace(tzinfo=None)
    started = time.perf_counter()
    for start in range(0, len(mids), group):
        part = mids[start : start + group]
        marks = ", ".join(["%s"] * len(part))
        with store.transaction():
            store.execute(
                history_from_ledger(
                    "'opened'",
                    "v.happened",
                    "CAST(NULL AS TEXT)",
                    f"(VALUES {', '.join(['(%s, CAST(%s AS TIMESTAMP))'] * len(part))}) "
                    "v(mid, happened) JOIN cantata_delivery d ON d.message_id = v.mid",
                ),
                [value for m in part for value in (m, stamp)],
            )
            store.execute(
                f"UPDATE cantata_delivery SET feedback = 'opened' WHERE message_id IN ({marks})",
                part,
            )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["duckdb", "postgres"], default="duckdb")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--group-max", type=int, help="the app's group_max (default: its own)")
    parser.add_argument("--group-window-ms", type=float, help="the app's group_window")
    args = parser.parse_args()
    options: dict[str, Any] = {}
    if args.group_max is not None:
        options["group_max"] = args.group_max
    if args.group_window_ms is not None:
        options["group_window"] = args.group_window_ms / 1000
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{args.engine}; {args.events:,} opens of {args.messages:,} messages from "
        f"{args.clients} concurrent clients; app options {options or 'defaults'}"
    )
    mids = ids(args.events, args.messages)
    with tempfile.TemporaryDirectory() as tmp:
        store = bench_store(args.engine, Path(tmp), "tracking")
        try:
            prepare(store, args.messages)
            app_s, groups = through_app(store, mids, args.clients, options)
            assert recorded(store) == args.events, recorded(store)
            reset(store)
            size = max(round(args.events / groups), 1)  # the app's mean group
            grouped_s = bare(store, mids, size)
            assert recorded(store) == args.events
            reset(store)
            alone_s = bare(store, mids, 1)
            assert recorded(store) == args.events
            reset(store)
            http_s, _ = through_app(store, mids, args.clients, options, forged=True)
            assert recorded(store) == 0
        finally:
            close_bench_store(store)
    rate = args.events / app_s
    print(
        f"through the app:                       {rate:9,.0f} events/s "
        f"({groups:,} transactions, {args.events / groups:.1f} events each)"
    )
    print(
        f"bare loop, groups of {size:>4} per transaction: "
        f"{args.events / grouped_s:9,.0f} events/s  app = {rate * grouped_s / args.events:.2f}x"
    )
    print(
        f"bare loop, one transaction per event:  {args.events / alone_s:9,.0f} events/s  "
        f"app = {rate * alone_s / args.events:.2f}x"
    )
    print(
        f"HTTP alone (forged tokens, 404s):      {args.events / http_s:9,.0f} requests/s  "
        f"app = {rate * http_s / args.events:.2f}x"
    )


if __name__ == "__main__":
    main()
