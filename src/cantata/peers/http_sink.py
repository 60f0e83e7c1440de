"""A real local HTTP server that records what it receives and answers what it is told to.

Tests point every HTTP provider at it, the demo uses it as the local SMS endpoint. It runs
uvicorn in a background thread on a socket bound before the thread starts, so `.url` is
usable as soon as the context manager is entered (the kernel queues early connections).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from cantata.peers import Peer
from cantata.peers.process import serve_until_stopped


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    client_port: int  # the client's source port: one per connection, shows connection reuse

    def text(self) -> str:
        return self.body.decode()


class Reply(NamedTuple):
    status: int
    headers: Mapping[str, str] = {}
    body: bytes | str = b""
    # Answer only once this is set (at most HOLD_LIMIT seconds): a request kept in flight
    # until the test says so.
    hold: threading.Event | None = None


HOLD_LIMIT = 10.0


# A policy decides the answer to each request; it runs on the server's thread.
Policy = Callable[[RecordedRequest], Reply | tuple[int, Mapping[str, str], bytes | str]]


def accept(request: RecordedRequest) -> Reply:
    """The default policy: 200 with `{"id": "sink-ok"}`."""
    return Reply(200, {"content-type": "application/json"}, b'{"id": "sink-ok"}')


def fail_first(n: int, failure: Reply, then: Policy = accept) -> Policy:
    """Answer `failure` to the first `n` requests, then defer to `then`."""
    lock = threading.Lock()
    seen = 0

    def policy(request: RecordedRequest) -> Reply | tuple[int, Mapping[str, str], bytes | str]:
        nonlocal seen
        with lock:
            seen += 1
            failing = seen <= n
        return failure if failing else then(request)

    return policy


@dataclass
class HttpSink(Peer):
    """`with HttpSink(policy) as sink: ... sink.url ... sink.requests`.

    `delay` (seconds, changeable while running) holds every answer back, to make a slow
    server; requests still being held when the sink closes are dropped. With `keep=False`
    it only counts requests (for long runs); the policy still sees each one."""

    policy: Policy = accept
    delay: float = 0.0
    host: str = "127.0.0.1"
    port: int = 0  # 0: the OS picks a free one
    keep: bool = True
    count: int = field(default=0, init=False)
    _requests: list[RecordedRequest] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _server: uvicorn.Server | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _socket: socket.socket | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        if self._socket is None:
            raise RuntimeError("the HTTP sink is not running (use it as a context manager)")
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def start(self) -> HttpSink:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
        # protocol says TCP, and without it every answer waits ~40 ms on Nagle + delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(2048)
        self._socket = sock
        config = uvicorn.Config(
            self._app,
            log_config=None,  # leave the host application's logging alone
            log_level="warning",
            access_log=False,
            lifespan="off",
            interface="asgi3",
            backlog=2048,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name="cantata-http-sink",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        client = request.client
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
            client_port=client.port if client else 0,
        )
        with self._lock:
            self.count += 1
            if self.keep:
                self._requests.append(recorded)
        reply = Reply(*self.policy(recorded))
        if reply.hold is not None:
            await asyncio.to_thread(reply.hold.wait, HOLD_LIMIT)
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        status, headers, body = reply.status, reply.headers, reply.body
        await Response(body, status_code=status, headers=dict(headers))(scope, receive, send)


def main(argv: list[str] | None = None) -> None:
    """Run the sink as its own process (a local SMS endpoint for the demo or a benchmark,
    without sharing the sender's GIL). Prints its URL, and its request count on SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m cantata.peers.http_sink")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args(argv)
    serve_until_stopped(
        HttpSink(host=args.host, port=args.port, delay=args.delay, keep=False),
        address=lambda sink: sink.url,
        counts=lambda sink: {"requests": sink.count},
    )


if __name__ == "__main__":
    main()
