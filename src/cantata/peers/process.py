"""Running a peer as its own process: a benchmark's or the demo's sink must not share the
sender's GIL. The parent reads the first line for the address and, after SIGTERM, the last
line for what the peer received."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TypeVar

Peer = TypeVar("Peer")


def serve_until_stopped(
    peer: AbstractContextManager[Peer],
    address: Callable[[Peer], str],
    counts: Callable[[Peer], Mapping[str, int]],
) -> None:
    """Serve `peer`, print `listening on ADDRESS`, wait for SIGTERM or Ctrl-C, then print
    its counts as one line of JSON."""
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    with peer as serving:
        print(f"listening on {address(serving)}", flush=True)
        stopped.wait()
    json.dump(dict(counts(serving)), sys.stdout)
    print(flush=True)
