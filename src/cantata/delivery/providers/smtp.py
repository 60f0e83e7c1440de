"""The SMTP provider: sends email through a relay over a small pool of reused connections.

A batch is spread over up to `connections` connections, each sending one message at a time
(SMTP is sequential per connection). Connections outlive the batch and are reused by the
next one; a connection that drops or times out is discarded (its message is RETRY: the
server may or may not have taken it) and that worker stops, so a failing server is not
hammered — the messages it did not reach are RETRY and the next batch reconnects.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosmtplib

from cantata.delivery.email_message import DkimKey, address_of, compose, domain_of
from cantata.delivery.message import Message, Outcome, Status
from cantata.delivery.providers.base import OutcomeHook
from cantata.errors import ConfigError, did_you_mean

WHERE = "cantata.toml [channels.email] (smtp provider)"
KEYS = {
    "provider",
    "host",
    "port",
    "username",
    "password",
    "password_env",
    "starttls",
    "use_tls",
    "ca_file",
    "tls_verify",
    "timeout",
    "sender",
    "return_path",
    "domain",
    "helo",
    "dkim",
    "connections",
    "max_messages_per_connection",
}
DKIM_KEYS = {"selector", "domain", "private_key_file"}

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_QUEUE_ID = re.compile(r"queued as\s+<?([A-Za-z0-9._@-]+)", re.IGNORECASE)
_BAD_MAILBOX_CODES = {550, 551, 553}


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str  # default From
    domain: str  # right-hand side of Message-IDs
    return_path: str  # envelope sender (where bounces go)
    helo: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    use_tls: bool = False
    ca_file: str | None = None
    tls_verify: bool = True
    timeout: float = 30.0
    dkim: DkimKey | None = None
    connections: int = 2
    max_messages_per_connection: int | None = None


def smtp_provider(config: Mapping[str, Any], *, root: Path | None = None) -> SmtpProvider:
    return SmtpProvider(smtp_settings(config, root=root))


def smtp_settings(config: Mapping[str, Any], *, root: Path | None = None) -> SmtpSettings:
    """Settings from a `[channels.NAME]` table; a clear ConfigError names the bad key.
    Relative file paths (`ca_file`, the DKIM key) resolve against `root`, the workspace."""
    for key in config:
        if key not in KEYS:
            raise ConfigError(f"unknown key {key!r}{did_you_mean(key, KEYS)}", where=WHERE)
    sender = _text(config, "sender", required=True)
    assert sender is not None
    if "@" not in address_of(sender):
        raise ConfigError(f"'sender' must be an email address, not {sender!r}", where=WHERE)
    use_tls, starttls = _flag(config, "use_tls", False), _flag(config, "starttls", False)
    if use_tls and starttls:
        raise ConfigError(
            "'use_tls' (TLS from the start, port 465) and 'starttls' exclude each other",
            where=WHERE,
        )
    password = _text(config, "password")
    password_env = _text(config, "password_env")
    if password_env:
        password = os.environ.get(password_env)
        if password is None:
            raise ConfigError(
                f"'password_env': environment variable {password_env} is not set", where=WHERE
            )
    domain = _text(config, "domain") or domain_of(sender)
    max_per = config.get("max_messages_per_connection")
    return SmtpSettings(
        host=_text(config, "host") or "localhost",
        port=_number(config, "port", 465 if use_tls else 587 if starttls else 25, int),
        sender=sender,
        domain=domain,
        return_path=_text(config, "return_path") or address_of(sender),
        helo=_text(config, "helo") or domain,
        username=_text(config, "username"),
        password=password,
        starttls=starttls,
        use_tls=use_tls,
        ca_file=_in_workspace(_text(config, "ca_file"), root),
        tls_verify=_flag(config, "tls_verify", True),
        timeout=float(_number(config, "timeout", 30.0, float)),
        dkim=_dkim(config.get("dkim"), root),
        connections=_number(config, "connections", 2, int),
        max_messages_per_connection=(
            None if max_per is None else _number(config, "max_messages_per_connection", 0, int)
        ),
    )


def classify_reply(code: int, text: str) -> tuple[Status, bool]:
    """The status an SMTP reply means for a message, and whether it says the mailbox is bad.
    An enhanced status code (RFC 3463) decides when present: `550 5.7.1 spam` is a permanent
    failure, but not a reason to suppress the address."""
    if 200 <= code < 300:
        return Status.SENT, False
    if code < 500:
        return Status.RETRY, False
    enhanced = _ENHANCED.match(text)
    if enhanced:
        return Status.FAILED, enhanced.group(1) == "5" and enhanced.group(2) == "1"
    return Status.FAILED, code in _BAD_MAILBOX_CODES


@dataclass
class _Connection:
    client: aiosmtplib.SMTP
    sent: int = 0


class _ConnectionLost(Exception):
    """The connection cannot be used any more (dropped, timed out, server closing)."""


class SmtpProvider:
    name = "smtp"

    def __init__(
        self, settings: SmtpSettings, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock  # the Date header's clock (the demo fast-forwards); None: now
        self._idle: list[_Connection] = []
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tls = _tls_context(settings) if settings.use_tls or settings.starttls else None

    async def send(
        self, batch: Sequence[Message], on_outcome: OutcomeHook | None = None
    ) -> list[Outcome]:
        self._bind_loop()
        outcomes: list[Outcome | None] = [None] * len(batch)
        pending = iter(range(len(batch)))  # shared: each worker takes the next message
        workers = min(self.settings.connections, len(batch))
        await asyncio.gather(
            *(self._worker(batch, pending, outcomes, on_outcome) for _ in range(workers))
        )
        return [
            outcome
            or Outcome(
                m.message_id, Status.RETRY, error="not attempted: the SMTP connections failed"
            )
            for m, outcome in zip(batch, outcomes, strict=True)
        ]

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await _quit(connection)

    def _bind_loop(self) -> None:
        # Connections belong to the event loop that opened them; a caller running each batch
        # under its own asyncio.run() must not be handed a dead loop's sockets.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._idle = []
            self._slots = asyncio.Semaphore(self.settings.connections)

    async def _worker(
        self,
        batch: Sequence[Message],
        pending: Iterator[int],
        outcomes: list[Outcome | None],
        on_outcome: OutcomeHook | None,
    ) -> None:
        assert self._slots is not None
        async with self._slots:
            connection = await _alive(self._idle.pop()) if self._idle else None
            try:
                for index in pending:
                    message = batch[index]
                    try:
                        connection = await self._ready(connection)
                    except (aiosmtplib.SMTPException, OSError) as exc:
                        outcomes[index] = _retry(
                            message, f"cannot connect to {self._server}: {exc}"
                        )
                        return
                    try:
                        outcomes[index] = outcome = await self._send_one(connection, message)
                        if on_outcome is not None:
                            on_outcome(outcome)
                    except _ConnectionLost as exc:
                        outcomes[index] = _retry(message, str(exc))
                        await _quit(connection)
                        connection = None
                        return
            finally:
                if connection is not None:
                    self._idle.append(connection)

    async def _ready(self, connection: _Connection | None) -> _Connection:
        limit = self.settings.max_messages_per_connection
        if connection is not None and limit and connection.sent >= limit:
            await _quit(connection)
            connection = None
        if connection is None or not connection.client.is_connected:
            connection = await self._connect()
        return connection

    async def _connect(self) -> _Connection:
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password,
            local_hostname=s.helo,  # not socket.getfqdn(): a DNS lookup per connection
            timeout=s.timeout,
            use_tls=s.use_tls,
            start_tls=s.starttls,
            tls_context=self._tls,
        )
        await client.connect()
        if client.is_ehlo_or_helo_needed:  # our transactions use execute_command directly
            await client.ehlo()
        return _Connection(client)

    async def _send_one(self, connection: _Connection, message: Message) -> Outcome:
        s = self.settings
        address = message.address
        if not _plausible_address(address):
            return Outcome(
                message.message_id,
                Status.FAILED,
                error=f"invalid address {address!r}",
                bad_address=True,
            )
        try:
            date = self.clock() if self.clock else None
            raw = compose(message, sender=s.sender, domain=s.domain, dkim=s.dkim, date=date)
        except ValueError as exc:
            return Outcome(message.message_id, Status.FAILED, error=str(exc))
        try:
            reply = await _transaction(connection.client, s.return_path, address, raw)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0]
            if refusal.code == 421:  # the server is closing this connection
                raise _ConnectionLost(f"{refusal.code} {refusal.message}") from exc
            return _from_reply(message, refusal.code, refusal.message)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == 421:  # the server is closing this connection
                raise _ConnectionLost(f"{exc.code} {exc.message}") from exc
            return _from_reply(message, exc.code, exc.message)
        except aiosmtplib.SMTPNotSupported as exc:
            return Outcome(message.message_id, Status.FAILED, error=str(exc))
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise _ConnectionLost(f"{type(exc).__name__}: {exc or 'connection lost'}") from exc
        connection.sent += 1
        queued = _QUEUE_ID.search(reply)
        provider_id = queued.group(1) if queued else f"{message.message_id}@{s.domain}"
        return Outcome(message.message_id, Status.SENT, provider_id=provider_id)

    @property
    def _server(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"


async def _transaction(client: aiosmtplib.SMTP, sender: str, address: str, raw: bytes) -> str:
    """MAIL, RCPT and DATA for one message: what aiosmtplib's `sendmail` does, minus its
    parsing of both addresses on every call (a quarter of the dispatcher's CPU); ours are
    checked once (`_plausible_address`) and quoted as they are. Returns the DATA reply."""
    options = [] if address.isascii() and sender.isascii() else [b"SMTPUTF8"]
    reply = await client.execute_command(
        b"MAIL", b"FROM:<" + sender.encode("utf-8") + b">", *options
    )
    if reply.code != 250:
        raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
    reply = await client.execute_command(b"RCPT", b"TO:<" + address.encode("utf-8") + b">")
    if reply.code not in (250, 251):
        refused = aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, address)
        if reply.code != 421:  # the server is not closing: end the transaction
            await client.rset()
        raise aiosmtplib.SMTPRecipientsRefused([refused])
    return (await client.data(raw)).message


def _from_reply(message: Message, code: int, text: str) -> Outcome:
    status, bad_address = classify_reply(code, text)
    return Outcome(message.message_id, status, error=f"{code} {text}", bad_address=bad_address)


def _retry(message: Message, error: str) -> Outcome:
    return Outcome(message.message_id, Status.RETRY, error=error)


async def _alive(connection: _Connection) -> _Connection | None:
    """The idle connection if the server still answers on it (servers close idle ones)."""
    try:
        await connection.client.noop()
    except (aiosmtplib.SMTPException, OSError):
        connection.client.close()
        return None
    return connection


async def _quit(connection: _Connection) -> None:
    try:
        await connection.client.quit()
    except (aiosmtplib.SMTPException, OSError):
        connection.client.close()


def _plausible_address(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at and local and domain) and not any(c in address for c in " \t\r\n<>,")


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=settings.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"'ca_file' {settings.ca_file}: {exc}", where=WHERE) from exc
    if not settings.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _in_workspace(path: str | None, root: Path | None) -> str | None:
    return None if path is None else str((root or Path.cwd()) / path)


def _dkim(value: object, root: Path | None) -> DkimKey | None:
    if value is None:
        return None
    where = f"{WHERE} dkim"
    if not isinstance(value, Mapping):
        raise ConfigError("must be a table with selector, domain and private_key_file", where=where)
    for key in value:
        if key not in DKIM_KEYS:
            raise ConfigError(f"unknown key {key!r}{did_you_mean(key, DKIM_KEYS)}", where=where)
    missing = sorted(DKIM_KEYS - set(value))
    if missing:
        raise ConfigError(f"missing {', '.join(missing)}", where=where)
    return DkimKey.from_file(
        str(value["selector"]),
        str(value["domain"]),
        (root or Path.cwd()) / str(value["private_key_file"]),
        where=where,
    )


def _text(config: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = config.get(key)
    if value is None:
        if required:
            raise ConfigError(f"missing {key!r}", where=WHERE)
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key!r} must be a non-empty string", where=WHERE)
    return value


def _flag(config: Mapping[str, Any], key: str, default: bool) -> bool:
    value = config.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key!r} must be true or false, not {value!r}", where=WHERE)
    return value


def _number(
    config: Mapping[str, Any], key: str, default: float, kind: type[int] | type[float]
) -> Any:
    value = config.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (kind is int and not isinstance(value, int))
    ):
        raise ConfigError(
            f"{key!r} must be a {'whole ' if kind is int else ''}number, not {value!r}", where=WHERE
        )
    if value <= 0:
        raise ConfigError(f"{key!r} must be greater than 0", where=WHERE)
    return value
