"""The tracking app over HTTP (httpx on the ASGI app, and once through a real uvicorn server):
opens, clicks, unsubscribes, provider callbacks and DSN bounces land in history, the ledger,
consent and suppression, on every engine."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
import uvicorn
from starlette.applications import Starlette
from typer.testing import CliRunner

from cantata.cli.tracking import app as tracking_cli
from cantata.store.base import Store
from cantata.tracking.app import PIXEL, redact_callback_keys, tracking_app
from cantata.tracking.links import TrackingLinks
from cantata.tracking.tokens import Kind, TokenSigner
from cantata.workspace import init_workspace
from tests.unit.test_bounces import MAILBOX_FULL, POSTFIX_HARD

SECRET = b"tracking-secret-for-tests"
CALLBACK = "callback-secret"
BASE = "https://t.example.com"
NOW = datetime(2024, 5, 14, 8, 30, tzinfo=UTC)
links = TrackingLinks(BASE, SECRET)


def add_message(
    store: Store,
    message_id: str,
    *,
    recipient: str = "c1",
    channel: str = "email",
    address: str = "Ann@Example.org",
    provider_id: str | None = None,
    secondary_key: str | None = None,
) -> None:
    stamp = NOW.replace(tzinfo=None)
    store.execute(
        "INSERT INTO cantata_delivery (message_id, run, activity, campaign, channel, recipient, "
        "secondary_key, address, status, attempts, next_attempt_at, created_at, sent_at, "
        "provider_id) VALUES (%s, 7, 'welcome', 'spring', %s, %s, %s, %s, 'sent', 1, %s, %s, "
        "%s, %s)",
        [message_id, channel, recipient, secondary_key, address, stamp, stamp, stamp, provider_id],
    )


def history(store: Store, message_id: str | None = None) -> list[tuple[Any, ...]]:
    where, params = ("WHERE message_id = %s", [message_id]) if message_id else ("", [])
    return store.fetchall(
        "SELECT message_id, campaign, activity, run_id, recipient, secondary_key, channel, "
        f'event, "at", details FROM cantata_history {where} ORDER BY "at", event',
        params,
    )


def events(store: Store, message_id: str) -> list[str]:
    return [row[7] for row in history(store, message_id)]


def feedback(store: Store, message_id: str) -> str | None:
    value = store.scalar(
        "SELECT feedback FROM cantata_delivery WHERE message_id = %s", [message_id]
    )
    return None if value is None else str(value)


def suppressed(store: Store) -> list[tuple[Any, ...]]:
    return store.fetchall(
        "SELECT address, channel, reason FROM cantata_suppression ORDER BY channel, address"
    )


def consent(store: Store) -> list[tuple[Any, ...]]:
    return store.fetchall(
        "SELECT recipient, channel, purpose, status FROM cantata_consent ORDER BY recipient"
    )


@pytest.fixture
def app(store: Store) -> Starlette:
    return tracking_app(store, SECRET, callback_secret=CALLBACK, clock=lambda: NOW)


def call(app: Starlette, method: str, url: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(go())


def path(url: str) -> str:
    return url.removeprefix(BASE)


# --- opens and clicks -------------------------------------------------------------------


def test_the_open_pixel_is_a_gif_and_every_open_is_recorded(app: Starlette, store: Store) -> None:
    add_message(store, "m1", secondary_key="b9")
    for _ in range(2):
        response = call(app, "GET", path(links.open_url("m1")))
        assert response.status_code == 200
        assert response.content == PIXEL and response.content.startswith(b"GIF89a")
        assert response.headers["content-type"] == "image/gif"
        assert "no-store" in response.headers["cache-control"]
    assert (
        history(store, "m1")
        == [
            (
                "m1",
                "spring",
                "welcome",
                "7",
                "c1",
                "b9",
                "email",
                "opened",
                NOW.replace(tzinfo=None),
                None,
            )
        ]
        * 2
    )
    assert feedback(store, "m1") == "opened"


def test_concurrent_opens_are_all_recorded(app: Starlette, store: Store) -> None:
    add_message(store, "m1")
    url = path(links.open_url("m1"))

    async def many() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            responses = await asyncio.gather(*(client.get(url) for _ in range(40)))
        return [r.status_code for r in responses]

    assert asyncio.run(many()) == [200] * 40
    assert events(store, "m1") == ["opened"] * 40


def test_a_click_redirects_to_the_signed_url_and_is_recorded(app: Starlette, store: Store) -> None:
    add_message(store, "m1")
    html = links.rewrite_html('<a href="https://shop.example/deal?a=1&amp;b=%C3%A9">x</a>', "m1")
    click = html.split('href="', 1)[1].split('"', 1)[0]
    response = call(app, "GET", path(click))
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.example/deal?a=1&b=%C3%A9"
    [row] = history(store, "m1")
    assert row[7] == "clicked"
    assert json.loads(row[9]) == {"url": "https://shop.example/deal?a=1&b=%C3%A9"}
    assert feedback(store, "m1") == "clicked"


def test_no_open_redirect(app: Starlette, store: Store) -> None:
    add_message(store, "m1")
    forged = TokenSigner(b"an attacker's own secret").sign(
        Kind.CLICK, "m1", "https://evil.example/"
    )
    good = links.click_url("m1", "https://shop.example/").removeprefix(BASE + "/c/")
    open_token = links.open_url("m1").removeprefix(BASE + "/o/")
    for token in [forged, good[:-2] + ("AA" if good[-2:] != "AA" else "BB"), open_token, "x"]:
        response = call(app, "GET", f"/c/{token}")
        assert response.status_code == 404
        assert "location" not in response.headers
        assert "evil.example" not in response.text
    # Even our own signature does not send anyone to a non-http(s) URL.
    script = links.click_url("m1", "javascript:alert(1)")
    assert call(app, "GET", path(script)).status_code == 404
    assert history(store) == []


def test_a_valid_link_of_an_unknown_message_still_works_but_counts_nothing(
    app: Starlette, store: Store
) -> None:
    response = call(app, "GET", path(links.click_url("gone", "https://shop.example/")))
    assert (response.status_code, response.headers["location"]) == (302, "https://shop.example/")
    assert call(app, "GET", path(links.open_url("gone"))).status_code == 200
    assert history(store) == []


# --- unsubscribe --------------------------------------------------------------------------

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def test_get_shows_a_form_and_does_not_unsubscribe(app: Starlette, store: Store) -> None:
    add_message(store, "m1")
    response = call(app, "GET", path(links.unsubscribe_url("m1")))
    assert response.status_code == 200
    assert '<form method="post">' in response.text
    assert 'name="List-Unsubscribe" value="One-Click"' in response.text
    assert history(store) == [] and consent(store) == []


def test_one_click_post_denies_consent_once(app: Starlette, store: Store) -> None:
    add_message(store, "m1")
    store.execute(
        "INSERT INTO cantata_consent VALUES ('c1', 'email', 'marketing', 'granted', 'signup', "
        "TIMESTAMP '2024-01-01 00:00:00')"
    )
    url = path(links.unsubscribe_url("m1"))
    for _ in range(2):  # RFC 8058 POST, then the form on the page
        response = call(app, "POST", url, data=ONE_CLICK)
        assert response.status_code == 200 and "Unsubscribed" in response.text
    assert consent(store) == [("c1", "email", "marketing", "denied")]
    assert events(store, "m1") == ["unsubscribed"]
    assert feedback(store, "m1") == "unsubscribed"


def test_one_click_as_multipart_is_accepted(app: Starlette, store: Store) -> None:
    add_message(store, "m1", channel="sms", address="+33 6 12 34 56 78")
    response = call(
        app,
        "POST",
        path(links.unsubscribe_url("m1")),
        files={"List-Unsubscribe": (None, "One-Click")},
    )
    assert response.status_code == 200
    assert consent(store) == [("c1", "sms", "marketing", "denied")]


def test_a_post_without_the_one_click_body_or_for_an_unknown_message_does_nothing(
    app: Starlette, store: Store
) -> None:
    add_message(store, "m1")
    assert call(app, "POST", path(links.unsubscribe_url("m1"))).status_code == 400
    assert call(app, "POST", path(links.unsubscribe_url("m1")), data={"x": "y"}).status_code == 400
    assert call(app, "POST", path(links.unsubscribe_url("gone")), data=ONE_CLICK).status_code == 404
    click_token = links.click_url("m1", "https://a.example").removeprefix(BASE + "/c/")
    assert call(app, "POST", f"/u/{click_token}", data=ONE_CLICK).status_code == 404
    assert history(store) == [] and consent(store) == []


# --- provider callbacks -------------------------------------------------------------------

AUTH = {"Authorization": f"Bearer {CALLBACK}"}


def test_callbacks_need_the_shared_secret(app: Starlette, store: Store) -> None:
    add_message(store, "m1")
    body = {"events": [{"message_id": "m1", "event": "delivered"}]}
    assert call(app, "POST", "/callbacks/generic", json=body).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert call(app, "POST", "/callbacks/generic", json=body, headers=wrong).status_code == 401
    assert call(app, "POST", "/bounces", content=POSTFIX_HARD).status_code == 401
    assert history(store) == []
    ok = call(app, "POST", f"/callbacks/generic?key={CALLBACK}", json=body)
    assert (ok.status_code, ok.json()) == (200, {"recorded": 1, "unknown": []})
    unconfigured = tracking_app(store, SECRET, clock=lambda: NOW)
    assert (
        call(unconfigured, "POST", "/callbacks/generic", json=body, headers=AUTH).status_code == 401
    )


def test_json_callbacks_record_delivery_bounces_and_complaints(
    app: Starlette, store: Store
) -> None:
    add_message(store, "m1")
    add_message(store, "m2", recipient="c2", address="Bob@Example.org", provider_id="api-2")
    add_message(store, "m3", recipient="c3", address="cat@example.org", provider_id="api-3")
    add_message(store, "m4", recipient="c4", address="dan@example.org")
    body = {
        "events": [
            {"message_id": "m1", "event": "delivered", "at": "2024-05-14T08:31:00Z"},
            {"message_id": "m1", "event": "delivered"},  # a provider's retry
            {"provider_id": "api-2", "event": "bounced", "type": "hard", "status": "5.1.1"},
            {"provider_id": "api-3", "event": "complained"},
            {"message_id": "m4", "event": "bounced", "type": "soft"},
            {"provider_id": "nope", "event": "delivered"},
        ]
    }
    response = call(app, "POST", "/callbacks/generic", json=body, headers=AUTH)
    assert response.json() == {"recorded": 5, "unknown": ["nope"]}
    [delivered] = history(store, "m1")
    assert (delivered[7], delivered[8]) == ("delivered", datetime(2024, 5, 14, 8, 31))
    [bounce] = history(store, "m2")
    assert json.loads(bounce[9]) == {"type": "hard", "status": "5.1.1", "provider": "generic"}
    assert [feedback(store, m) for m in ("m1", "m2", "m3", "m4")] == [
        "delivered",
        "bounced",
        "complained",
        "bounced",
    ]
    # hard bounces and complaints suppress the (normalised) address; soft bounces do not
    assert suppressed(store) == [
        ("bob@example.org", "email", "hard_bounce"),
        ("cat@example.org", "email", "complaint"),
    ]


def test_an_invalid_callback_names_the_event_and_records_nothing(
    app: Starlette, store: Store
) -> None:
    add_message(store, "m1")
    body = {
        "events": [
            {"message_id": "m1", "event": "delivered"},
            {"message_id": "m1", "event": "exploded"},
        ]
    }
    response = call(app, "POST", "/callbacks/generic", json=body, headers=AUTH)
    assert response.status_code == 400
    assert (
        "events[1]: 'event' must be one of delivered, bounced, complained"
        in response.json()["error"]
    )
    bad_time = {"events": [{"message_id": "m1", "event": "delivered", "at": "yesterday"}]}
    response = call(app, "POST", "/callbacks/generic", json=bad_time, headers=AUTH)
    assert "events[0]: 'at' 'yesterday' is not an ISO-8601 time" in response.json()["error"]
    not_json = call(
        app,
        "POST",
        "/callbacks/generic",
        content=b"{",
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert not_json.status_code == 400
    assert history(store) == []


def test_a_later_delivery_report_does_not_hide_a_click(app: Starlette, store: Store) -> None:
    add_message(store, "m1")
    call(app, "GET", path(links.click_url("m1", "https://shop.example/")))
    body = {"events": [{"message_id": "m1", "event": "delivered"}]}
    call(app, "POST", "/callbacks/generic", json=body, headers=AUTH)
    assert events(store, "m1") == ["clicked", "delivered"]
    assert feedback(store, "m1") == "clicked"


def test_twilio_status_callbacks(app: Starlette, store: Store) -> None:
    add_message(store, "s1", channel="sms", address="+33 6 11 11 11 11", provider_id="SM111")
    add_message(
        store, "s2", recipient="c2", channel="sms", address="+33 6 22 22 22 22", provider_id="SM222"
    )
    add_message(store, "s3", recipient="c3", channel="sms", address="+33 6 33", provider_id="SM333")

    def post(form: dict[str, str]) -> dict[str, Any]:
        response = call(app, "POST", "/callbacks/twilio", data=form, headers=AUTH)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    assert post({"MessageSid": "SM111", "MessageStatus": "sent"}) == {"recorded": 0, "unknown": []}
    assert post({"MessageSid": "SM111", "MessageStatus": "delivered"})["recorded"] == 1
    assert (
        post({"MessageSid": "SM222", "MessageStatus": "failed", "ErrorCode": "30008"})["recorded"]
        == 1
    )
    assert (
        post({"MessageSid": "SM333", "MessageStatus": "undelivered", "ErrorCode": "30003"})[
            "recorded"
        ]
        == 1
    )
    assert [events(store, m) for m in ("s1", "s2", "s3")] == [
        ["delivered"],
        ["bounced"],
        ["bounced"],
    ]
    assert json.loads(history(store, "s3")[0][9])["type"] == "soft"
    assert suppressed(store) == [("+33622222222", "sms", "hard_bounce")]
    missing = call(app, "POST", "/callbacks/twilio", data={"MessageStatus": "failed"}, headers=AUTH)
    assert missing.status_code == 400


# --- DSN bounces ----------------------------------------------------------------------


def test_a_hard_dsn_bounces_and_suppresses(app: Starlette, store: Store) -> None:
    add_message(store, "r12-welcome-c0042-7f3e9a", address="nobody@gmail.example")
    response = call(app, "POST", "/bounces", content=POSTFIX_HARD, headers=AUTH)
    assert response.json() == {"bounces": 1, "recorded": 1, "unmatched": []}
    [row] = history(store, "r12-welcome-c0042-7f3e9a")
    details = json.loads(row[9])
    assert (row[7], details["type"], details["status"]) == ("bounced", "hard", "5.1.1")
    assert suppressed(store) == [("nobody@gmail.example", "email", "hard_bounce")]
    # the same DSN delivered twice records one bounce
    call(app, "POST", "/bounces", content=POSTFIX_HARD, headers=AUTH)
    assert len(history(store)) == 1


def test_a_soft_dsn_bounces_without_suppressing_and_delays_are_not_bounces(
    app: Starlette, store: Store
) -> None:
    add_message(store, "r3-reminder-c0099", address="full@isp.example")
    response = call(app, "POST", "/bounces", content=MAILBOX_FULL, headers=AUTH)
    assert response.json() == {"bounces": 1, "recorded": 1, "unmatched": []}
    assert json.loads(history(store)[0][9])["type"] == "soft"
    assert suppressed(store) == []
    not_dsn = call(app, "POST", "/bounces", content=b"Subject: hi\n\nhello", headers=AUTH)
    assert not_dsn.json() == {"bounces": 0, "recorded": 0, "unmatched": []}


# --- a real server --------------------------------------------------------------------


@pytest.fixture
def server(app: Starlette) -> Iterator[str]:
    """The app under uvicorn on a port the OS picks; the socket is bound before the server
    starts, so requests wait in the backlog instead of the test waiting for readiness."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_through_a_real_server(server: str, store: Store) -> None:
    add_message(store, "m1")
    local = TrackingLinks(server, SECRET)
    html = local.rewrite_html(
        '<html><body><a href="https://shop.example/a">a</a></body></html>', "m1"
    )
    click = html.split('href="', 1)[1].split('"', 1)[0]
    pixel = html.split('<img src="', 1)[1].split('"', 1)[0]
    with httpx.Client(timeout=10) as client:
        assert client.get(pixel).content == PIXEL
        response = client.get(click)
        assert (response.status_code, response.headers["location"]) == (
            302,
            "https://shop.example/a",
        )
        unsubscribe = client.post(local.unsubscribe_url("m1"), data=ONE_CLICK)
        assert unsubscribe.status_code == 200
    assert events(store, "m1") == ["clicked", "opened", "unsubscribed"]
    assert consent(store) == [("c1", "email", "marketing", "denied")]


# --- the command ----------------------------------------------------------------------


def test_serve_names_a_missing_secret_and_refuses_workers_on_duckdb(tmp_path: Path) -> None:
    init_workspace(tmp_path)
    cli = typer.Typer()  # as the lead mounts it under `cantata`
    cli.add_typer(tracking_cli, name="tracking")
    runner = CliRunner()
    result = runner.invoke(cli, ["tracking", "serve", "--workspace", str(tmp_path)])
    assert result.exit_code == 2
    assert "[tracking] secret is missing" in result.output
    with (tmp_path / "cantata.toml").open("a") as f:
        f.write('\n[tracking]\nsecret = "a-long-enough-random-secret"\n')
    result = runner.invoke(
        cli, ["tracking", "serve", "--workspace", str(tmp_path), "--workers", "2"]
    )
    assert result.exit_code == 2
    assert "--workers > 1 needs a PostgreSQL store" in result.output


# --- record_event directly ------------------------------------------------------------


def test_record_event_fills_history_from_the_ledger_and_the_run(store: Store) -> None:
    from cantata.tracking.feedback import record_event

    stamp = NOW.replace(tzinfo=None)
    store.execute(
        "INSERT INTO cantata_run (id, campaign, version, status, variables, test_mode, as_of, "
        "started_at) VALUES (7, 'spring', 3, 'running', '{}', false, %s, %s)",
        [stamp, stamp],
    )
    add_message(store, "m1", secondary_key="b9")
    assert record_event(store, "gone", "opened", at=NOW) is False
    assert record_event(store, "m1", "delivered", at=NOW) is True
    row = store.fetchone(
        "SELECT campaign, campaign_version, activity, run_id, recipient, secondary_key, channel, "
        'event, "at" FROM cantata_history'
    )
    assert row == ("spring", 3, "welcome", "7", "c1", "b9", "email", "delivered", stamp)
    with pytest.raises(ValueError, match="unknown feedback event 'read'"):
        record_event(store, "m1", "read", at=NOW)


def test_the_access_log_never_shows_a_callback_key(capsys: pytest.CaptureFixture[str]) -> None:
    import logging.config

    import uvicorn.config

    redact_callback_keys()
    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)  # what uvicorn.run does next
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5000",
        "POST",
        "/callbacks/twilio?key=s3cret-callback-key&x=1",
        "1.1",
        204,
    )
    logged = capsys.readouterr().out
    assert "/callbacks/twilio?key=…&x=1" in logged and "s3cret" not in logged
