"""The dispatcher on every engine, against a real SMTP server (aiosmtpd): personalized messages
sent once, retries with backoff on 4xx, 5xx failing and suppressing the address, re-checks at
claim time, quiet hours deferring across time zones, throttling and auto-pause — on a fake
clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime, time, timedelta

import pytest

from cantata.delivery.activities import PAUSED, delivery_activity, resume_activity
from cantata.delivery.dispatcher import Dispatcher
from cantata.delivery.message import Message, Outcome
from cantata.delivery.providers.base import OutcomeHook, Provider
from cantata.delivery.providers.http_sms import json_sms_provider
from cantata.delivery.providers.smtp import smtp_provider
from cantata.delivery.rules import QuietHours, Rules
from cantata.peers.http_sink import HttpSink, Reply, fail_first
from cantata.peers.smtp_sink import SmtpSink
from cantata.profile.suppression import add_suppression
from cantata.store import Store
from tests.integration.delivery_fixtures import (
    MODEL,
    NOW,
    campaign,
    ledger,
    load_company,
    node,
    start,
)

STAYS = node("stays", "build_audience", entity="booking", rule='status = "confirmed"')
PER_BOOKING = node(
    "mail",
    "email",
    per="booking",
    sender="Cantata Travel <hello@travel.example>",
    subject="{{ recipient.first_name }}, booking {{ target.booking_id }}",
    body="<p>Your stay of {{ target.nights }} nights starts {{ target.check_in }}.</p>",
)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)  # a real sleep lets other tasks run meanwhile


class FakeTime(FakeClock):
    """A clock whose timers (`timer`, the dispatcher's lease timer) fire only when the test
    moves time past them with `advance`."""

    def __init__(self, now: datetime) -> None:
        super().__init__(now)
        self.timers: list[tuple[datetime, asyncio.Future[None]]] = []
        self.armed = asyncio.Condition()

    async def timer(self, seconds: float) -> None:
        done = asyncio.get_running_loop().create_future()
        async with self.armed:
            self.timers.append((self.now + timedelta(seconds=seconds), done))
            self.armed.notify_all()
        await done

    async def advance(self, seconds: float) -> None:
        """Move time on; wait until each timer that fired has done its work and armed again."""
        self.now += timedelta(seconds=seconds)
        due = [t for t in self.timers if t[0] <= self.now]
        self.timers = [t for t in self.timers if t[0] > self.now]
        for _, done in due:
            done.set_result(None)
        async with self.armed:
            await self.armed.wait_for(lambda: len(self.timers) >= len(due))


class SlowPeer:
    """A real provider behind a send that takes `minutes` of the clock: time passes in
    20-second steps while the batch is on the wire, and `meanwhile` runs at each step."""

    name = "slow"

    def __init__(
        self,
        inner: Provider,
        time: FakeTime,
        minutes: int,
        meanwhile: Callable[[], Awaitable[None]],
    ) -> None:
        self.inner, self.time, self.minutes, self.meanwhile = inner, time, minutes, meanwhile

    async def send(
        self, batch: Sequence[Message], on_outcome: OutcomeHook | None = None
    ) -> list[Outcome]:
        for _ in range(self.minutes * 3):
            await self.time.advance(20)
            await self.meanwhile()
        return await self.inner.send(batch, on_outcome)

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture
def db(store: Store) -> Store:
    load_company(store)
    return store


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        yield s


def dispatcher(store: Store, sink: SmtpSink, rules: Rules, clock: FakeClock) -> Dispatcher:
    smtp = smtp_provider({"host": "127.0.0.1", "port": sink.port, "sender": "hello@travel.example"})
    return Dispatcher(
        store, MODEL, rules, {"email": smtp}, clock=clock, sleep=clock.sleep, owner="test"
    )


def sms_dispatcher(store: Store, gateway: HttpSink, rules: Rules, clock: FakeClock) -> Dispatcher:
    sms = json_sms_provider({"url": f"{gateway.url}/sms"})
    return Dispatcher(store, MODEL, rules, {"sms": sms}, clock=clock, sleep=clock.sleep, owner="t")


def drain(d: Dispatcher) -> None:
    async def go() -> None:
        try:
            await d.run(until_idle=True)
        finally:
            await d.close()

    asyncio.run(go())


def test_sends_each_message_once_personalized(db: Store, sink: SmtpSink) -> None:
    clock = FakeClock(NOW)
    _, run = start(db, campaign("stays", [STAYS, PER_BOOKING], ["stays -> mail"]), Rules())
    d = dispatcher(db, sink, Rules(), clock)
    drain(d)
    got = {m.parsed()["Subject"]: m for m in sink.messages}
    assert sorted(got) == ["Ana, booking 100", "Ana, booking 101", "Ben, booking 102"]
    assert got["Ben, booking 102"].rcpt_tos == ("ben@example.com",)
    body = got["Ana, booking 101"].parsed().get_body(("html",))
    assert body is not None and "3 nights starts 2026-06-20" in body.get_content()
    assert set(ledger(db, run).values()) == {("sent", None)}
    assert db.scalar("SELECT count(*) FROM cantata_history WHERE event = 'sent'") == 3
    assert delivery_activity(db, run, "mail").status == "done"  # type: ignore[union-attr]
    # Nothing is due any more: a second dispatcher sends nothing.
    drain(dispatcher(db, sink, Rules(), clock))
    assert len(sink.messages) == 3


def test_temporary_failure_is_retried_with_backoff(db: Store, sink: SmtpSink) -> None:
    clock = FakeClock(NOW)
    refused: list[str] = []

    def policy(rcpt: str, index: int) -> tuple[int, str] | None:
        if rcpt == "ben@example.com" and len(refused) < 2:
            refused.append(rcpt)
            return (451, "4.3.0 try again later")
        return None

    sink.policy = policy
    _, run = start(db, campaign("stays", [STAYS, PER_BOOKING], ["stays -> mail"]), Rules())
    rules = Rules(backoff=timedelta(seconds=30))
    d = dispatcher(db, sink, rules, clock)
    drain(d)  # Ana's two go; Ben's is deferred 30 s
    assert ledger(db, run)["2/102"][0] == "pending"
    clock.now += timedelta(seconds=31)
    drain(d := dispatcher(db, sink, rules, clock))  # refused again: next try in 60 s
    assert db.scalar("SELECT attempts FROM cantata_delivery WHERE recipient = '2'") == 2
    clock.now += timedelta(seconds=59)
    drain(d := dispatcher(db, sink, rules, clock))
    assert ledger(db, run)["2/102"][0] == "pending"  # not due yet
    clock.now += timedelta(seconds=2)
    drain(dispatcher(db, sink, rules, clock))
    assert ledger(db, run)["2/102"] == ("sent", None)
    assert [m.rcpt_tos[0] for m in sink.messages].count("ben@example.com") == 1


def test_permanent_failure_suppresses_the_address(db: Store, sink: SmtpSink) -> None:
    clock = FakeClock(NOW)
    sink.policy = lambda rcpt, i: (550, "5.1.1 no such user") if rcpt.startswith("ben") else None
    _, run = start(db, campaign("stays", [STAYS, PER_BOOKING], ["stays -> mail"]), Rules())
    drain(dispatcher(db, sink, Rules(), clock))
    status, reason = ledger(db, run)["2/102"]
    assert status == "failed" and reason is not None and "550" in reason
    assert (
        db.scalar("SELECT reason FROM cantata_suppression WHERE address = 'ben@example.com'")
        == "hard_bounce"
    )
    assert db.scalar("SELECT count(*) FROM cantata_history WHERE event = 'bounced'") == 1


def test_claim_rechecks_suppression_and_consent(db: Store, sink: SmtpSink) -> None:
    clock = FakeClock(NOW)
    _, run = start(db, campaign("stays", [STAYS, PER_BOOKING], ["stays -> mail"]), Rules())
    add_suppression(db, "ben@example.com", "email", "manual", now=NOW)  # after queueing
    db.execute("UPDATE cantata_consent SET status = 'denied' WHERE recipient = '1'")
    drain(dispatcher(db, sink, Rules(), clock))
    assert sink.messages == []
    assert ledger(db, run) == {
        "1/100": ("excluded", "no_consent"),
        "1/101": ("excluded", "no_consent"),
        "2/102": ("excluded", "suppressed"),
    }


def test_quiet_hours_defer_in_the_recipients_time_zone(db: Store, sink: SmtpSink) -> None:
    # 10:00 UTC: 12:00 in Paris (Ana), 06:00 in New York (Ben, quiet until 08:00).
    rules = Rules(quiet_hours=QuietHours(time(21), time(8)))
    clock = FakeClock(NOW)
    _, run = start(db, campaign("stays", [STAYS, PER_BOOKING], ["stays -> mail"]), rules)
    drain(dispatcher(db, sink, rules, clock))
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == ["ana@example.com"] * 2
    due = db.scalar("SELECT next_attempt_at FROM cantata_delivery WHERE recipient = '2'")
    assert due == datetime(2026, 6, 1, 12, 0)  # 08:00 EDT
    clock.now = datetime(2026, 6, 1, 12, 0, tzinfo=NOW.tzinfo)
    drain(dispatcher(db, sink, rules, clock))
    assert ledger(db, run)["2/102"] == ("sent", None)


def test_throttle_and_auto_pause(db: Store, sink: SmtpSink) -> None:
    clock = FakeClock(NOW)
    mail = {**PER_BOOKING, "settings": {**PER_BOOKING["settings"], "throttle_per_second": 1}}
    start(db, campaign("stays", [STAYS, mail], ["stays -> mail"]), Rules())
    drain(dispatcher(db, sink, Rules(), clock))
    assert len(sink.messages) == 3 and sum(clock.slept) >= 2  # 3 messages at 1/s
    sink.policy = lambda rcpt, i: (451, "4.3.0 busy")
    _, run2 = start(
        db, campaign("again", [STAYS, PER_BOOKING], ["stays -> mail"]), Rules(), now=NOW
    )
    rules = Rules(pause_after_errors=3)
    drain(dispatcher(db, sink, rules, clock))
    found = delivery_activity(db, run2, "mail")
    assert (
        found is not None
        and found.status == PAUSED
        and "451"
        in str(db.scalar("SELECT reason FROM cantata_delivery_activity WHERE run = %s", [run2]))
    )
    sink.policy = None
    resume_activity(db, run2, "mail")
    clock.now += timedelta(hours=1)
    drain(dispatcher(db, sink, rules, clock))
    assert set(ledger(db, run2).values()) == {("sent", None)}


def test_http_429_retry_after_is_honoured(db: Store) -> None:
    """The SMS gateway answers 429 with Retry-After: 120 — longer than our 30 s backoff."""
    clock = FakeClock(NOW)
    text = campaign("sms", [node("all", "build_audience", entity="customer", rule='tier = "gold"'),
                            node("text", "sms", body="Hi {{ recipient.first_name }}")],
                    ["all -> text"])  # fmt: skip
    _, run = start(db, text, Rules())
    busy = Reply(429, {"Retry-After": "120"}, b"slow down")
    with HttpSink(policy=fail_first(1, busy)) as gateway:
        rules = Rules(backoff=timedelta(seconds=30))
        drain(sms_dispatcher(db, gateway, rules, clock))
        status, reason = ledger(db, run)["1"]
        assert status == "pending" and reason is not None and "429" in reason
        due = db.scalar("SELECT next_attempt_at FROM cantata_delivery WHERE recipient = '1'")
        assert due == (NOW + timedelta(seconds=120)).replace(tzinfo=None)
        clock.now += timedelta(seconds=119)
        drain(sms_dispatcher(db, gateway, rules, clock))
        assert ledger(db, run)["1"][0] == "pending"
        clock.now += timedelta(seconds=2)
        drain(sms_dispatcher(db, gateway, rules, clock))
        assert ledger(db, run)["1"] == ("sent", None)
        assert len(gateway.requests) == 2


def test_connection_dropped_mid_batch_loses_nothing(db: Store, sink: SmtpSink) -> None:
    clock = FakeClock(NOW)
    _, run = start(db, campaign("stays", [STAYS, PER_BOOKING], ["stays -> mail"]), Rules())
    sink.drop_after = 1  # the server hangs up after each connection's first message
    drain(dispatcher(db, sink, Rules(backoff=timedelta(seconds=1)), clock))
    for _ in range(3):
        clock.now += timedelta(seconds=10)
        drain(dispatcher(db, sink, Rules(backoff=timedelta(seconds=1)), clock))
    assert set(ledger(db, run).values()) == {("sent", None)}
    ids = [m.parsed()["X-Cantata-Message-Id"] for m in sink.messages]
    assert len(ids) == len(set(ids)) == 3
    assert sink.counts.dropped >= 1


def test_a_lease_running_out_while_throttled_sends_nothing_twice(db: Store, sink: SmtpSink) -> None:
    """Batches of one at one message a second, with a half-second lease: each batch's claim
    expires while it waits its turn; the dispatcher must neither re-claim its own waiting
    messages nor send one twice."""
    clock = FakeClock(NOW)
    mail = {**PER_BOOKING, "settings": {**PER_BOOKING["settings"], "throttle_per_second": 1}}
    _, run = start(db, campaign("stays", [STAYS, mail], ["stays -> mail"]), Rules())
    rules = Rules(batch_size=1, lease=timedelta(milliseconds=500))
    drain(dispatcher(db, sink, rules, clock))
    ids = [m.parsed()["X-Cantata-Message-Id"] for m in sink.messages]
    assert len(ids) == len(set(ids)) == 3
    assert set(ledger(db, run).values()) == {("sent", None)}
    assert db.scalar("SELECT count(*) FROM cantata_history WHERE event = 'sent'") == 3


def smtp_to(sink: SmtpSink) -> Provider:
    return smtp_provider({"host": "127.0.0.1", "port": sink.port, "sender": "hello@travel.example"})


def test_a_send_slower_than_the_lease_keeps_its_claims(db: Store, sink: SmtpSink) -> None:
    """A batch takes three minutes on the wire with a one-minute lease; another dispatcher
    tries to claim every 20 seconds meanwhile. The sender's leases are renewed while it
    sends, so the other finds nothing and every message goes once."""
    time = FakeTime(NOW)
    _, run = start(db, campaign("stays", [STAYS, PER_BOOKING], ["stays -> mail"]), Rules())
    rules = Rules(lease=timedelta(seconds=60))
    other = Dispatcher(
        db, MODEL, rules, {"email": smtp_to(sink)}, clock=time, sleep=time.sleep, owner="other"
    )
    tries: list[int] = []

    async def other_tries() -> None:
        tries.append((await other.run(until_idle=True)).claimed)

    slow = SlowPeer(smtp_to(sink), time, 3, other_tries)
    sender = Dispatcher(
        db, MODEL, rules, {"email": slow}, clock=time, sleep=time.sleep, owner="sender",
        lease_timer=time.timer,
    )  # fmt: skip

    async def go() -> None:
        try:
            await sender.run(until_idle=True)
        finally:
            await sender.close()
            await other.close()

    asyncio.run(go())
    assert tries == [0] * 9  # 20 s apart: the lease would have run out at the fourth
    ids = [m.parsed()["X-Cantata-Message-Id"] for m in sink.messages]
    assert len(ids) == len(set(ids)) == 3
    assert set(ledger(db, run).values()) == {("sent", None)}
    assert db.scalar("SELECT count(*) FROM cantata_history WHERE event = 'sent'") == 3


def test_a_batch_whose_lease_was_lost_records_nothing(db: Store, sink: SmtpSink) -> None:
    """If the claims go to another dispatcher while a batch is on the wire (the sender could
    not reach the store to renew them), the sender records nothing for them: they are the
    other's to send and record, and the sender's renewals leave them alone."""
    time = FakeTime(NOW)
    _, run = start(db, campaign("stays", [STAYS, PER_BOOKING], ["stays -> mail"]), Rules())
    rules = Rules(lease=timedelta(seconds=60))

    async def taken() -> None:
        db.execute(
            "UPDATE cantata_delivery SET lease_owner = 'other', lease_until = %s "
            "WHERE status = 'claimed'",
            [NOW.replace(tzinfo=None) + timedelta(hours=1)],
        )

    slow = SlowPeer(smtp_to(sink), time, 1, taken)
    sender = Dispatcher(
        db, MODEL, rules, {"email": slow}, clock=time, sleep=time.sleep, owner="sender",
        lease_timer=time.timer,
    )  # fmt: skip
    drain(sender)
    assert len(sink.messages) == 3  # on the wire before the claims were lost
    assert set(ledger(db, run).values()) == {("claimed", None)}
    assert db.scalar("SELECT count(*) FROM cantata_history WHERE event = 'sent'") == 0
    held = db.fetchall("SELECT DISTINCT lease_owner, lease_until FROM cantata_delivery")
    assert held == [("other", NOW.replace(tzinfo=None) + timedelta(hours=1))]
