"""Group commit in the tracking app: concurrent requests' events are committed together, each
request is answered with its own result once its event is committed, and one failing event
fails only its own request."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from cantata.errors import StoreError
from cantata.store.base import Store
from cantata.tracking.app import tracking_app
from cantata.tracking.writer import FeedbackWriter
from tests.integration.test_tracking_app import (
    AUTH,
    BASE,
    CALLBACK,
    NOW,
    ONE_CLICK,
    SECRET,
    add_message,
    consent,
    events,
    feedback,
    links,
    path,
)


class Transactions:
    """Counts `store`'s committed outermost transactions; while `hold` is set, the next
    one signals `reached` after its work and waits for `go` before committing."""

    def __init__(self, store: Store) -> None:
        self.count = 0
        self.hold = False
        self.reached, self.go = threading.Event(), threading.Event()
        self._depth = 0
        original = store.transaction

        @contextmanager
        def counted() -> Iterator[None]:
            outer = self._depth == 0
            self._depth += 1
            try:
                with original():
                    yield
                    if outer and self.hold:
                        self.hold = False
                        self.reached.set()
                        assert self.go.wait(timeout=30), "never released"
            finally:
                self._depth -= 1
            if outer:
                self.count += 1

        def transaction() -> AbstractContextManager[None]:
            return counted()

        store.transaction = transaction  # type: ignore[method-assign]


def writer_of(app: Starlette) -> FeedbackWriter:
    writer = app.state.feedback_writer
    assert isinstance(writer, FeedbackWriter)
    return writer


async def until(condition: Callable[[], bool], what: str) -> None:
    """Let the loop run the requests until `condition` holds (a deadline, not a sleep)."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0)


async def gated(
    app: Starlette,
    store: Store,
    requests: Callable[[httpx.AsyncClient], list[Awaitable[httpx.Response]]],
) -> tuple[list[httpx.Response], Transactions]:
    """Hold the writer in a first group (one open of `gate`) until `requests` have all queued
    behind it, then let it go: they form the next group."""
    txns = Transactions(store)
    txns.hold = True
    writer = writer_of(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        first = asyncio.ensure_future(client.get(path(links.open_url("gate"))))
        assert await asyncio.to_thread(txns.reached.wait, 30)
        pending = [asyncio.ensure_future(r) for r in requests(client)]
        await until(lambda: writer.pending() == len(pending), "the requests to queue")
        txns.go.set()
        assert (await first).status_code == 200
        responses = list(await asyncio.gather(*pending))
    return responses, txns


@pytest.fixture
def app(store: Store) -> Starlette:
    # No window: a group is what queued while the previous one was committing.
    return tracking_app(store, SECRET, callback_secret=CALLBACK, clock=lambda: NOW, group_window=0)


def test_a_burst_of_opens_and_clicks_records_one_row_each(app: Starlette, store: Store) -> None:
    for i in range(25):
        add_message(store, f"m{i}", recipient=f"c{i}")

    def url(task: int, n: int) -> str:
        mid = f"m{(task * 7 + n) % 25}" if n % 10 else "gone"  # every 10th is unknown
        if n % 3 == 0:
            return path(links.click_url(mid, f"https://shop.example/{task}/{n}"))
        return path(links.open_url(mid))

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:

            async def task(t: int) -> list[int]:
                return [(await client.get(url(t, n))).status_code for n in range(50)]

            results = await asyncio.gather(*(task(t) for t in range(10)))
        return [s for r in results for s in r]

    statuses = asyncio.run(burst())
    expected = Counter[tuple[str, str]]()
    for t in range(10):
        for n in range(50):
            mid = f"m{(t * 7 + n) % 25}" if n % 10 else "gone"
            assert statuses[t * 50 + n] == (302 if n % 3 == 0 else 200)
            if mid != "gone":
                expected[(mid, "clicked" if n % 3 == 0 else "opened")] += 1
    recorded = Counter(
        (str(m), str(e)) for m, e in store.fetchall("SELECT message_id, event FROM cantata_history")
    )
    assert recorded == expected and sum(recorded.values()) == 450
    clicks = store.fetchall(
        "SELECT details FROM cantata_history WHERE message_id = 'm0' AND event = 'clicked'"
    )
    assert all(json.loads(d)["url"].startswith("https://shop.example/") for (d,) in clicks)
    assert {feedback(store, f"m{i}") for i in range(25)} == {"clicked"}
    stats = writer_of(app).stats
    assert stats.events == 500 and stats.fallbacks == 0


def test_queued_events_are_committed_in_one_transaction(app: Starlette, store: Store) -> None:
    add_message(store, "gate")
    for i in range(20):
        add_message(store, f"m{i}", recipient=f"c{i}")
    responses, txns = asyncio.run(
        gated(
            app,
            store,
            lambda client: [
                *(client.get(path(links.open_url(f"m{i}"))) for i in range(20)),
                client.post(path(links.unsubscribe_url("m3")), data=ONE_CLICK),
                client.post(path(links.unsubscribe_url("m3")), data=ONE_CLICK),
                client.post(path(links.unsubscribe_url("gone")), data=ONE_CLICK),
                client.get(path(links.click_url("gone", "https://shop.example/"))),
            ],
        )
    )
    assert [r.status_code for r in responses] == [200] * 22 + [404, 302]
    # The gate's group, then everything that queued behind it: two commits in all.
    assert txns.count == 2
    assert (writer_of(app).stats.groups, writer_of(app).stats.fallbacks) == (2, 0)
    assert [events(store, f"m{i}") for i in (0, 19)] == [["opened"], ["opened"]]
    assert sorted(events(store, "m3")) == ["opened", "unsubscribed"]
    assert feedback(store, "m3") == "unsubscribed" and feedback(store, "m4") == "opened"
    assert consent(store) == [("c3", "email", "marketing", "denied")]
    assert events(store, "gone") == []


def test_a_failing_event_fails_only_its_own_request(
    app: Starlette, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_message(store, "gate")
    for mid in ("m1", "m2", "bad"):
        add_message(store, mid)
    execute = store.execute

    def failing(sql: str, params: Any = None) -> int:
        if params and "bad" in params and sql.lstrip().startswith(("INSERT", "UPDATE")):
            raise StoreError("injected failure for message bad")
        return execute(sql, params)

    monkeypatch.setattr(store, "execute", failing)
    responses, txns = asyncio.run(
        gated(
            app,
            store,
            lambda client: [
                client.get(path(links.open_url("m1"))),
                client.get(path(links.open_url("bad"))),
                client.get(path(links.click_url("m2", "https://shop.example/"))),
                client.post(path(links.unsubscribe_url("m2")), data=ONE_CLICK),
                client.post(path(links.unsubscribe_url("gone")), data=ONE_CLICK),
            ],
        )
    )
    assert [r.status_code for r in responses] == [200, 500, 302, 200, 404]
    monkeypatch.undo()
    assert events(store, "m1") == ["opened"]
    assert sorted(events(store, "m2")) == ["clicked", "unsubscribed"]
    assert events(store, "bad") == [] and feedback(store, "bad") is None
    stats = writer_of(app).stats
    assert (stats.groups, stats.fallbacks) == (2, 1)
    # Commits: the gate, then four of the failed group's five events, each alone.
    assert txns.count == 1 + 4


def test_callbacks_and_dsns_join_a_group_with_their_own_answers(
    app: Starlette, store: Store
) -> None:
    from tests.unit.test_bounces import POSTFIX_HARD

    add_message(store, "gate")
    add_message(store, "m1", provider_id="api-1")
    add_message(store, "m2", recipient="c2", address="Bob@Example.org")
    add_message(store, "r12-welcome-c0042-7f3e9a", recipient="c3", address="nobody@gmail.example")
    body = {
        "events": [
            {"message_id": "m1", "event": "delivered"},
            {"message_id": "m2", "event": "complained"},
            {"provider_id": "nope", "event": "delivered"},
        ]
    }
    responses, txns = asyncio.run(
        gated(
            app,
            store,
            lambda client: [
                client.post("/callbacks/generic", json=body, headers=AUTH),
                client.post("/callbacks/generic", json=body, headers=AUTH),  # a retry
                client.post("/bounces", content=POSTFIX_HARD, headers=AUTH),
                client.get(path(links.open_url("m1"))),
            ],
        )
    )
    assert [r.json() for r in responses[:3]] == [
        {"recorded": 2, "unknown": ["nope"]},
        {"recorded": 2, "unknown": ["nope"]},
        {"bounces": 1, "recorded": 1, "unmatched": []},
    ]
    assert txns.count == 2
    assert sorted(events(store, "m1")) == ["delivered", "opened"]
    assert events(store, "m2") == ["complained"]
    assert events(store, "r12-welcome-c0042-7f3e9a") == ["bounced"]
    assert store.fetchall("SELECT address, reason FROM cantata_suppression ORDER BY address") == [
        ("bob@example.org", "complaint"),
        ("nobody@gmail.example", "hard_bounce"),
    ]


def test_an_idle_event_waits_at_most_the_window(store: Store) -> None:
    """A lone event is committed once the window has passed, without a second event."""
    add_message(store, "m1")
    app = tracking_app(store, SECRET, clock=lambda: NOW, group_window=0.05)
    transport = httpx.ASGITransport(app=app)

    async def one() -> int:
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            return (await client.get(path(links.open_url("m1")))).status_code

    assert asyncio.run(one()) == 200
    assert events(store, "m1") == ["opened"]
    assert (writer_of(app).stats.groups, writer_of(app).stats.events) == (1, 1)


def test_the_group_knobs_are_checked(store: Store) -> None:
    with pytest.raises(ValueError, match="max_group must be at least 1"):
        tracking_app(store, SECRET, group_max=0)
    with pytest.raises(ValueError, match="window must be zero or more"):
        tracking_app(store, SECRET, group_window=-1)
