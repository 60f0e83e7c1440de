"""Two provider callbacks (or two groups of the tracking app's writer) reporting the same
message at once record one event.

On PostgreSQL each callback is a thread with its own connection: the first holds its
transaction open until the second has either finished its own work or is waiting on a lock,
so both have passed their "already recorded?" check before the first commits. On DuckDB
(owned by one process) the two threads share the process's store."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from cantata.store import Store, open_store
from cantata.store.postgres import PostgresStore
from cantata.tracking.feedback import Feedback, record_delivered, record_event, record_events
from tests.conftest import POSTGRES_URL, drop_schema, store_url
from tests.integration.test_tracking_app import add_message

NOW = datetime(2024, 5, 14, 8, 30, tzinfo=UTC)
Report = Callable[[Store], object]

# name → (the report, the event recorded once)
REPORTS: dict[str, tuple[Report, str]] = {
    "bulk delivery report": (
        lambda s: record_delivered(s, {"m1": (NOW, {"provider": "api"})}),
        "delivered",
    ),
    "single delivery report": (lambda s: record_event(s, "m1", "delivered", at=NOW), "delivered"),
    "complaint": (lambda s: record_event(s, "m1", "complained", at=NOW), "complained"),
    # the tracking app's writer: a group with an open and the unsubscribe of the same message
    "grouped unsubscribe": (
        lambda s: record_events(
            s, [Feedback("m1", "opened", NOW), Feedback("m1", "unsubscribed", NOW)]
        ),
        "unsubscribed",
    ),
}


@pytest.fixture
def stores(engine: str, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two stores on one database: two connections on PostgreSQL, one shared on DuckDB."""
    url, schema = store_url(engine, tmp_path)
    first = open_store(url)
    second = open_store(url) if engine == "postgres" else first
    try:
        yield first, second
    finally:
        first.close()
        if second is not first:
            second.close()
        if schema:
            drop_schema(schema)


def pause_before_commit(store: Store, reached: threading.Event, go: threading.Event) -> None:
    """Make `store`'s next transaction signal `reached` after its work and wait for `go`
    before it commits."""
    original = store.transaction

    @contextmanager
    def paused() -> Iterator[None]:
        with original():
            yield
            reached.set()
            assert go.wait(timeout=30), "never released"

    def transaction() -> AbstractContextManager[None]:
        store.transaction = original  # type: ignore[method-assign]
        return paused()

    store.transaction = transaction  # type: ignore[method-assign]


def waiting_on_a_lock(store: Store) -> bool:
    """Whether the PostgreSQL backend of `store` is blocked on a lock right now."""
    assert isinstance(store, PostgresStore) and POSTGRES_URL
    with psycopg.connect(POSTGRES_URL, autocommit=True) as watcher:
        row = watcher.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
            [store.conn.info.backend_pid],
        ).fetchone()
    return row is not None and row[0] == "Lock"


@pytest.mark.parametrize("report", sorted(REPORTS))
def test_two_concurrent_reports_of_one_message_record_one_event(
    stores: tuple[Store, Store], report: str
) -> None:
    first, second = stores
    add_message(first, "m1")
    work, event = REPORTS[report]
    first_reached, first_go = threading.Event(), threading.Event()
    second_done = threading.Event()
    pause_before_commit(first, first_reached, first_go)
    errors: list[BaseException] = []

    def callback(store: Store, done: threading.Event | None = None) -> None:
        try:
            work(store)
        except BaseException as exc:  # the test asserts there were none
            errors.append(exc)
        finally:
            if done is not None:
                done.set()

    one = threading.Thread(target=callback, args=(first,))
    one.start()
    assert first_reached.wait(timeout=30)
    two = threading.Thread(target=callback, args=(second, second_done))
    two.start()
    if second is not first:
        # Release the first only once the second has done all it could: finished, or blocked
        # on the first's lock (before the fix, after inserting its own event).
        while not second_done.wait(timeout=0.01) and not waiting_on_a_lock(second):
            pass
    first_go.set()
    one.join(timeout=30)
    two.join(timeout=30)
    assert not errors
    count = first.scalar(
        "SELECT count(*) FROM cantata_history WHERE message_id = 'm1' AND event = %s", [event]
    )
    assert count == 1
    assert first.scalar("SELECT feedback FROM cantata_delivery WHERE message_id = 'm1'") == event
