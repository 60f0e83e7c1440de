"""What HTTP providers share: one pooled client per provider, the mapping from an HTTP
answer (or a network failure) to a message's `Outcome`, and the provider skeleton
(`HttpProvider`; `PerMessageProvider` for one request per message).

2xx → SENT · 408, 429, 5xx, timeouts, connection errors → RETRY (with the server's
Retry-After, in seconds or as an HTTP-date) · any other status → FAILED.
"""

from __future__ import annotations

import asyncio
import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple

import httpx

from cantata.delivery.message import Message, Outcome, Status
from cantata.delivery.providers.base import OutcomeHook
from cantata.errors import ConfigError, did_you_mean

Clock = Callable[[], datetime]

RETRYABLE_4XX = {408, 425, 429}  # request timeout, too early, too many requests
ERROR_SNIPPET = 200  # characters of a refusal's body kept in the outcome's error


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110
    §10.2.3). None when absent or unreadable; a date in the past means 0."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" parses as naive; HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def outcome_for_response(
    message_id: str,
    response: httpx.Response,
    now: datetime,
    *,
    provider_id: str | None = None,
    bad_address: bool = False,
) -> Outcome:
    """The outcome a status code means. `bad_address` (decided by the caller from the
    provider's own error codes) only counts for a permanent failure."""
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(message_id, Status.SENT, provider_id=provider_id)
    error = f"HTTP {code}: {response.text[:ERROR_SNIPPET]}".rstrip(": ")
    if code in RETRYABLE_4XX or code >= 500:
        retry_after = parse_retry_after(response.headers.get("retry-after"), now)
        return Outcome(message_id, Status.RETRY, error=error, retry_after=retry_after)
    return Outcome(message_id, Status.FAILED, error=error, bad_address=bad_address)


def outcome_for_error(message_id: str, exc: httpx.HTTPError) -> Outcome:
    """A request that got no answer (timeout, refused, reset) may not have been seen: retry.
    The Idempotency-Key makes a retry of a request that did arrive harmless."""
    kind = type(exc).__name__
    return Outcome(message_id, Status.RETRY, error=f"{kind}: {exc}".rstrip(": "))


def json_field(response: httpx.Response, *path: str) -> Any:
    """A field of a JSON answer, or None when the body is not JSON or lacks it."""
    try:
        value: Any = response.json()
    except ValueError:
        return None
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


@dataclass(frozen=True)
class ClientSettings:
    timeout: float = 10.0  # seconds, for connect, read, write and waiting for a connection
    max_connections: int = 10  # also the number of requests in flight at once

    @classmethod
    def from_config(cls, config: Mapping[str, Any], where: str) -> ClientSettings:
        timeout = config.get("timeout", cls.timeout)
        connections = config.get("max_connections", cls.max_connections)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise ConfigError(
                f"'timeout' must be a positive number of seconds, not {timeout!r}", where=where
            )
        if not isinstance(connections, int) or isinstance(connections, bool) or connections < 1:
            raise ConfigError(
                f"'max_connections' must be a positive integer, not {connections!r}", where=where
            )
        return cls(timeout=float(timeout), max_connections=connections)


class PooledClient:
    """One `httpx.AsyncClient` for the provider's whole life, so connections are reused
    across batches. It is created on first use because it belongs to the running event
    loop; a new loop (a caller using `asyncio.run` per batch) gets a new client."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self._headers = dict(headers or {})
        self._auth = auth
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight: asyncio.Semaphore | None = None
        self.clients_created = 0

    def _current(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._client is None or self._in_flight is None or self._loop is not loop:
            limits = httpx.Limits(
                max_connections=self.settings.max_connections,
                max_keepalive_connections=self.settings.max_connections,
            )
            transport = httpx.AsyncHTTPTransport(
                limits=limits,
                # Without TCP_NODELAY a body sent after its headers waits on Nagle's
                # algorithm and the peer's delayed ACK: ~40 ms per request.
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            )
            self._client = httpx.AsyncClient(
                transport=transport,
                timeout=httpx.Timeout(self.settings.timeout),
                headers=self._headers,
                auth=self._auth,
            )
            self._in_flight = asyncio.Semaphore(self.settings.max_connections)
            self._loop = loop
            self.clients_created += 1
        return self._client, self._in_flight

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        client, in_flight = self._current()
        # The semaphore keeps a large batch from queueing inside the pool, where waiting
        # for a connection would count against the timeout.
        async with in_flight:
            return await client.post(url, **kwargs)

    async def close(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None
        self._in_flight = None
        self._loop = None


def provider_where(channel: str, name: str) -> str:
    """Where a provider's configuration error is: its channel's table in cantata.toml."""
    return f"cantata.toml [channels.{channel}] ({name} provider)"


CLIENT_KEYS = frozenset({"provider", "timeout", "max_connections"})


def check_keys(config: Mapping[str, Any], known: Iterable[str], where: str) -> None:
    """An unknown key is an error naming it (and the nearest known one): a misspelt
    `auth_tokn` must not silently fall back to a default."""
    valid = set(known)
    for key in config:
        if key not in valid:
            raise ConfigError(f"unknown key {key!r}{did_you_mean(key, valid)}", where=where)


def secret(config: Mapping[str, Any], key: str, where: str, *, required: bool) -> str | None:
    """A credential given as `key = "..."` or, to keep it out of the file, as
    `key_env = "VARIABLE"` naming an environment variable."""
    variable = config.get(f"{key}_env")
    if variable is not None:
        if not isinstance(variable, str) or not variable:
            raise ConfigError(f"'{key}_env' must name an environment variable", where=where)
        value = os.environ.get(variable)
        if not value:
            raise ConfigError(f"'{key}_env': the variable {variable} is not set", where=where)
        return value
    if required:
        return required_str(config, key, where)
    return optional_str(config, key, where)


def missing_part(message: Message, part: str) -> Outcome | None:
    """A FAILED outcome when the rendered `part` the channel needs is empty, else None."""
    if message.content.get(part):
        return None
    error = f"the {message.channel} message has no rendered {part!r}"
    return Outcome(message.message_id, Status.FAILED, error=error)


async def send_each(
    batch: Sequence[Message],
    send_one: Callable[[Message], Awaitable[Outcome]],
    on_outcome: OutcomeHook | None,
) -> list[Outcome]:
    """Send every message of the batch concurrently (the client bounds how many at once),
    reporting each outcome the moment it is known, and answer them in batch order."""

    async def one(message: Message) -> Outcome:
        outcome = await send_one(message)
        if on_outcome is not None:
            on_outcome(outcome)
        return outcome

    return list(await asyncio.gather(*(one(m) for m in batch)))


def required_str(config: Mapping[str, Any], key: str, where: str) -> str:
    value = config.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"missing {key!r} (a non-empty string)", where=where)
    return value


def optional_str(config: Mapping[str, Any], key: str, where: str) -> str | None:
    value = config.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{key!r} must be a string, not {value!r}", where=where)
    return value


def bearer(token: str | None) -> dict[str, str]:
    """The Authorization header for an optional bearer token."""
    return {"Authorization": f"Bearer {token}"} if token else {}


class Credentials(NamedTuple):
    """What a provider's pooled client sends on every request."""

    headers: Mapping[str, str] = {}
    auth: tuple[str, str] | None = None


class HttpProvider(ABC):
    """The skeleton of an HTTP provider: its `[channels.CHANNEL]` table checked against
    `keys`, one pooled client for its whole life, an injectable clock, `close`. A subclass
    reads its own keys in `_configure` and says how it sends a batch."""

    name: str
    channel: str
    keys: frozenset[str]

    def __init__(self, config: Mapping[str, Any], *, clock: Clock = utc_now) -> None:
        where = provider_where(self.channel, self.name)
        check_keys(config, self.keys, where)
        credentials = self._configure(config, where)
        self.client = PooledClient(
            ClientSettings.from_config(config, where),
            headers=credentials.headers,
            auth=credentials.auth,
        )
        self.clock = clock

    @abstractmethod
    def _configure(self, config: Mapping[str, Any], where: str) -> Credentials:
        """Read the provider's own keys (errors name `where`); answer the client's
        credentials."""

    async def close(self) -> None:
        await self.client.close()


@dataclass(frozen=True)
class Request:
    """One message's request: a JSON body or a form (`form`), and its own headers."""

    url: str
    headers: Mapping[str, str]
    json: Any = None
    form: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Answer:
    """What a provider reads from a response besides its status code."""

    provider_id: object = None  # stringified; None when the provider gave none
    bad_address: bool = False


class PerMessageProvider(HttpProvider):
    """One request per message, a batch sent concurrently (SMS and push). A message
    without a rendered body is refused before any request; a subclass builds the request
    (`_request`) and reads the provider's id and error codes from the answer (`_answer`)."""

    async def send(
        self, batch: Sequence[Message], on_outcome: OutcomeHook | None = None
    ) -> list[Outcome]:
        return await send_each(batch, self._send_one, on_outcome)

    async def _send_one(self, message: Message) -> Outcome:
        if (refused := missing_part(message, "body")) is not None:
            return refused
        request = self._request(message)
        try:
            response = await self.client.post(
                request.url, json=request.json, data=request.form, headers=request.headers
            )
        except httpx.HTTPError as exc:
            return outcome_for_error(message.message_id, exc)
        answer = self._answer(message, response)
        return outcome_for_response(
            message.message_id,
            response,
            self.clock(),
            provider_id=str(answer.provider_id) if answer.provider_id is not None else None,
            bad_address=answer.bad_address,
        )

    @abstractmethod
    def _request(self, message: Message) -> Request: ...

    @abstractmethod
    def _answer(self, message: Message, response: httpx.Response) -> Answer: ...
