"""DSN parsing (RFC 3464) on realistic samples of the usual MTAs."""

from __future__ import annotations

from cantata.tracking.bounces import Bounce, parse_dsn

POSTFIX_HARD = b"""\
Return-Path: <>
Received: by mx.shop.example (Postfix) id 4XyZ1; Tue, 14 May 2024 10:02:11 +0200 (CEST)
Date: Tue, 14 May 2024 10:02:11 +0200 (CEST)
From: MAILER-DAEMON@mx.shop.example (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: bounces@shop.example
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4XyZ1.1715673731/mx.shop.example"
Message-Id: <20240514080211.4XyZ1@mx.shop.example>

This is a MIME-encapsulated message.

--4XyZ1.1715673731/mx.shop.example
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.shop.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<nobody@gmail.example>: host gmail-smtp-in.l.google.example[142.250.1.27] said:
    550-5.1.1 The email account that you tried to reach does not exist.
    (in reply to RCPT TO command)

--4XyZ1.1715673731/mx.shop.example
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.shop.example
X-Postfix-Queue-ID: 4XyZ1
X-Postfix-Sender: rfc822; bounces@shop.example
Arrival-Date: Tue, 14 May 2024 10:02:09 +0200 (CEST)

Final-Recipient: rfc822; nobody@gmail.example
Original-Recipient: rfc822;Nobody@gmail.example
Action: failed
Status: 5.1.1
Remote-MTA: dns; gmail-smtp-in.l.google.example
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does
    not exist. Please try double-checking the recipient's email address for typos
    or unnecessary spaces.

--4XyZ1.1715673731/mx.shop.example
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Return-Path: <bounces@shop.example>
Received: from dispatcher (localhost [127.0.0.1]) by mx.shop.example (Postfix)
Message-ID: <r12-welcome-c0042-7f3e9a@shop.example>
Date: Tue, 14 May 2024 10:02:08 +0200
From: Shop <news@shop.example>
To: nobody@gmail.example
Subject: Welcome back!

--4XyZ1.1715673731/mx.shop.example--
"""

EXCHANGE_HARD = b"""\
From: postmaster@corp.example
To: bounces@shop.example
Date: Wed, 15 May 2024 09:12:33 +0000
Content-Type: multipart/report; report-type=delivery-status;
 boundary="_000_3f1c8a2e_"
Subject: Undeliverable: Your booking in Lisbon
Auto-Submitted: auto-replied
MIME-Version: 1.0
X-MS-Exchange-Message-Is-Ndr:

--_000_3f1c8a2e_
Content-Type: multipart/alternative; boundary="_001_3f1c8a2e_"

--_001_3f1c8a2e_
Content-Type: text/plain; charset="us-ascii"

Delivery has failed to these recipients or groups:

jane.doe@corp.example
The email address you entered couldn't be found.

--_001_3f1c8a2e_
Content-Type: text/html; charset="us-ascii"

<html><body><p>Delivery has failed to these recipients or groups:</p></body></html>

--_001_3f1c8a2e_--

--_000_3f1c8a2e_
Content-Type: message/delivery-status

Reporting-MTA: dns;AM6PR01MB1234.eurprd01.prod.exchangelabs.example
Received-From-MTA: dns;mx.shop.example
Arrival-Date: Wed, 15 May 2024 09:12:31 +0000

Final-Recipient: rfc822;jane.doe@corp.example
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient
 jane.doe@corp.example not found by SMTP address lookup
X-Display-Name: Jane Doe

--_000_3f1c8a2e_
Content-Type: message/rfc822

Received: from mx.shop.example (203.0.113.5) by corp.example
Message-ID: <r12-booking-c0007-b42@shop.example>
X-Cantata-Message-Id: r12-booking-c0007-b42
From: Shop <news@shop.example>
To: <jane.doe@corp.example>
Subject: Your booking in Lisbon
Content-Type: text/plain; charset="utf-8"
MIME-Version: 1.0

Hello Jane, your hotel in Lisbon awaits.

--_000_3f1c8a2e_--
"""

MAILBOX_FULL = b"""\
From: Mail Delivery System <MAILER-DAEMON@mx.shop.example>
To: bounces@shop.example
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B0UND"

--B0UND
Content-Type: text/plain

<full@isp.example>: host mx.isp.example said: 452 4.2.2 Mailbox full
    (in reply to RCPT TO command); gave up after 5 days

--B0UND
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.shop.example

Final-Recipient: rfc822; full@isp.example
Action: failed
Status: 4.2.2
Diagnostic-Code: smtp; 452 4.2.2 Mailbox full

Final-Recipient: rfc822; later@isp.example
Action: delayed
Status: 4.4.1
Diagnostic-Code: X-Postfix; connect to mx.isp.example: Connection timed out

Final-Recipient: rfc822; fine@isp.example
Action: delivered
Status: 2.0.0

--B0UND
Content-Type: text/rfc822-headers

Message-ID: <r3-reminder-c0099@shop.example>
Subject: Your cart

--B0UND--
"""


def test_postfix_unknown_user_is_a_hard_bounce_of_our_message() -> None:
    assert parse_dsn(POSTFIX_HARD) == [
        Bounce(
            message_id="r12-welcome-c0042-7f3e9a",
            recipient="nobody@gmail.example",
            action="failed",
            status="5.1.1",
            kind="hard",
            diagnostic="smtp; 550-5.1.1 The email account that you tried to reach does not "
            "exist. Please try double-checking the recipient's email address for typos or "
            "unnecessary spaces.",
        )
    ]


def test_exchange_ndr_prefers_the_cantata_header_from_the_returned_message() -> None:
    [bounce] = parse_dsn(EXCHANGE_HARD)
    assert (bounce.message_id, bounce.recipient, bounce.status, bounce.kind) == (
        "r12-booking-c0007-b42",
        "jane.doe@corp.example",
        "5.1.10",
        "hard",
    )
    assert bounce.diagnostic is not None and "RecipientNotFound" in bounce.diagnostic


def test_mailbox_full_is_soft_and_delivered_recipients_are_not_bounces() -> None:
    bounces = parse_dsn(MAILBOX_FULL)
    assert [(b.recipient, b.action, b.status, b.kind) for b in bounces] == [
        ("full@isp.example", "failed", "4.2.2", "soft"),
        ("later@isp.example", "delayed", "4.4.1", "soft"),
    ]
    assert {b.message_id for b in bounces} == {"r3-reminder-c0099"}


def test_a_base64_encoded_status_part_is_read() -> None:
    import base64

    status = b"Reporting-MTA: dns; x\r\n\r\nFinal-Recipient: rfc822; a@b.example\r\nAction: failed\r\nStatus: 5.7.1\r\n"
    raw = (
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n'
        b"MIME-Version: 1.0\n\n--b\nContent-Type: message/delivery-status\n"
        b"Content-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(status)
        + b"\n--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: <abc@shop.example>\n\n--b--\n"
    )
    [bounce] = parse_dsn(raw)
    assert (bounce.message_id, bounce.recipient, bounce.status, bounce.kind) == (
        "abc",
        "a@b.example",
        "5.7.1",
        "hard",
    )


def test_a_status_missing_from_the_block_is_read_from_the_diagnostic() -> None:
    raw = MAILBOX_FULL.replace(b"Status: 4.2.2\n", b"").replace(
        b"452 4.2.2 Mailbox full\n\nFinal", b"550 5.2.1 Mailbox disabled\n\nFinal"
    )
    assert (parse_dsn(raw)[0].status, parse_dsn(raw)[0].kind) == ("5.2.1", "hard")


def test_a_dsn_without_returned_headers_has_no_message_id() -> None:
    raw = POSTFIX_HARD.split(b"--4XyZ1.1715673731/mx.shop.example\nContent-Description: Undel")[0]
    assert [
        (b.message_id, b.kind) for b in parse_dsn(raw + b"--4XyZ1.1715673731/mx.shop.example--\n")
    ] == [(None, "hard")]


def test_ordinary_mail_and_junk_yield_nothing() -> None:
    auto_reply = (
        b"From: jane@corp.example\nTo: news@shop.example\nSubject: Out of office\n"
        b"Content-Type: text/plain\n\nI am away until Monday. 550 5.1.1 is not a DSN.\n"
    )
    other_report = (
        b'Content-Type: multipart/report; report-type=disposition-notification; boundary="x"\n\n'
        b"--x\nContent-Type: message/disposition-notification\n\nDisposition: displayed\n\n--x--\n"
    )
    assert parse_dsn(auto_reply) == []
    assert parse_dsn(other_report) == []
    assert parse_dsn(b"") == []
    assert parse_dsn(b"\x00\xff garbage") == []


def test_a_corrupt_base64_status_part_yields_nothing() -> None:
    raw = (
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        b"--b\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n"
        b"RmluYWwtUmVjaXBpZW50\x3d\x3dQ\n--b--\n"
    )
    assert parse_dsn(raw) == []
