"""The HTTP providers (SMS, push, webhook) against a real local HTTP server (HttpSink): the
requests that arrive, and how each answer (or its absence) becomes an outcome."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from cantata.delivery.message import Message, Outcome, Status
from cantata.delivery.providers.base import factories, open_provider
from cantata.delivery.providers.http_client import parse_retry_after
from cantata.delivery.providers.http_sms import JsonSmsProvider, TwilioProvider
from cantata.delivery.providers.push import ApnsProvider, FcmProvider, apns_id
from cantata.delivery.providers.webhook import WebhookProvider, verify_signature
from cantata.errors import ConfigError
from cantata.peers.http_sink import HttpSink, RecordedRequest, Reply, fail_first
from tests.integration.provider_helpers import send_and_close

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
JSON = {"content-type": "application/json"}


def clock() -> datetime:
    return NOW


def sms(i: int, **content: str) -> Message:
    return Message(
        message_id=f"m{i:05d}",
        channel="sms",
        address=f"+3361234{i:04d}",
        recipient=f"C{i}",
        content=content or {"body": f"Hello {i}, your stay is confirmed"},
    )


def push(i: int, token: str | None = None) -> Message:
    return Message(
        message_id=f"p{i:05d}",
        channel="push",
        address=token or f"device-token-{i}",
        recipient=f"C{i}",
        content={
            "title": f"Trip {i}",
            "body": f"Check in tomorrow {i}",
            "deep_link": f"app://b/{i}",
        },
    )


def reply_json(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {**JSON, **(headers or {})}, json.dumps(body))


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    with HttpSink() as s:
        yield s


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- request shapes -----------------------------------------------------------------------


def test_json_sms_posts_one_json_request_per_message(sink: HttpSink) -> None:
    sink.policy = lambda r: reply_json(200, {"id": "prov-" + json.loads(r.body)["message_id"]})
    provider = JsonSmsProvider({"url": f"{sink.url}/sms", "token": "s3cret", "from": "Cantata"})
    outcomes = send_and_close(provider, [sms(1), sms(2)])

    assert [o.status for o in outcomes] == [Status.SENT, Status.SENT]
    assert [o.provider_id for o in outcomes] == ["prov-m00001", "prov-m00002"]
    by_id = {r.headers["idempotency-key"]: r for r in sink.requests}
    assert set(by_id) == {"m00001", "m00002"}
    first = by_id["m00001"]
    assert (first.method, first.path) == ("POST", "/sms")
    assert first.headers["authorization"] == "Bearer s3cret"
    assert first.headers["content-type"] == "application/json"
    assert json.loads(first.body) == {
        "to": "+33612340001",
        "from": "Cantata",
        "body": "Hello 1, your stay is confirmed",
        "message_id": "m00001",
    }


def test_twilio_posts_a_form_with_basic_auth(sink: HttpSink) -> None:
    sink.policy = lambda r: reply_json(201, {"sid": "SM" + r.headers["idempotency-key"]})
    provider = TwilioProvider(
        {
            "base_url": sink.url,
            "account_sid": "AC123",
            "auth_token": "tok",
            "from": "+15550001",
            "status_callback": "https://t.example.com/cb/twilio",
        }
    )
    [outcome] = send_and_close(provider, [sms(7)])

    assert outcome == Outcome("m00007", Status.SENT, provider_id="SMm00007")
    [request] = sink.requests
    assert request.path == "/2010-04-01/Accounts/AC123/Messages.json"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"AC123:tok").decode()
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.text()) == {
        "To": ["+33612340007"],
        "From": ["+15550001"],
        "Body": ["Hello 7, your stay is confirmed"],
        "StatusCallback": ["https://t.example.com/cb/twilio"],
    }


@pytest.mark.parametrize(("code", "bad_address"), [(21211, True), (21614, True), (21408, False)])
def test_twilio_invalid_number_is_a_bad_address(
    sink: HttpSink, code: int, bad_address: bool
) -> None:
    sink.policy = lambda r: reply_json(400, {"code": code, "message": "nope", "status": 400})
    provider = TwilioProvider({"base_url": sink.url, "account_sid": "AC1", "auth_token": "t"})
    [outcome] = send_and_close(provider, [sms(1)])
    assert outcome.status is Status.FAILED
    assert outcome.bad_address is bad_address
    assert "HTTP 400" in (outcome.error or "")


def test_fcm_request_shape_and_unregistered_token(sink: HttpSink) -> None:
    def policy(r: RecordedRequest) -> Reply:
        token = json.loads(r.body)["message"]["token"]
        if token == "gone":
            details = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                        "errorCode": "UNREGISTERED"}]  # fmt: skip
            return reply_json(
                404, {"error": {"code": 404, "status": "NOT_FOUND", "details": details}}
            )
        return reply_json(200, {"name": f"projects/trips/messages/{token}"})

    sink.policy = policy
    provider = FcmProvider({"base_url": sink.url, "project": "trips", "token": "ya29.x"})
    ok, gone = send_and_close(provider, [push(1), push(2, token="gone")])

    assert ok == Outcome(
        "p00001", Status.SENT, provider_id="projects/trips/messages/device-token-1"
    )
    assert (gone.status, gone.bad_address) == (Status.FAILED, True)
    request = next(r for r in sink.requests if b"device-token-1" in r.body)
    assert request.path == "/v1/projects/trips/messages:send"
    assert request.headers["authorization"] == "Bearer ya29.x"
    assert json.loads(request.body) == {
        "message": {
            "token": "device-token-1",
            "notification": {"title": "Trip 1", "body": "Check in tomorrow 1"},
            "data": {"deep_link": "app://b/1", "message_id": "p00001"},
        }
    }


def test_apns_request_shape_and_stable_apns_id(sink: HttpSink) -> None:
    provider = ApnsProvider({"base_url": sink.url, "topic": "com.example.trips", "token": "jwt"})
    [first] = send_and_close(provider, [push(3)])
    [again] = send_and_close(provider, [push(3)])  # a retry of the same message

    assert first.status is Status.SENT
    one, two = sink.requests
    assert one.path == "/3/device/device-token-3"
    assert one.headers["apns-topic"] == "com.example.trips"
    assert one.headers["apns-push-type"] == "alert"
    assert one.headers["authorization"] == "Bearer jwt"
    assert one.headers["apns-id"] == two.headers["apns-id"] == apns_id("p00003")
    assert apns_id("p00003") != apns_id("p00004")
    assert first.provider_id == again.provider_id == apns_id("p00003")
    assert json.loads(one.body) == {
        "aps": {"alert": {"title": "Trip 3", "body": "Check in tomorrow 3"}},
        "deep_link": "app://b/3",
        "message_id": "p00003",
    }


@pytest.mark.parametrize(
    ("status", "reason", "bad_address"),
    [(410, "Unregistered", True), (400, "BadDeviceToken", True), (400, "PayloadTooLarge", False)],
)
def test_apns_refusals(sink: HttpSink, status: int, reason: str, bad_address: bool) -> None:
    sink.policy = lambda r: reply_json(status, {"reason": reason})
    provider = ApnsProvider({"base_url": sink.url, "topic": "com.example.trips"})
    [outcome] = send_and_close(provider, [push(1)])
    assert (outcome.status, outcome.bad_address) == (Status.FAILED, bad_address)
    assert reason in (outcome.error or "")


# --- how answers map to outcomes ----------------------------------------------------------

HTTP_DATE_30S_LATER = "Sun, 01 Mar 2026 12:00:30 GMT"


@pytest.mark.parametrize(
    ("reply", "status", "retry_after"),
    [
        (Reply(200, JSON, "{}"), Status.SENT, None),
        (Reply(202, {}, ""), Status.SENT, None),
        (Reply(400, {}, "bad request"), Status.FAILED, None),
        (Reply(404, {}, ""), Status.FAILED, None),
        (Reply(429, {"Retry-After": "2"}, ""), Status.RETRY, 2.0),
        (Reply(429, {"Retry-After": HTTP_DATE_30S_LATER}, ""), Status.RETRY, 30.0),
        (Reply(429, {}, ""), Status.RETRY, None),
        (Reply(500, {}, "oops"), Status.RETRY, None),
        (Reply(503, {"Retry-After": "120"}, ""), Status.RETRY, 120.0),
    ],
)
def test_status_codes_become_outcomes(
    sink: HttpSink, reply: Reply, status: Status, retry_after: float | None
) -> None:
    sink.policy = lambda r: reply
    provider = JsonSmsProvider({"url": sink.url}, clock=clock)
    [outcome] = send_and_close(provider, [sms(1)])
    assert outcome.status is status
    assert outcome.retry_after == retry_after
    assert outcome.bad_address is False
    if status is not Status.SENT:
        assert f"HTTP {reply.status}" in (outcome.error or "")


def test_a_slow_server_times_out_into_a_retry(sink: HttpSink) -> None:
    sink.delay = 0.5
    provider = JsonSmsProvider({"url": sink.url, "timeout": 0.05})
    [outcome] = send_and_close(provider, [sms(1)])
    assert outcome.status is Status.RETRY
    assert "Timeout" in (outcome.error or "")


def test_connection_refused_is_a_retry() -> None:
    provider = JsonSmsProvider({"url": f"http://127.0.0.1:{unused_port()}/sms"})
    outcomes = send_and_close(provider, [sms(1), sms(2)])
    assert [o.status for o in outcomes] == [Status.RETRY, Status.RETRY]
    assert all("ConnectError" in (o.error or "") for o in outcomes)


def test_429_then_accepted_on_retry_with_the_same_idempotency_key(sink: HttpSink) -> None:
    sink.policy = fail_first(1, Reply(429, {"Retry-After": "2"}, "slow down"))
    provider = JsonSmsProvider({"url": sink.url})

    async def twice() -> tuple[list[Outcome], list[Outcome]]:
        first = await provider.send([sms(1)])
        second = await provider.send([sms(1)])
        await provider.close()
        return first, second

    [first], [second] = asyncio.run(twice())
    assert (first.status, first.retry_after) == (Status.RETRY, 2.0)
    assert second.status is Status.SENT
    assert [r.headers["idempotency-key"] for r in sink.requests] == ["m00001", "m00001"]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("0", 0.0),
        ("17", 17.0),
        (" 5 ", 5.0),
        (HTTP_DATE_30S_LATER, 30.0),
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),  # already past
        ("soon", None),
        ("-3", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


# --- connection reuse and concurrency -----------------------------------------------------


def test_one_client_and_its_connections_serve_every_batch(sink: HttpSink) -> None:
    provider = JsonSmsProvider({"url": sink.url, "max_connections": 3})

    async def three_batches() -> list[Outcome]:
        outcomes: list[Outcome] = []
        for start in (0, 12, 24):
            outcomes += await provider.send([sms(i) for i in range(start, start + 12)])
        await provider.close()
        return outcomes

    outcomes = asyncio.run(three_batches())
    assert len(outcomes) == 36
    assert all(o.status is Status.SENT for o in outcomes)
    assert provider.client.clients_created == 1
    ports = {r.client_port for r in sink.requests}
    # Concurrent (more than one connection at once) and never more than the limit, across
    # batches: a client made per batch would have opened new connections each time.
    assert 1 < len(ports) <= 3


# --- webhook ------------------------------------------------------------------------------


def hook(i: int, url: str | None, body: str | None = None, **data: Any) -> Message:
    content = {k: v for k, v in {"url": url, "body": body}.items() if v is not None}
    return Message(f"w{i}", "webhook", "", f"C{i}", content=content, data=data)


def test_webhook_posts_one_signed_batch_per_url(sink: HttpSink) -> None:
    a, b = f"{sink.url}/hooks/a", f"{sink.url}/hooks/b"
    provider = WebhookProvider({"secret": "shh"}, clock=clock)
    batch = [
        hook(1, a, '{"event": "booked", "n": 1}'),
        hook(2, b, '{"event": "booked", "n": 2}'),
        hook(3, a, None, hotel="Lisbon", nights=3),  # no rendered body: the row data
    ]
    outcomes = send_and_close(provider, batch)

    assert [o.status for o in outcomes] == [Status.SENT] * 3
    by_path = {r.path: r for r in sink.requests}
    assert sorted(by_path) == ["/hooks/a", "/hooks/b"]
    req_a = by_path["/hooks/a"]
    assert json.loads(req_a.body) == {
        "messages": [
            {"message_id": "w1", "recipient": "C1", "payload": {"event": "booked", "n": 1}},
            {"message_id": "w3", "recipient": "C3", "payload": {"hotel": "Lisbon", "nights": 3}},
        ]
    }
    timestamp = req_a.headers["x-cantata-timestamp"]
    signature = req_a.headers["x-cantata-signature"]
    assert timestamp == str(int(NOW.timestamp()))
    assert signature.startswith("sha256=")
    assert verify_signature("shh", timestamp, req_a.body, signature, now=NOW)
    assert verify_signature(
        "shh", timestamp, req_a.body, signature, now=NOW + timedelta(seconds=299)
    )
    # A tampered body, another secret, a replay after the tolerance, a forged timestamp: refused.
    tampered = req_a.body.replace(b'"n": 1', b'"n": 9')
    assert not verify_signature("shh", timestamp, tampered, signature, now=NOW)
    assert not verify_signature("other", timestamp, req_a.body, signature, now=NOW)
    assert not verify_signature(
        "shh", timestamp, req_a.body, signature, now=NOW + timedelta(seconds=301)
    )
    assert not verify_signature("shh", str(int(timestamp) + 1), req_a.body, signature, now=NOW)


def test_webhook_outcome_per_url_follows_that_batch_answer(sink: HttpSink) -> None:
    answers = {"/ok": Reply(204), "/busy": Reply(503, {"Retry-After": "9"}), "/gone": Reply(404)}
    sink.policy = lambda r: answers[r.path]
    provider = WebhookProvider({"secret": "shh"}, clock=clock)
    batch = [
        hook(1, f"{sink.url}/busy", "{}"),
        hook(2, f"{sink.url}/ok", "{}"),
        hook(3, f"{sink.url}/gone", "{}"),
        hook(4, f"{sink.url}/busy", "{}"),
        hook(5, None, "{}"),  # no target and no default URL
        hook(6, f"{sink.url}/ok", "{not json"),
    ]
    outcomes = send_and_close(provider, batch)

    assert [o.message_id for o in outcomes] == ["w1", "w2", "w3", "w4", "w5", "w6"]
    assert [o.status for o in outcomes] == [
        Status.RETRY, Status.SENT, Status.FAILED, Status.RETRY, Status.FAILED, Status.FAILED,
    ]  # fmt: skip
    assert outcomes[0].retry_after == outcomes[3].retry_after == 9.0
    assert "no target URL" in (outcomes[4].error or "")
    assert "not JSON" in (outcomes[5].error or "")
    assert len(sink.requests) == 3  # one per URL; the refused messages never left


def test_webhook_unreachable_target_retries_the_whole_group() -> None:
    provider = WebhookProvider({"secret": "s", "url": f"http://127.0.0.1:{unused_port()}/h"})
    outcomes = send_and_close(provider, [hook(1, None, "{}"), hook(2, None, "{}")])
    assert [o.status for o in outcomes] == [Status.RETRY, Status.RETRY]


# --- configuration ------------------------------------------------------------------------


def test_entry_points_build_every_http_provider(sink: HttpSink) -> None:
    assert {"http_json", "twilio", "fcm", "apns", "webhook"} <= set(factories())
    provider = open_provider({"provider": "http_json", "url": sink.url}, where="channels.sms")
    assert isinstance(provider, JsonSmsProvider)
    assert send_and_close(provider, [sms(1)])[0].status is Status.SENT


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"provider": "http_json"}, "missing 'url'"),
        ({"provider": "twilio", "account_sid": "AC1"}, "missing 'auth_token'"),
        ({"provider": "fcm"}, "missing 'project'"),
        ({"provider": "apns"}, "missing 'topic'"),
        ({"provider": "webhook"}, "missing 'secret'"),
        ({"provider": "http_json", "url": "http://x", "timeout": 0}, "'timeout' must be"),
        ({"provider": "http_json", "url": "http://x", "max_connections": "4"}, "'max_connections'"),
        (
            {"provider": "twilio", "account_sid": "A", "auth_tokn": "t"},
            "unknown key 'auth_tokn'.*'auth_token'",
        ),
        (
            {"provider": "webhook", "secret_env": "CANTATA_TEST_UNSET_VARIABLE"},
            "CANTATA_TEST_UNSET_VARIABLE is not set",
        ),
    ],
)
def test_configuration_errors_name_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        open_provider(config, where="channels.x")
    assert f"({config['provider']} provider)" in str(error.value)
    assert "cantata.toml [channels." in str(error.value)


def test_credentials_can_come_from_the_environment(
    sink: HttpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANTATA_TEST_SMS_TOKEN", "from-env")
    provider = JsonSmsProvider({"url": sink.url, "token_env": "CANTATA_TEST_SMS_TOKEN"})
    send_and_close(provider, [sms(1)])
    assert sink.requests[0].headers["authorization"] == "Bearer from-env"


# --- the sink as its own process ----------------------------------------------------------


def test_the_sink_runs_as_a_process_and_reports_its_count() -> None:
    sink = subprocess.Popen(
        [sys.executable, "-m", "cantata.peers.http_sink"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None
        first = sink.stdout.readline()
        assert first.startswith("listening on http://127.0.0.1:")
        url = first.split()[-1]
        outcomes = send_and_close(
            JsonSmsProvider({"url": f"{url}/sms"}), [sms(i) for i in range(5)]
        )
        assert [o.status for o in outcomes] == [Status.SENT] * 5
    finally:
        sink.send_signal(signal.SIGTERM)
        out, _ = sink.communicate(timeout=20)
    assert json.loads(out) == {"requests": 5}
    assert sink.returncode == 0


def test_every_configuration_key_is_documented() -> None:
    from cantata.delivery.providers import http_sms, push, webhook

    docs = (Path(__file__).parents[2] / "docs" / "providers.md").read_text()
    keys = http_sms.KEYS_JSON | http_sms.KEYS_TWILIO | push.KEYS_FCM | push.KEYS_APNS | webhook.KEYS
    keys |= {"directory", "format"}  # mail_file
    undocumented = sorted(k for k in keys if not re.search(rf"\b{k} = ", docs))
    assert undocumented == []


# --- outcomes reported as they happen (the dispatcher's journal) --------------------------


def test_each_outcome_is_reported_the_moment_it_is_known(sink: HttpSink) -> None:
    # The answer to m00002 is held until the hook has seen m00001's outcome: a provider
    # that reported only at the end of the batch would leave it to time out.
    release = threading.Event()
    sink.policy = lambda r: (
        Reply(200, JSON, "{}", hold=release)
        if r.headers["idempotency-key"] == "m00002"
        else Reply(200, JSON, "{}")
    )
    reported: list[str] = []

    def hook(outcome: Outcome) -> None:
        reported.append(outcome.message_id)
        if outcome.message_id == "m00001":
            release.set()

    provider = JsonSmsProvider({"url": sink.url, "timeout": 5})

    async def go() -> list[Outcome]:
        try:
            return await provider.send([sms(2), sms(1)], hook)
        finally:
            await provider.close()

    outcomes = asyncio.run(go())
    assert [o.message_id for o in outcomes] == ["m00002", "m00001"]  # batch order
    assert [o.status for o in outcomes] == [Status.SENT, Status.SENT]
    assert reported == ["m00001", "m00002"]  # arrival order


@pytest.mark.parametrize("kind", ["twilio", "fcm", "apns", "webhook"])
def test_every_http_provider_reports_every_outcome(sink: HttpSink, kind: str) -> None:
    configs: dict[str, dict[str, Any]] = {
        "twilio": {
            "provider": "twilio",
            "base_url": sink.url,
            "account_sid": "A",
            "auth_token": "t",
        },
        "fcm": {"provider": "fcm", "base_url": sink.url, "project": "p"},
        "apns": {"provider": "apns", "base_url": sink.url, "topic": "t"},
        "webhook": {"provider": "webhook", "secret": "s", "url": sink.url},
    }
    batch = {
        "twilio": [sms(1), sms(2)],
        "fcm": [push(1), push(2)],
        "apns": [push(1), push(2)],
        "webhook": [hook(1, None, "{}"), hook(2, None, "{}"), hook(3, None, "not json")],
    }[kind]
    provider = open_provider(configs[kind], where="x")
    reported: list[Outcome] = []

    async def go() -> list[Outcome]:
        try:
            return await provider.send(batch, reported.append)
        finally:
            await provider.close()

    outcomes = asyncio.run(go())
    assert sorted(reported, key=lambda o: o.message_id) == outcomes
