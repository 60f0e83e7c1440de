"""Kill test: `cantata dispatch` killed with SIGKILL at five points while sending 20,000 emails
to a real SMTP server, restarted each time, then run to the end. Every eligible message
arrives; a message arrives twice only when the kill fell between the server's acceptance and
the ledger's commit — at most one batch in flight — and a kill outside an SMTP exchange costs
no duplicate. The test prints the numbers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from cantata.canvas import lifecycle, parse_campaign
from cantata.canvas.runtime import Runner
from cantata.delivery.activities import queue_pending
from cantata.delivery.rules import Rules
from cantata.peers.smtp_sink import SmtpSink
from cantata.store import Store, open_store
from cantata.store.schema import apply_model
from cantata.workspace import starter_model
from tests.conftest import drop_schema, store_url
from tests.integration.delivery_fixtures import MODEL, NOW, campaign, node

MESSAGES = 20_000
BATCH = 250
CONNECTIONS = 2
CANTATA = str(Path(sys.executable).parent / "cantata")


def prepare(store: Store) -> int:
    """20,000 customers with an address, an email activity reaching them all; return the run."""
    apply_model(store, MODEL)
    store.execute(
        "INSERT INTO customer (customer_id, email, first_name, updated_at) "
        "SELECT i, 'c' || CAST(i AS TEXT) || '@example.com', 'C' || CAST(i AS TEXT), "
        f"CAST('2026-01-01' AS TIMESTAMP) FROM generate_series(1, {MESSAGES}) AS t(i)"
    )
    text = campaign(
        "kill",
        [
            node("all", "build_audience", entity="customer", rule="customer_id > 0"),
            node(
                "mail",
                "email",
                category="transactional",
                subject="Hello {{ recipient.first_name }}",
                body="<p>Message for customer {{ recipient.customer_id }}</p>",
            ),
        ],
        ["all -> mail"],
    )
    runner = Runner(store, MODEL)
    parsed = parse_campaign(text)
    lifecycle.publish(store, MODEL, parsed, now=NOW)
    run = runner.start(parsed.name, now=NOW)
    queue_pending(store, runner, Rules(), NOW)
    return run.id


def ledger_sent(url: str) -> set[str]:
    store = open_store(url)
    try:
        return {str(r[0]) for r in store.fetchall(
            "SELECT message_id FROM cantata_delivery WHERE status = 'sent'"
        )}  # fmt: skip
    finally:
        store.close()


def journal(workspace: Path) -> set[str]:
    """What dead dispatchers' journals say the server accepted."""
    return {
        line.split("\t")[0]
        for path in (workspace / "journal").glob("*.journal")
        for line in path.read_text().splitlines()
    }


_ID = re.compile(rb"^X-Cantata-Message-Id: (\S+)", re.M)


def received(sink: SmtpSink) -> Counter[str]:
    """Message ids received, with how many times each."""
    return Counter(m.group(1).decode() for r in sink.messages if (m := _ID.search(r.data)))


def wait_for(sink: SmtpSink, count: int, child: subprocess.Popen[bytes]) -> None:
    """Until the server has received `count` messages (an event, not a time)."""
    deadline = time.monotonic() + 120
    while sink.counts.messages < count:
        assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
        assert time.monotonic() < deadline, f"only {sink.counts.messages} messages arrived"
        time.sleep(0.001)


@pytest.mark.slow
def test_dispatcher_killed_five_times_loses_nothing(engine: str, tmp_path: Path) -> None:
    url, schema = store_url(engine, tmp_path)
    store = open_store(url)
    try:
        run = prepare(store)
    finally:
        store.close()
    try:
        with SmtpSink() as sink:
            (tmp_path / "cantata.toml").write_text(
                f'[store]\nurl = "{url}"\n\n'
                f'[channels.email]\nprovider = "smtp"\nhost = "127.0.0.1"\nport = {sink.port}\n'
                f'sender = "news@travel.example"\nconnections = {CONNECTIONS}\n\n'
                f"[delivery]\nbatch_size = {BATCH}\n"
            )
            (tmp_path / "model.yaml").write_text(starter_model())
            kills = []
            # Kill points (messages received so far): early, in the middle, late.
            for at in (1, 3_700, 8_200, 12_900, 17_500):
                child = subprocess.Popen(
                    [CANTATA, "dispatch", "--once", "-w", str(tmp_path)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                wait_for(sink, at, child)
                os.kill(child.pid, signal.SIGKILL)
                child.wait()
                got, recorded, journaled = received(sink), ledger_sent(url), journal(tmp_path)
                # Accepted by the server, in neither the ledger nor the journal: these go again.
                at_risk = len(set(got) - recorded - journaled)
                kills.append((sink.counts.messages, len(journaled - recorded), at_risk))
            done = subprocess.run(
                [CANTATA, "dispatch", "--once", "-w", str(tmp_path)],
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            got = received(sink)
        recorded = ledger_sent(url)
    except BaseException:
        if schema:
            drop_schema(schema)
        raise
    duplicates = sum(n - 1 for n in got.values() if n > 1)
    print(f"\n[{engine}] {MESSAGES:,} messages, batch {BATCH}, killed 5 times:")
    for i, (seen, journaled, at_risk) in enumerate(kills, 1):
        print(
            f"  kill {i} after {seen:,} received: {journaled} accepted and journaled, "
            f"not committed (recorded at restart); {at_risk} accepted mid-exchange (sent again)"
        )
    print(f"  received {sum(got.values()):,}, unique {len(got):,}, duplicates {duplicates}")
    assert len(got) == MESSAGES  # none lost
    assert len(recorded) == MESSAGES  # and the ledger says so
    assert duplicates == sum(k[2] for k in kills)  # only those accepted and unrecorded
    # At most the exchanges in flight (one per connection): never a whole batch.
    assert all(k[2] <= CONNECTIONS for k in kills)
    store = open_store(url)
    try:
        assert (
            store.scalar(
                "SELECT count(*) FROM cantata_history WHERE event = 'sent' AND run_id = %s",
                [str(run)],
            )
            == MESSAGES
        )
    finally:
        store.close()
        if schema:
            drop_schema(schema)
