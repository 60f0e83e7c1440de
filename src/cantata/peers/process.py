"""Running a peer as its own process: a benchmark's or the demo's sink must not share the
sender's GIL. The parent reads the first line for the address and, after SIGTERM, the last
line for what the peer received."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

from cantata.peers import Peer

AnyPeer = TypeVar("AnyPeer", bound=Peer)


def serve_until_stopped(
    peer: AnyPeer,
    address: Callable[[AnyPeer], str],
    counts: Callable[[AnyPeer], Mapping[str, int]],
) -> None:
    """Serve `peer`, print `listening on ADDRESS`, wait for SIGTERM or Ctrl-C, then print
    its counts as one line of JSON."""
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    with peer:
        print(f"listening on {address(peer)}", flush=True)
        stopped.wait()
    json.dump(dict(counts(peer)), sys.stdout)
    print(flush=True)


class PeerProcess:
    """A peer started as its own process: `with PeerProcess("cantata.peers.smtp_sink",
    "--spool", dir) as p: p.address` — the address it printed; `p.counts` once stopped."""

    def __init__(self, module: str, *args: str) -> None:
        self.command = [sys.executable, "-m", module, *args]
        self.address = ""
        self.counts: dict[str, int] = {}

    def __enter__(self) -> PeerProcess:
        self._process = subprocess.Popen(self.command, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.startswith("listening on "):
            self._process.kill()
            raise RuntimeError(f"{' '.join(self.command)} did not start: {line!r}")
        self.address = line.removeprefix("listening on ")
        return self

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    def __exit__(self, *exc: object) -> None:
        self._process.terminate()
        out, _ = self._process.communicate(timeout=30)
        last = out.strip().splitlines()[-1] if out.strip() else "{}"
        self.counts = json.loads(last)
