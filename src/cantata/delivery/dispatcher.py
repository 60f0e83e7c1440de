"""The dispatcher: claims due messages in batches, renders them, sends them through the
channel's provider and records each outcome with its history event.

Memory stays flat whatever the audience: only one batch is held at a time. Time is a
parameter (`clock`, `sleep`, `lease_timer`): tests and the demo run it on a fast-forwarded
clock.

    dispatcher = Dispatcher(store, model, rules, providers={"email": smtp}, links=links)
    await dispatcher.run(until_idle=True)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from cantata.canvas.schema import parse_local_time
from cantata.delivery import claims
from cantata.delivery.activities import (
    PAUSED,
    SENDING,
    DeliveryActivity,
    delivery_activity,
    finish_if_done,
    set_status,
)
from cantata.delivery.claims import Claimed
from cantata.delivery.content import Composer, Links
from cantata.delivery.context import RenderContext, contexts
from cantata.delivery.journal import Journal
from cantata.delivery.message import Message, Outcome, Status
from cantata.delivery.providers.base import Provider
from cantata.delivery.rules import Rules
from cantata.delivery.windows import Window, next_allowed, quiet_window, zone_named
from cantata.errors import CantataError
from cantata.model import Model
from cantata.store.base import Store

Clock = Callable[[], datetime]
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


def system_clock() -> datetime:
    return datetime.now(UTC)


def default_owner() -> str:
    """`host:pid:nonce`: the nonce keeps a restarted process that got the same pid (PID 1 in
    a container) from taking a dead one's claims and journal for its own."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class RateLimiter:
    """A token bucket: at most `rate` messages a second, bursts of one second's worth."""

    def __init__(self, rate: float, clock: Clock, sleep: Sleep) -> None:
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self.tokens = rate
        self.at = clock()

    async def take(self, n: int) -> None:
        now = self.clock()
        self.tokens = min(self.rate, self.tokens + (now - self.at).total_seconds() * self.rate)
        self.at = now
        self.tokens -= n
        if self.tokens < 0:
            await self.sleep(-self.tokens / self.rate)


@dataclass
class Stats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    excluded: int = 0
    deferred: int = 0
    batches: int = 0
    paused: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class _Job:
    """One activity's share of a claimed batch, ready to send."""

    activity: DeliveryActivity
    claimed: list[Claimed] = field(default_factory=list)
    contexts: list[RenderContext] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)  # failed to render


class Dispatcher:
    def __init__(
        self,
        store: Store,
        model: Model,
        rules: Rules,
        providers: Mapping[str, Provider],
        *,
        links: Links | None = None,
        clock: Clock = system_clock,
        sleep: Sleep = asyncio.sleep,
        owner: str | None = None,
        provider_rates: Mapping[str, float] | None = None,
        lease_timer: Sleep = asyncio.sleep,
    ) -> None:
        self.store, self.model, self.rules = store, model, rules
        self.providers = providers
        self.links = links
        self.clock, self.sleep = clock, sleep
        # Paces lease renewals during a send. Real time even when `sleep` is fast-forwarded:
        # a fast-forwarding sleep would race the clock ahead while a send is on the wire.
        self.lease_timer = lease_timer
        self.owner = owner or default_owner()
        self.stats = Stats()
        self.journal: Journal | None = None  # set by the engine: acceptances before commit
        self._composers: dict[tuple[int, str], Composer] = {}
        self._send_windows: dict[tuple[int, str], Window | None] = {}
        self._db_lock = asyncio.Lock()
        self._activities: dict[tuple[int, str], DeliveryActivity] = {}
        self._limits: dict[Any, RateLimiter] = {
            ("provider", ch): RateLimiter(rate, clock, sleep)
            for ch, rate in (provider_rates or {}).items()
        }
        recipient = model.recipient
        self._mail_fields = tuple(recipient.addresses().get("mail", []))
        self._tz_field = (
            rules.time_zone_field
            if rules.time_zone_field and rules.time_zone_field in recipient.fields
            else None
        )

    async def run(self, *, until_idle: bool = False, idle_sleep: float = 1.0) -> Stats:
        """Dispatch batches; with `until_idle`, return when nothing is due now. The stats
        returned count this call's work.

        Two batches are in hand at a time: while one is being sent, the next is claimed and
        rendered, so the connections never wait for the database or the templates."""
        self.stats = Stats()
        while True:
            jobs = await self._prepare()
            while jobs is not None:
                sending = asyncio.create_task(self._deliver(jobs))
                try:
                    jobs = await self._prepare()
                finally:
                    await sending
            if until_idle:
                return self.stats
            await self.sleep(idle_sleep)

    async def _db(self, work: Callable[..., T], *args: Any) -> T:
        """Database work off the event loop (sending goes on meanwhile), one at a time: the
        store's connection is shared."""
        async with self._db_lock:
            return await asyncio.to_thread(work, *args)

    async def _prepare(self) -> list[_Job] | None:
        """Claim a batch; drop what is now excluded, defer what is outside its windows, render
        the rest. None when nothing is due."""
        now = self.clock()
        batch = await self._db(
            claims.claim, self.store, self.owner, now, self.rules.batch_size, self.rules.lease
        )
        if not batch:
            return None
        self.stats.claimed += len(batch)
        self.stats.batches += 1
        groups: dict[tuple[int, str], list[Claimed]] = {}
        for c in batch:
            groups.setdefault((c.run, c.activity), []).append(c)
        return [await self._prepare_group(key, members, now) for key, members in groups.items()]

    async def _prepare_group(
        self, key: tuple[int, str], members: list[Claimed], now: datetime
    ) -> _Job:
        activity = await self._db(self._activity, key)
        categories = {key: str(activity.settings.get("category", "marketing"))}
        excluded = await self._db(claims.recheck, self.store, self.rules, members, categories, now)
        ctxs = await self._db(
            contexts,
            self.store,
            self.model,
            activity.rows,
            activity.settings.get("per"),
            [c.message_id for c in members if c.message_id not in excluded],
        )
        deferred: dict[str, datetime] = {}
        job = _Job(activity)
        for c in members:
            if c.message_id in excluded:
                continue
            ctx = ctxs.get(c.message_id)
            if ctx is None:  # the recipient's row was deleted since the message was queued
                excluded[c.message_id] = "no_recipient"
                continue
            at = next_allowed(now, self._windows(activity, ctx))
            if at > now:
                deferred[c.message_id] = at
            else:
                job.claimed.append(c)
                job.contexts.append(ctx)
        if excluded:
            await self._db(claims.exclude, self.store, excluded, self.owner)
            self.stats.excluded += len(excluded)
        if deferred:
            await self._db(claims.defer, self.store, deferred, self.owner)
            self.stats.deferred += len(deferred)
        composer = self._composer(activity)
        for i, (c, ctx) in enumerate(zip(job.claimed, job.contexts, strict=True)):
            try:
                job.messages.append(
                    composer.message(
                        c.message_id,
                        c.recipient,
                        c.address or "",
                        ctx,
                        run=activity.run,
                        activity=activity.activity,
                    )
                )
            except CantataError as exc:  # a value the template cannot render (StrictUndefined)
                job.outcomes.append(Outcome(c.message_id, Status.FAILED, error=exc.message))
            if i % 64 == 63:
                await asyncio.sleep(0)  # let the batch being sent go on
        return job

    async def _deliver(self, jobs: list[_Job]) -> None:
        for job in jobs:
            activity = job.activity
            if (activity.run, activity.activity) in self.stats.paused:
                # Paused while this batch was being prepared: give its messages back.
                back = {c.message_id: self.clock() for c in job.claimed}
                await self._db(claims.defer, self.store, back, self.owner)
                continue
            outcomes = list(job.outcomes)
            if job.messages:
                await self._throttle(activity, len(job.messages))
                # The lease may have run out while this batch waited (throttling, the batch
                # before it): send only what this dispatcher still holds, for another lease.
                held = await self._db(
                    claims.renew,
                    self.store,
                    self.owner,
                    [m.message_id for m in job.messages],
                    self.clock() + self.rules.lease,
                )
                lost = {m.message_id for m in job.messages} - held
                job.claimed = [c for c in job.claimed if c.message_id not in lost]
                messages = [m for m in job.messages if m.message_id not in lost]
                async with self._leases_kept():
                    outcomes += await self._send(activity, messages)
            done = self.clock()
            recorded = await self._db(
                claims.record, self.store, self.rules, self.owner, job.claimed, outcomes, done
            )
            if self.journal is not None:
                self.journal.committed()
            self.stats.sent += recorded.sent
            self.stats.retried += recorded.retried
            self.stats.failed += recorded.failed
            if outcomes:
                await self._db(self._count_errors, activity, outcomes)
            await self._db(finish_if_done, self.store, activity.run, activity.activity, done)

    async def _send(self, activity: DeliveryActivity, messages: list[Message]) -> list[Outcome]:
        """Send through the channel's provider, journalling each acceptance as it comes. If
        the provider fails outright, what it had accepted is recorded before the error goes
        on: the journal would otherwise be emptied by the next batch's commit."""
        if not messages:
            return []
        accepted: list[Outcome] = []

        def hook(outcome: Outcome) -> None:
            if self.journal is not None:
                self.journal.accepted(outcome)
            if outcome.status is Status.SENT:
                accepted.append(outcome)

        try:
            return await self._provider(activity.channel).send(messages, hook)
        except BaseException:
            if accepted:
                sent = {o.message_id for o in accepted}
                claimed = await self._db(claims.claimed_rows, self.store, self.owner, sorted(sent))
                await self._db(
                    claims.record, self.store, self.rules, self.owner, claimed, accepted,
                    self.clock(),
                )  # fmt: skip
                if self.journal is not None:
                    self.journal.committed()
            raise

    @contextlib.asynccontextmanager
    async def _leases_kept(self) -> AsyncIterator[None]:
        """While a batch is on the wire, extend this dispatcher's claims every third of a
        lease: a send slower than the lease must not let another dispatcher take them."""

        async def keep() -> None:
            while True:
                await self.lease_timer(self.rules.lease.total_seconds() / 3)
                until = self.clock() + self.rules.lease
                # Shielded: a renewal under way finishes even when the send ends meanwhile.
                await asyncio.shield(self._db(claims.extend, self.store, self.owner, until))

        keeper = asyncio.create_task(keep())
        try:
            yield
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    def _activity(self, key: tuple[int, str]) -> DeliveryActivity:
        found = delivery_activity(self.store, *key)
        if found is None:
            raise CantataError(f"no delivery activity {key[1]!r} for run {key[0]}")
        self._activities[key] = found
        return found

    def _composer(self, activity: DeliveryActivity) -> Composer:
        key = (activity.run, activity.activity)
        if key not in self._composers:
            self._composers[key] = Composer(
                activity.channel,
                activity.settings,
                activity.variables,
                where=f"{activity.campaign} run {activity.run}, node {activity.activity}",
                links=self.links if activity.channel == "email" else None,
                mail_fields=self._mail_fields,
            )
        return self._composers[key]

    def _provider(self, channel: str) -> Provider:
        provider = self.providers.get(channel)
        if provider is None:
            raise CantataError(
                f"no provider for {channel}: add a [channels.{channel}] table to cantata.toml"
            )
        return provider

    def _windows(self, activity: DeliveryActivity, ctx: RenderContext) -> list[Window]:
        """The windows a message must fall in: the activity's send window (built once per
        activity) and, for marketing, the quiet hours in the recipient's zone (once per zone)."""
        key = (activity.run, activity.activity)
        if key not in self._send_windows:
            window = activity.settings.get("send_window")
            self._send_windows[key] = (
                Window.of(
                    parse_local_time(window["start"]),
                    parse_local_time(window["end"]),
                    ZoneInfo(activity.time_zone),
                    window.get("days"),
                )
                if window
                else None
            )
        found = self._send_windows[key]
        windows = [found] if found is not None else []
        quiet = self.rules.quiet_hours
        if quiet is not None and activity.settings.get("category") == "marketing":
            zone = zone_named(ctx.recipient.get(self._tz_field) if self._tz_field else None)
            windows.append(
                quiet_window(quiet.start, quiet.end, zone or ZoneInfo(activity.time_zone))
            )
        return windows

    async def _throttle(self, activity: DeliveryActivity, n: int) -> None:
        rate = activity.settings.get("throttle_per_second")
        if rate:
            key = ("activity", activity.run, activity.activity)
            limiter = self._limits.setdefault(key, RateLimiter(float(rate), self.clock, self.sleep))
            await limiter.take(n)
        provider_limit = self._limits.get(("provider", activity.channel))
        if provider_limit is not None:
            await provider_limit.take(n)

    def _count_errors(self, activity: DeliveryActivity, outcomes: Sequence[Outcome]) -> None:
        """Consecutive failures (retries included) pause the activity after the threshold.
        Counted in SQL: another dispatcher may be counting the same activity's failures."""
        run, node = activity.run, activity.activity
        trailing = 0
        for o in outcomes:
            trailing = 0 if o.status is Status.SENT else trailing + 1
        succeeded = any(o.status is Status.SENT for o in outcomes)
        base = "0" if succeeded else "consecutive_errors"
        self.store.execute(
            f"UPDATE cantata_delivery_activity SET consecutive_errors = {base} + %s "
            "WHERE run = %s AND activity = %s",
            [trailing, run, node],
        )
        errors = int(
            self.store.scalar(
                "SELECT consecutive_errors FROM cantata_delivery_activity WHERE run = %s "
                "AND activity = %s",
                [run, node],
            )
            or 0
        )
        if errors >= self.rules.pause_after_errors:
            last = next((o.error for o in reversed(outcomes) if o.error), None)
            set_status(
                self.store,
                run,
                node,
                PAUSED,
                reason=f"paused after {errors} consecutive errors; last: {last}",
            )
            self.stats.paused.append((run, node))

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.close()
        if self.journal is not None:
            self.journal.close()


def next_due(store: Store) -> datetime | None:
    """When the next pending message of a sending activity is due (UTC)."""
    at = store.scalar(
        "SELECT min(d.next_attempt_at) FROM cantata_delivery d JOIN cantata_delivery_activity a "
        f"ON a.run = d.run AND a.activity = d.activity AND a.status = '{SENDING}' "
        "WHERE d.status = 'pending'"
    )
    return at.replace(tzinfo=UTC) if isinstance(at, datetime) else None
