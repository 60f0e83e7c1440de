"""Sending throughput: personalized emails (HTML + text, tracked links, unsubscribe headers)
through the dispatcher — claim, re-check, render, compose, send, record — into a local SMTP
sink, against the physical limit measured in the same run: a bare aiosmtplib loop sending the
same pre-rendered bytes over the same number of connections to the same sink.

The sink runs as its own process (it is the receiving server, not our cost). Our peak memory
(RSS) is sampled while dispatching, at several counts, to show it does not grow with them.

    python bench/send.py [--messages 100000] [--connections 8] [--batch 1000] [--dkim BITS]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib
import psutil

from cantata.canvas import lifecycle, parse_campaign
from cantata.canvas.runtime import Runner
from cantata.delivery.activities import delivery_activity, queue_pending
from cantata.delivery.claims import claimed_rows
from cantata.delivery.content import Composer
from cantata.delivery.context import contexts
from cantata.delivery.dispatcher import Dispatcher
from cantata.delivery.email_message import compose, generate_dkim_key
from cantata.delivery.providers.smtp import smtp_provider
from cantata.delivery.rules import Rules
from cantata.model import parse_model
from cantata.peers.process import PeerProcess
from cantata.store import Store, open_store
from cantata.store.schema import apply_model
from cantata.tracking.links import TrackingLinks
from cantata.workspace import starter_model

MODEL = parse_model(starter_model())
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
SENDER = "Cantata Travel <news@travel.example>"
CAMPAIGN = """
name: bench
nodes:
  - id: everyone
    type: build_audience
    settings: {entity: customer, rule: "customer_id > 0"}
  - id: mail
    type: email
    settings:
      category: marketing
      subject: "{{ recipient.first_name }}, {{ vars.offer }} for your next stay"
      body: |
        <html><body>
        <h1>Hello {{ recipient.first_name }} {{ recipient.last_name }},</h1>
        <p>As a {{ recipient.tier }} member living in {{ recipient.city }}, you get
        {{ vars.offer }} on your next booking.</p>
        {% for n in range(3) %}<p><a href="https://travel.example/deal/{{ n }}?c={{ recipient.customer_id }}">Deal {{ n + 1 }}</a>:
        a handpicked stay for {{ recipient.first_name }}.</p>{% endfor %}
        <p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
        </body></html>
      text: |
        Hello {{ recipient.first_name }} {{ recipient.last_name }},
        as a {{ recipient.tier }} member you get {{ vars.offer }}: https://travel.example/deals
variables:
  offer: {type: string, default: "15% off"}
edges:
  - {from: everyone, to: mail}
"""


def prepare(store: Store, count: int) -> int:
    apply_model(store, MODEL)
    store.execute(
        "INSERT INTO customer (customer_id, email, first_name, last_name, city, tier, updated_at) "
        "SELECT i, 'guest' || CAST(i AS TEXT) || '@example.com', 'Guest' || CAST(i AS TEXT), "
        "'Traveller', 'Lyon', CASE WHEN i % 4 = 0 THEN 'gold' ELSE 'basic' END, "
        f"CAST('2026-01-01' AS TIMESTAMP) FROM generate_series(1, {count}) AS t(i)"
    )
    store.execute(
        "INSERT INTO cantata_consent (recipient, channel, purpose, status, updated_at) "
        "SELECT CAST(customer_id AS TEXT), 'email', 'marketing', 'granted', "
        "CAST('2026-01-01' AS TIMESTAMP) FROM customer"
    )
    runner = Runner(store, MODEL)
    lifecycle.publish(store, MODEL, parse_campaign(CAMPAIGN), now=NOW)
    run = runner.start("bench", now=NOW)
    queue_pending(store, runner, Rules(), NOW)
    return run.id


class PeakRss:
    """The process's peak resident memory while the block runs, sampled every 20 ms."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._process = psutil.Process()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRss:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def reset(store: Store) -> None:
    store.execute(
        "UPDATE cantata_delivery SET status = 'pending', attempts = 0, sent_at = NULL, "
        "provider_id = NULL WHERE status <> 'excluded'"
    )
    store.execute("UPDATE cantata_delivery_activity SET status = 'sending'")
    store.execute("DELETE FROM cantata_history")


def ours(
    store: Store, port: int, args: argparse.Namespace, key_file: Path | None
) -> tuple[float, int, int]:
    """Dispatch everything pending; return seconds, messages sent, peak RSS (bytes)."""
    config = {
        "host": "127.0.0.1", "port": port, "sender": SENDER, "connections": args.connections,
    }  # fmt: skip
    if key_file is not None:
        config["dkim"] = {
            "selector": "bench",
            "domain": "travel.example",
            "private_key_file": str(key_file),
        }
    links = TrackingLinks("https://t.travel.example", b"bench-secret-0123456789")
    rules = Rules(batch_size=args.batch)
    dispatcher = Dispatcher(
        store, MODEL, rules, {"email": smtp_provider(config)}, links=links, clock=lambda: NOW
    )

    async def go() -> None:
        await dispatcher.run(until_idle=True)
        await dispatcher.close()

    with PeakRss() as rss:
        started = time.perf_counter()
        asyncio.run(go())
        elapsed = time.perf_counter() - started
    return elapsed, dispatcher.stats.sent, rss.peak


def rendered(store: Store, run: int, key_file: Path | None) -> list[tuple[str, bytes]]:
    """The same messages, rendered and composed up front: what the bare loop sends."""
    activity = delivery_activity(store, run, "mail")
    assert activity is not None
    links = TrackingLinks("https://t.travel.example", b"bench-secret-0123456789")
    composer = Composer("email", activity.settings, activity.variables, where="bench", links=links)
    dkim = None
    if key_file is not None:
        from cantata.delivery.email_message import DkimKey

        dkim = DkimKey("bench", "travel.example", key_file.read_bytes())
    ids = [str(r[0]) for r in store.fetchall(
        "SELECT message_id FROM cantata_delivery WHERE status = 'pending' ORDER BY message_id"
    )]  # fmt: skip
    store.execute("UPDATE cantata_delivery SET status = 'claimed', lease_owner = 'bench'")
    out = []
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        ctx = contexts(store, MODEL, activity.rows, None, chunk)
        for c in claimed_rows(store, "bench", chunk):
            message = composer.message(
                c.message_id,
                c.recipient,
                c.address or "",
                ctx[c.message_id],
                run=run,
                activity="mail",
            )
            out.append(
                (
                    c.address or "",
                    compose(message, sender=SENDER, domain="travel.example", dkim=dkim),
                )
            )
    store.execute("UPDATE cantata_delivery SET status = 'pending', lease_owner = NULL")
    return out


def bare(port: int, messages: list[tuple[str, bytes]], connections: int) -> float:
    """The physical limit: the same bytes, the same connections, nothing else."""

    async def worker(queue: list[tuple[str, bytes]]) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="bench")
        await client.connect()
        for to, raw in queue:
            await client.sendmail("news@travel.example", [to], raw)
        await client.quit()

    async def go() -> None:
        await asyncio.gather(*(worker(messages[i::connections]) for i in range(connections)))

    started = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--dkim", type=int, default=0, help="sign with an RSA key of BITS")
    args = parser.parse_args()
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{args.messages:,} emails, {args.connections} SMTP connections, batches of "
        f"{args.batch}, DKIM {'rsa-' + str(args.dkim) if args.dkim else 'off'}"
    )
    with PeerProcess("cantata.peers.smtp_sink") as sink, tempfile.TemporaryDirectory() as tmp:
        port = sink.port
        key_file = None
        if args.dkim:
            key, _ = generate_dkim_key("bench", "travel.example", bits=args.dkim)
            key_file = Path(tmp) / "dkim.pem"
            key_file.write_bytes(key.private_key_pem)
        store = open_store(f"duckdb:///{Path(tmp) / 'bench.duckdb'}")
        started = time.perf_counter()
        run = prepare(store, args.messages)
        print(f"queued {args.messages:,} messages in {time.perf_counter() - started:.1f}s")
        # Ours at growing counts (a quarter, a half, all), then the bare loop: its messages
        # are rendered up front and held in memory, which would inflate our peak if measured
        # after it.
        growth = []
        for share in (4, 2, 1):
            part = args.messages // share
            store.execute(
                "UPDATE cantata_delivery SET status = 'excluded', reason = 'bench' "
                f"WHERE CAST(recipient AS BIGINT) > {part}"
            )
            seconds, sent, peak = ours(store, port, args, key_file)
            growth.append((sent, seconds, peak))
            store.execute("UPDATE cantata_delivery SET reason = NULL WHERE reason = 'bench'")
            store.execute(
                "UPDATE cantata_delivery SET status = 'pending' WHERE status = 'excluded'"
            )
            reset(store)
        ours_s = growth[-1][1]
        messages = rendered(store, run, key_file)
        bare_s = bare(port, messages, args.connections)
        size = sum(len(m) for _, m in messages) / len(messages)
        store.close()
    counts = json.dumps(sink.counts)
    assert sent == args.messages, f"sent {sent} of {args.messages}"
    ours_rate, bare_rate = sent / ours_s, args.messages / bare_s
    print(f"average message {size / 1024:.1f} KiB; the sink received {counts}")
    print(f"{'':24}{'seconds':>9}{'msgs/s':>10}")
    print(f"{'bare aiosmtplib loop':24}{bare_s:>9.1f}{bare_rate:>10,.0f}")
    print(f"{'our dispatcher':24}{ours_s:>9.1f}{ours_rate:>10,.0f}")
    print(f"ratio (ours / bare): {ours_rate / bare_rate:.2f}")
    print("our peak RSS while dispatching:")
    for n, seconds, peak in growth:
        print(
            f"  {n:>9,} messages  {seconds:>6.1f}s  {n / seconds:>7,.0f} msgs/s  peak {peak / 2**20:,.0f} MiB"
        )


if __name__ == "__main__":
    main()
