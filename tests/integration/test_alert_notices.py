"""Alert notifications on every engine: an alert activity's message is POSTed, signed, to the
`[alerts] webhook_url` of a real local HTTP server when a run raises it; a failing webhook is
logged and the run goes on; bad settings name the key."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cantata.canvas.alert_notices import alert_notifier
from cantata.delivery.providers.webhook import SIGNATURE_HEADER, verify_signature
from cantata.errors import ConfigError
from cantata.peers.http_sink import HttpSink, Reply
from cantata.workspace import Workspace, init_workspace
from tests.conftest import drop_schema, store_url
from tests.e2e.cli import run
from tests.integration.delivery_fixtures import campaign, load_company, node

NOW = "2026-06-01T10:00:00Z"
WATCHED = campaign(
    "watched",
    [
        node("everyone", "build_audience", entity="customer", rule="customer_id > 0"),
        node(
            "too_many",
            "alert",
            message="{{ vars.who }}: more customers than expected",
            recipients=["ops@example.com"],
        ),
    ],
    ["everyone -> too_many"],
    variables={"who": {"type": "string", "default": "nightly"}},
)


@pytest.fixture
def ws(engine: str, tmp_path: Path) -> Iterator[Path]:
    url, schema = store_url(engine, tmp_path)
    root = tmp_path / "ws"
    init_workspace(root, store_url=url if engine == "postgres" else "duckdb:///cantata.duckdb")
    with Workspace.open(root) as w:
        w.apply_model()
        load_company(w.store)
    (tmp_path / "watched.yaml").write_text(WATCHED)
    yield root
    if schema:
        drop_schema(schema)


def configure(ws: Path, url: str) -> None:
    with (ws / "cantata.toml").open("a") as config:
        config.write(f'\n[alerts]\nwebhook_url = "{url}/alerts"\nsecret = "alert-secret"\n')


def test_a_raised_alert_is_posted_signed_to_the_webhook(ws: Path) -> None:
    with HttpSink() as sink:
        configure(ws, sink.url)
        run("campaign", "publish", str(ws.parent / "watched.yaml"), "--now", NOW, "-w", str(ws))
        run("campaign", "start", "watched", "--var", "who=Monday", "--now", NOW, "-w", str(ws))
        [posted] = sink.requests
    assert (posted.method, posted.path) == ("POST", "/alerts")
    body = json.loads(posted.body)
    assert (body["campaign"], body["node"], body["recipients"]) == (
        "watched",
        "too_many",
        ["ops@example.com"],
    )
    assert body["message"] == "Monday: more customers than expected"
    stamp = posted.headers["x-cantata-timestamp"]
    assert verify_signature(
        "alert-secret", stamp, posted.body, posted.headers[SIGNATURE_HEADER.lower()], time.time()
    )


def test_a_failing_webhook_does_not_stop_the_run(
    ws: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with HttpSink(lambda request: Reply(503)) as sink:
        configure(ws, sink.url)
        run("campaign", "publish", str(ws.parent / "watched.yaml"), "--now", NOW, "-w", str(ws))
        started = json.loads(
            run("campaign", "start", "watched", "--now", NOW, "-w", str(ws), "--json")
        )
        assert len(sink.requests) == 1
    assert started["run"]["status"] == "completed"
    assert "a hook failed after the activity completed" in caplog.text
    with Workspace.open(ws) as w:
        assert w.store.scalar("SELECT count(*) FROM cantata_alert") == 1  # recorded all the same


@pytest.mark.parametrize(
    ("section", "error"),
    [
        ({"webhook": "https://x"}, "unknown key 'webhook' (did you mean 'webhook_url'?)"),
        ({"webhook_url": "ftp://x"}, "'webhook_url' must be an http(s) URL"),
        ({"webhook_url": "https://x", "secret_env": "NO_SUCH_VAR_4X"}, "NO_SUCH_VAR_4X"),
    ],
)
def test_bad_settings_name_the_key(section: dict[str, str], error: str) -> None:
    with pytest.raises(ConfigError, match="alerts") as caught:
        alert_notifier({"alerts": section})
    assert error in str(caught.value)
