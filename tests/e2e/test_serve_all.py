"""`cantata serve --all` as a real process on a DuckDB workspace: the one owner of the store
serves the REST API and the tracking app and does the scheduler's and the dispatcher's work —
a campaign started over the API is sent to a real SMTP server, and its open pixel, fetched
from the same server, shows in the report."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from cantata.peers.smtp_sink import SmtpSink
from cantata.workspace import Workspace, init_workspace
from tests.e2e.cli import run
from tests.integration.delivery_fixtures import campaign, load_company, node

CANTATA = str(Path(sys.executable).with_name("cantata"))
HELLO = campaign(
    "hello",
    [
        node("stays", "build_audience", entity="booking", rule='status = "confirmed"'),
        node(
            "mail",
            "email",
            per="booking",
            subject="{{ recipient.first_name }}: booking {{ target.booking_id }}",
            body="<p>{{ target.nights }} nights</p>",
        ),
    ],
    ["stays -> mail"],
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(found: Callable[[], bool], what: str, seconds: float = 60) -> None:
    """Wait for another process to do something (not for time to pass): poll, with a limit."""
    deadline = time.monotonic() + seconds
    while not found():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.05)


@dataclass
class Served:
    base: str
    output: str = ""  # what the server printed, once it stopped


@contextmanager
def serving(ws: Path, *options: str, port: int | None = None) -> Iterator[Served]:
    """`cantata serve OPTIONS` on the workspace as its own process, until the block ends
    (then SIGTERM, its output kept): it owns a DuckDB store, as in production."""
    port = port or free_port()
    served = Served(f"http://127.0.0.1:{port}")
    server = subprocess.Popen(
        [CANTATA, "serve", "--port", str(port), "-w", str(ws), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def listening() -> bool:
        try:
            return httpx.get(f"{served.base}/health").status_code == 200
        except httpx.TransportError:
            assert server.poll() is None, server.stdout and server.stdout.read()
            return False

    try:
        until(listening, "the server to listen")
        yield served
    finally:
        server.send_signal(signal.SIGTERM)
        served.output, _ = server.communicate(timeout=60)
    # uvicorn stops gracefully on SIGTERM (the background work included), then exits by it.
    assert server.returncode in (0, -signal.SIGTERM), served.output
    assert "Application shutdown complete" in served.output, served.output
    assert "Traceback" not in served.output, served.output


def test_one_process_serves_the_api_and_tracking_and_sends(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    init_workspace(ws)
    with Workspace.open(ws) as w:
        w.apply_model()
        load_company(w.store)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with SmtpSink() as sink:
        with (ws / "cantata.toml").open("a") as config:
            config.write(
                f'\n[channels.email]\nprovider = "smtp"\nhost = "127.0.0.1"\nport = {sink.port}\n'
                'sender = "hello@travel.example"\n'
                f'\n[tracking]\nbase_url = "{base}"\nsecret = "a-long-enough-test-secret"\n'
            )
        token = json.loads(
            run("token", "create", "ops", "--role", "publisher", "-w", str(ws), "--json")
        )
        bearer = {"Authorization": f"Bearer {token['token']}"}
        with (
            serving(ws, "--all", "--idle", "0.1", port=port),
            httpx.Client(base_url=base, headers=bearer, timeout=30) as client,
        ):
            yaml = {"Content-Type": "application/yaml"}
            published = client.post("/campaigns/hello/publish", content=HELLO, headers=yaml)
            assert published.status_code == 200, published.text
            started = client.post("/campaigns/hello/runs")
            assert started.status_code == 201, started.text

            until(lambda: len(sink.messages) == 3, "the three emails")
            subjects = sorted(m.parsed()["Subject"] for m in sink.messages)
            assert subjects == ["Ana: booking 100", "Ana: booking 101", "Ben: booking 102"]
            html = sink.messages[0].parsed().get_body(("html",))
            assert html is not None
            pixel = re.search(rf'src="{re.escape(base)}(/o/[^"]+)"', html.get_content())
            assert pixel is not None
            opened = client.get(pixel.group(1))
            assert (opened.status_code, opened.headers["content-type"]) == (200, "image/gif")

            def reported() -> dict[str, int]:
                [mail] = client.get("/campaigns/hello/report").json()["activities"]
                return mail

            until(lambda: reported()["sent"] == 3, "the sends to be recorded")
            assert reported()["opened"] == 1  # unique opens


def test_without_tracking_settings_it_serves_and_sends_untracked(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    init_workspace(ws)  # no [tracking]: as the demo's workspace
    with serving(ws, "--all") as served:
        assert httpx.get(f"{served.base}/o/anything").status_code == 404
    assert "no [tracking] in cantata.toml" in served.output
