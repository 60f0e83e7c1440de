"""The SMTP provider against a real aiosmtpd server (SmtpSink): what arrives, and how each
server answer becomes an outcome."""

from __future__ import annotations

import asyncio
import email as email_parser
import email.policy as email_policy
import json
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dkim
import pytest

from cantata.delivery.email_message import DkimKey, generate_dkim_key
from cantata.delivery.message import Message, Outcome, Status
from cantata.delivery.providers.base import open_provider
from cantata.delivery.providers.smtp import (
    SmtpProvider,
    classify_reply,
    smtp_provider,
    smtp_settings,
)
from cantata.errors import ConfigError
from cantata.peers.smtp_sink import SmtpSink
from tests.integration.provider_helpers import send_and_close

UNSUBSCRIBE = "<https://t.example.com/u/TOKEN>, <mailto:unsubscribe@example.com?subject=TOKEN>"


def email(i: int, address: str | None = None, **content: str) -> Message:
    return Message(
        message_id=f"m{i:05d}",
        channel="email",
        address=address or f"customer{i}@example.org",
        recipient=f"C{i}",
        content=content or {"subject": f"Hello {i}", "text": f"Hi {i}", "html": f"<p>Hi {i}</p>"},
        headers={"List-Unsubscribe": UNSUBSCRIBE},
    )


def provider_for(sink: SmtpSink, **extra: Any) -> SmtpProvider:
    config = {"provider": "smtp", "host": "127.0.0.1", "port": sink.port, "timeout": 10}
    config["sender"] = "Voyages Été <news@example.com>"
    return smtp_provider(config | extra)


@pytest.fixture(scope="module")
def dkim_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DkimKey, str]:
    key, record = generate_dkim_key("s2026", "example.com", bits=1024)
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    path.write_bytes(key.private_key_pem)
    return path, key, record


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        yield s


def test_received_message_has_the_ledger_id_unsubscribe_headers_and_both_parts(
    sink: SmtpSink,
) -> None:
    message = Message(
        message_id="r7-a3-c42",
        channel="email",
        address="zoé@example.org",
        recipient="C42",
        content={
            "subject": "Votre séjour à Zürich — 3 nuits 🏔",
            "text": "Bonjour Zoë,\nvotre hôtel vous attend.\n",
            "html": "<p>Bonjour Zoë,</p><p>votre hôtel vous attend.</p>",
        },
        headers={"List-Unsubscribe": UNSUBSCRIBE},
        reply_to="Support <help@example.com>",
    )
    [outcome] = send_and_close(provider_for(sink), [message])

    assert outcome.status is Status.SENT
    [received] = sink.messages
    assert outcome.provider_id == received.queue_id  # the server's queue id, for callbacks
    assert received.mail_from == "news@example.com"
    assert received.rcpt_tos == ("zoé@example.org",)
    mail = received.parsed()
    assert mail["Message-ID"] == "<r7-a3-c42@example.com>"
    assert mail["X-Cantata-Message-Id"] == "r7-a3-c42"
    assert mail["Subject"] == "Votre séjour à Zürich — 3 nuits 🏔"
    assert mail["From"] == "Voyages Été <news@example.com>"
    assert mail["Reply-To"] == "Support <help@example.com>"
    assert mail["List-Unsubscribe"] == UNSUBSCRIBE
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["Date"].datetime is not None
    assert mail.get_content_type() == "multipart/alternative"
    text, html = (part for part in mail.iter_parts())
    assert text.get_content() == "Bonjour Zoë,\r\nvotre hôtel vous attend.\r\n"
    assert html.get_content_type() == "text/html"
    assert html.get_content() == "<p>Bonjour Zoë,</p><p>votre hôtel vous attend.</p>"


def test_dkim_signature_verifies_and_covers_the_unsubscribe_headers(
    sink: SmtpSink, dkim_pair: tuple[Path, DkimKey, str]
) -> None:
    key_file, _, record = dkim_pair
    dkim_config = {"selector": "s2026", "domain": "example.com", "private_key_file": str(key_file)}
    outcomes = send_and_close(provider_for(sink, dkim=dkim_config), [email(1), email(2)])
    assert [o.status for o in outcomes] == [Status.SENT, Status.SENT]

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"s2026._domainkey.example.com."  # looked up where we published it
        return record.encode()

    for received in sink.messages:
        assert dkim.verify(received.data, dnsfunc=dns)
        signed = received.parsed()["DKIM-Signature"].replace(" ", "")
        assert "list-unsubscribe:list-unsubscribe-post" in signed
        # A relay that rewrites the unsubscribe link breaks the signature.
        tampered = received.data.replace(
            b"https://t.example.com/u/TOKEN", b"https://evil.example/u"
        )
        assert not dkim.verify(tampered, dnsfunc=dns)


def test_a_relative_dkim_key_file_is_read_from_the_workspace(
    dkim_pair: tuple[Path, DkimKey, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file, _, _ = dkim_pair
    workspace = tmp_path / "ws"
    (workspace / "keys").mkdir(parents=True)
    (workspace / "keys" / "dkim.pem").write_bytes(key_file.read_bytes())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the process runs from another folder than the workspace
    config = {
        "host": "127.0.0.1",
        "sender": "news@example.com",
        "dkim": {"selector": "s", "domain": "example.com", "private_key_file": "keys/dkim.pem"},
        "ca_file": "certs/ca.pem",
    }
    settings = smtp_settings(config, root=workspace)
    assert settings.dkim is not None and settings.dkim.selector == "s"
    assert settings.ca_file == str(workspace / "certs" / "ca.pem")
    with pytest.raises(ConfigError, match=r"cannot read the DKIM private key .*elsewhere"):
        smtp_settings(config)  # without the workspace: looked for in the current folder


def test_connections_are_reused_within_and_across_batches(sink: SmtpSink) -> None:
    provider = provider_for(sink, connections=2)

    async def two_batches() -> tuple[list[Outcome], list[Outcome]]:
        first = await provider.send([email(i) for i in range(200)])
        second = await provider.send([email(i) for i in range(200, 260)])
        await provider.close()
        return first, second

    first, second = asyncio.run(two_batches())
    assert all(o.status is Status.SENT for o in first + second)
    assert [o.message_id for o in first] == [f"m{i:05d}" for i in range(200)]  # in order
    assert sink.counts.messages == 260
    assert sink.counts.connections <= 2


def test_a_new_connection_after_max_messages_per_connection(sink: SmtpSink) -> None:
    outcomes = send_and_close(
        provider_for(sink, connections=1, max_messages_per_connection=3),
        [email(i) for i in range(10)],
    )
    assert all(o.status is Status.SENT for o in outcomes)
    assert sink.counts.connections == 4  # 3 + 3 + 3 + 1


def test_a_new_event_loop_gets_new_connections(sink: SmtpSink) -> None:
    # A dispatcher running each batch under its own asyncio.run() must not reuse dead sockets.
    provider = provider_for(sink, connections=1)
    assert [o.status for o in asyncio.run(provider.send([email(1)]))] == [Status.SENT]
    assert [o.status for o in asyncio.run(provider.send([email(2)]))] == [Status.SENT]
    assert sink.counts.messages == 2


def test_temporary_refusal_is_retry_and_the_rest_of_the_batch_is_sent(sink: SmtpSink) -> None:
    sink.policy = lambda rcpt, index: (
        (451, "4.7.1 Greylisted, try later") if rcpt.startswith("customer3@") else None
    )
    outcomes = send_and_close(provider_for(sink), [email(i) for i in range(6)])

    assert [o.status for o in outcomes] == [Status.SENT] * 3 + [Status.RETRY] + [Status.SENT] * 2
    assert outcomes[3].error == "451 4.7.1 Greylisted, try later"
    assert not outcomes[3].bad_address
    assert sink.counts.messages == 5


@pytest.mark.parametrize(
    ("reply", "bad_address"),
    [
        ((550, "5.1.1 No such user"), True),
        ((550, "No such user"), True),
        ((553, "Mailbox name not allowed"), True),
        ((550, "5.7.1 Message rejected as spam"), False),  # permanent, but the address is fine
        ((554, "Transaction failed"), False),
    ],
)
def test_permanent_refusal_is_failed_and_a_bad_mailbox_is_flagged(
    sink: SmtpSink, reply: tuple[int, str], bad_address: bool
) -> None:
    sink.policy = lambda rcpt, index: reply if index == 1 else None
    outcomes = send_and_close(provider_for(sink, connections=1), [email(i) for i in range(3)])

    assert [o.status for o in outcomes] == [Status.SENT, Status.FAILED, Status.SENT]
    assert outcomes[1].bad_address is bad_address
    assert outcomes[1].error == f"{reply[0]} {reply[1]}"


@pytest.mark.parametrize(
    ("code", "text", "status", "bad"),
    [
        (250, "2.0.0 Ok", Status.SENT, False),
        (421, "4.3.2 Shutting down", Status.RETRY, False),
        (452, "4.2.2 Mailbox full", Status.RETRY, False),
        (550, "5.1.1 Unknown user", Status.FAILED, True),
        (551, "User not local", Status.FAILED, True),
        (552, "5.2.2 Mailbox full", Status.FAILED, False),
        (554, "5.1.0 Bad destination", Status.FAILED, True),
    ],
)
def test_classify_reply(code: int, text: str, status: Status, bad: bool) -> None:
    assert classify_reply(code, text) == (status, bad)


def test_dropped_connection_mid_batch_is_retry_and_the_next_batch_recovers(sink: SmtpSink) -> None:
    sink.drop_after = 4  # the server hangs up when the 5th message's data arrives
    provider = provider_for(sink, connections=1)
    batch = [email(i) for i in range(10)]

    async def two_batches() -> tuple[list[Outcome], list[Outcome]]:
        first = await provider.send(batch)
        sink.drop_after = None
        again = [m for m, o in zip(batch, first, strict=True) if o.status is Status.RETRY]
        second = await provider.send(again)
        await provider.close()
        return first, second

    first, second = asyncio.run(two_batches())
    assert [o.status for o in first] == [Status.SENT] * 4 + [Status.RETRY] * 6
    assert sink.counts.dropped == 1
    assert [o.status for o in second] == [Status.SENT] * 6
    received = sorted(m.parsed()["X-Cantata-Message-Id"] for m in sink.messages)
    assert received == [m.message_id for m in batch]  # each exactly once
    assert sink.counts.connections == 2


def test_unreachable_server_makes_every_message_retry() -> None:
    with SmtpSink() as gone:
        port = gone.port
    provider = smtp_provider(
        {"host": "127.0.0.1", "port": port, "sender": "a@example.com", "timeout": 2}
    )
    outcomes = send_and_close(provider, [email(i) for i in range(5)])
    assert [o.status for o in outcomes] == [Status.RETRY] * 5
    assert "cannot connect to 127.0.0.1" in (outcomes[0].error or "")


def test_slow_server_still_completes_within_the_timeout(sink: SmtpSink) -> None:
    sink.delay = 0.05
    outcomes = send_and_close(
        provider_for(sink, connections=4, timeout=5), [email(i) for i in range(20)]
    )
    assert all(o.status is Status.SENT for o in outcomes)
    assert sink.counts.connections == 4  # slowness is absorbed by concurrency


def test_server_slower_than_the_timeout_is_retry_not_an_exception(sink: SmtpSink) -> None:
    sink.delay = 1.0
    outcomes = send_and_close(provider_for(sink, connections=1, timeout=0.2), [email(1), email(2)])
    assert [o.status for o in outcomes] == [Status.RETRY, Status.RETRY]
    assert "Timeout" in (outcomes[0].error or "")


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_starttls_with_a_trusted_certificate(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    with SmtpSink(tls_context=server_tls, require_starttls=True) as tls_sink:
        plain = send_and_close(provider_for(tls_sink), [email(1)])
        unverified = send_and_close(provider_for(tls_sink, starttls=True), [email(2)])
        trusted = send_and_close(
            provider_for(tls_sink, starttls=True, ca_file=str(cert)), [email(3)]
        )
        assert tls_sink.counts.messages == 1

    assert plain[0].status is Status.FAILED  # 530: the server demands STARTTLS first
    assert unverified[0].status is Status.RETRY  # an unknown certificate is refused
    assert "certificate verify failed" in (unverified[0].error or "")
    assert trusted[0].status is Status.SENT


def test_the_provider_is_found_by_its_entry_point(sink: SmtpSink) -> None:
    provider = open_provider(
        {"provider": "smtp", "port": sink.port, "host": "127.0.0.1", "sender": "a@example.com"},
        where="[channels.mail]",
    )
    assert isinstance(provider, SmtpProvider)
    assert provider.settings.domain == "example.com"


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"sender": "a@example.com", "prot": 25}, "unknown key 'prot' (did you mean 'port'"),
        ({}, "missing 'sender'"),
        ({"sender": "a@example.com", "use_tls": True, "starttls": True}, "exclude each other"),
        ({"sender": "a@example.com", "connections": 0}, "'connections' must be greater than 0"),
        ({"sender": "a@example.com", "starttls": "yes"}, "'starttls' must be true or false"),
        (
            {"sender": "a@example.com", "dkim": {"selector": "s"}},
            "missing domain, private_key_file",
        ),
        (
            {
                "sender": "a@example.com",
                "dkim": {"selector": "s", "domain": "d", "private_key_file": "/nope.pem"},
            },
            "cannot read the DKIM private key /nope.pem",
        ),
    ],
)
def test_configuration_errors_name_the_key(config: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError, match=r"\[channels.email\] \(smtp provider\)") as caught:
        smtp_provider(config)
    assert error in str(caught.value)


def test_dot_stuffed_lines_arrive_intact(sink: SmtpSink) -> None:
    text = ".starts with a dot\n..two dots\n.\nend"
    [outcome] = send_and_close(provider_for(sink), [email(1, subject="dots", text=text)])
    assert outcome.status is Status.SENT
    assert sink.messages[0].parsed().get_content() == text.replace("\n", "\r\n") + "\r\n"


def test_the_sink_serves_many_connections_at_once(sink: SmtpSink) -> None:
    outcomes = send_and_close(provider_for(sink, connections=20), [email(i) for i in range(200)])
    assert all(o.status is Status.SENT for o in outcomes)
    assert sink.counts.connections == 20
    assert len({m.queue_id for m in sink.messages}) == 200


def test_a_counting_sink_keeps_no_messages(tmp_path: Path) -> None:
    with SmtpSink(keep=False) as counting:
        send_and_close(provider_for(counting), [email(i) for i in range(5)])
    assert counting.messages == []
    assert counting.counts.messages == 5
    assert counting.counts.bytes > 5 * 200


def test_the_sink_as_a_process_spools_messages_and_prints_its_counts(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    command = [sys.executable, "-m", "cantata.peers.smtp_sink", "--spool", str(spool)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("listening on 127.0.0.1:")
        port = int(first.strip().rsplit(":", 1)[1])
        provider = smtp_provider({"host": "127.0.0.1", "port": port, "sender": "a@example.com"})
        outcomes = send_and_close(provider, [email(i) for i in range(3)])
        process.send_signal(signal.SIGTERM)
        counts = json.loads(process.stdout.read())
    assert [o.status for o in outcomes] == [Status.SENT] * 3
    assert counts["messages"] == 3
    files = sorted(spool.glob("*.eml"))
    assert [f.name for f in files] == ["00000000.eml", "00000001.eml", "00000002.eml"]
    ids = {parse_file(f)["X-Cantata-Message-Id"] for f in files}
    assert ids == {"m00000", "m00001", "m00002"}


def parse_file(path: Path) -> EmailMessage:
    parsed = email_parser.message_from_bytes(path.read_bytes(), policy=email_policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_a_421_closes_the_connection_and_leaves_the_rest_for_retry(sink: SmtpSink) -> None:
    sink.policy = lambda rcpt, index: (421, "4.3.2 Service shutting down") if index == 2 else None
    outcomes = send_and_close(provider_for(sink, connections=1), [email(i) for i in range(5)])
    assert [o.status for o in outcomes] == [Status.SENT] * 2 + [Status.RETRY] * 3
    assert outcomes[2].error == "421 4.3.2 Service shutting down"
    assert outcomes[3].error == "not attempted: the SMTP connections failed"


def test_the_date_header_follows_the_provider_clock(sink: SmtpSink) -> None:
    then = datetime(2026, 7, 14, 9, 30, tzinfo=UTC)
    provider = SmtpProvider(provider_for(sink).settings, clock=lambda: then)
    send_and_close(provider, [email(1)])
    assert sink.messages[0].parsed()["Date"].datetime == then
