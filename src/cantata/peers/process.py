"""Running a peer as its own process: a benchmark's or the demo's sink must not share the
sender's GIL. The parent reads the first line for the address and, after SIGTERM, the last
line for what the peer received."""

from __future__ import annotations

import json
import signal
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
