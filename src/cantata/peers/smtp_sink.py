"""A real SMTP server (aiosmtpd) that accepts mail for tests, the demo and benchmarks.

`with SmtpSink() as sink:` serves on 127.0.0.1 on an OS-assigned port (`sink.port`) from its
own thread and event loop, and records what it receives: every message (`keep=True`), or
counts only (`keep=False`: constant memory for benchmarks), optionally also one .eml file per
message in `spool` so another process can check them.

Faults are served by the handler like a real server would: `policy(rcpt, index)` may answer a
RCPT with another reply (451, 550 ...), `drop_after=N` closes each connection without answering
when its N+1th message arrives, `delay` holds every DATA reply (a slow server).

`python -m cantata.peers.smtp_sink [--port N] [--spool DIR]` runs it as its own
process (a benchmark's sink must not share the sender's GIL); it prints `listening on
HOST:PORT`, then its counts as JSON when stopped (SIGTERM / Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import os
import ssl
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

from cantata.peers import Peer
from cantata.peers.process import serve_until_stopped

# (recipient, index of this RCPT at the sink, from 0) -> the reply to give instead of 250.
RcptPolicy = Callable[[str, int], "tuple[int, str] | None"]


@dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    queue_id: str

    def parsed(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SinkCounts:
    connections: int = 0
    messages: int = 0
    bytes: int = 0
    refused: int = 0  # RCPTs answered by the policy instead of accepted
    dropped: int = 0  # connections closed by drop_after


@dataclass
class _SinkHandler:
    keep: bool
    spool: Path | None
    policy: RcptPolicy | None
    drop_after: int | None
    delay: float
    counts: SinkCounts = field(default_factory=SinkCounts)
    messages: list[ReceivedMessage] = field(default_factory=list)
    rcpt_index: int = 0
    # Messages accepted on each live connection (keyed by its session), for drop_after.
    per_connection: dict[int, int] = field(default_factory=dict)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        index = self.rcpt_index
        self.rcpt_index += 1
        reply = self.policy(address, index) if self.policy else None
        if reply is not None:
            self.counts.refused += 1
            return f"{reply[0]} {reply[1]}"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        key = id(session)
        accepted = self.per_connection.get(key, 0)
        if self.drop_after is not None and accepted >= self.drop_after:
            # Hang up without a reply, as a crashing server would: the client cannot know
            # whether this message was taken.
            self.counts.dropped += 1
            self.per_connection.pop(key, None)
            if isinstance(server.transport, asyncio.Transport):
                server.transport.abort()
            return "421 4.3.0 Connection dropped"
        if self.delay:
            await asyncio.sleep(self.delay)
        self.per_connection[key] = accepted + 1
        data = envelope.original_content or b""
        if isinstance(data, str):
            data = data.encode("utf-8")
        number = self.counts.messages
        self.counts.messages += 1
        self.counts.bytes += len(data)
        queue_id = f"Q{number:08X}"
        if self.keep:
            self.messages.append(
                ReceivedMessage(envelope.mail_from or "", tuple(envelope.rcpt_tos), data, queue_id)
            )
        if self.spool is not None:
            target = self.spool / f"{number:08d}.eml"
            partial = target.with_suffix(".part")
            partial.write_bytes(data)
            os.replace(partial, target)  # readers never see half a message
        return f"250 2.0.0 Ok: queued as {queue_id}"


class _SinkSMTP(SMTP):
    def __init__(self, handler: _SinkHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._sink_handler = handler

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # STARTTLS calls this again for the same connection; count only the first.
        if self._original_transport is None:
            self._sink_handler.counts.connections += 1
        super().connection_made(transport)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        # aiosmtpd reads DATA a line at a time (an await and a log call per line, the sink's
        # main cost); this reads up to the terminating dot in blocks of the stream limit.
        # No size or line-length limits: the sink accepts whatever it is sent.
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        blocks = [b"\r\n"]  # so that a first line starting with "." is unstuffed too
        while True:
            try:
                blocks.append(await self._reader.readuntil(b"\r\n.\r\n"))
                break
            except asyncio.LimitOverrunError as exc:
                # No terminator within the limit: take what cannot hold its start.
                blocks.append(await self._reader.readexactly(exc.consumed))
        stuffed = b"".join(blocks)[: -len(b".\r\n")]
        content = stuffed.replace(b"\r\n.", b"\r\n")[2:]  # RFC 5321 4.5.2 transparency
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push(status)

    def connection_lost(self, error: Exception | None) -> None:
        if self.session is not None:
            self._sink_handler.per_connection.pop(id(self.session), None)
        super().connection_lost(error)


class _SinkController(Controller):
    def factory(self) -> SMTP:
        return _SinkSMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # Port 0 asks the OS for a free port; learn which before the readiness probe uses it.
        if self.port == 0 and isinstance(self.server, asyncio.Server):
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpSink(Peer):
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        keep: bool = True,
        spool: Path | None = None,
        policy: RcptPolicy | None = None,
        drop_after: int | None = None,
        delay: float = 0.0,
        tls_context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
    ) -> None:
        if spool is not None:
            spool.mkdir(parents=True, exist_ok=True)
        self.host = host
        self._handler = _SinkHandler(keep, spool, policy, drop_after, delay)
        self._controller = _SinkController(
            self._handler,
            hostname=host,
            port=port,
            server_hostname="cantata-sink",  # no getfqdn() (a DNS lookup) per connection
            decode_data=False,
            enable_SMTPUTF8=True,
            data_size_limit=None,
            tls_context=tls_context,
            require_starttls=require_starttls,
        )

    # The fault knobs can be changed while serving (e.g. stop dropping to test recovery).
    @property
    def policy(self) -> RcptPolicy | None:
        return self._handler.policy

    @policy.setter
    def policy(self, value: RcptPolicy | None) -> None:
        self._handler.policy = value

    @property
    def drop_after(self) -> int | None:
        return self._handler.drop_after

    @drop_after.setter
    def drop_after(self, value: int | None) -> None:
        self._handler.drop_after = value

    @property
    def delay(self) -> float:
        return self._handler.delay

    @delay.setter
    def delay(self, value: float) -> None:
        self._handler.delay = value

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def counts(self) -> SinkCounts:
        return self._handler.counts

    @property
    def messages(self) -> list[ReceivedMessage]:
        return self._handler.messages

    def start(self) -> SmtpSink:
        self._controller.start()
        self._handler.counts.connections = 0  # the controller's own readiness probe
        return self

    def stop(self) -> None:
        self._controller.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cantata.peers.smtp_sink")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--spool", type=Path, help="write one .eml per message here")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each reply")
    args = parser.parse_args(argv)
    serve_until_stopped(
        SmtpSink(args.host, args.port, keep=False, spool=args.spool, delay=args.delay),
        address=lambda sink: f"{sink.host}:{sink.port}",
        counts=lambda sink: asdict(sink.counts),
    )


if __name__ == "__main__":
    main()
