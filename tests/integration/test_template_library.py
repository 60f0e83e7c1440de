"""The template library on every engine: versions saved only on change, campaigns validated
against the current version, and a run sending the version current when it queued — through a
real SMTP server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest

from cantata.canvas import CampaignError, lifecycle, parse_campaign
from cantata.canvas.lifecycle import LifecycleError
from cantata.delivery.dispatcher import Dispatcher
from cantata.delivery.providers.smtp import smtp_provider
from cantata.delivery.rules import Rules
from cantata.delivery.template_library import (
    TemplateLibraryError,
    list_templates,
    read_template,
    save_template,
    template_version,
)
from cantata.peers.smtp_sink import SmtpSink
from cantata.store import Store
from tests.integration.delivery_fixtures import MODEL, NOW, campaign, load_company, node, start

REMINDER = """\
name: reminder
channel: email
subject: "{{ recipient.first_name }}, booking {{ target.booking_id }}"
body: "<p>VERSION: {{ target.nights }} nights at hotel {{ target.hotel_id }}</p>"
"""
STAYS = node("stays", "build_audience", entity="booking", rule='status = "confirmed"')
MAIL = node("mail", "email", per="booking", template="reminder")


def reminder(version: str) -> str:
    return REMINDER.replace("VERSION", version)


@pytest.fixture
def db(store: Store) -> Store:
    load_company(store)
    return store


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        yield s


def save(store: Store, text: str, minutes: int = 0) -> tuple[int, bool]:
    saved, new = save_template(
        store, read_template(text, "reminder.yaml", MODEL), now=NOW + timedelta(minutes=minutes)
    )
    return saved.version, new


def test_a_new_version_only_when_the_content_changes(db: Store) -> None:
    assert save(db, reminder("first")) == (1, True)
    assert save(db, reminder("first"), 1) == (1, False)
    assert save(db, reminder("second"), 2) == (2, True)
    assert [(t.name, t.version) for t in list_templates(db)] == [("reminder", 2)]
    assert "first" in template_version(db, "reminder", 1).parts["body"]
    with pytest.raises(TemplateLibraryError, match="is a email template; a sms one"):
        save(db, "name: reminder\nchannel: sms\nbody: Hi\n")
    with pytest.raises(TemplateLibraryError, match=r"no template 'remindr' \(did you mean"):
        template_version(db, "remindr")


def test_campaigns_are_checked_against_the_library(db: Store) -> None:
    text = campaign("stays", [STAYS, MAIL], ["stays -> mail"])
    with pytest.raises(CampaignError, match="unknown template 'reminder'"):
        lifecycle.publish(db, MODEL, parse_campaign(text), now=NOW)
    save(db, reminder("first").replace("target.nights", "target.nigths"))
    with pytest.raises(CampaignError, match=r"template 'reminder' v1, body: unknown field"):
        lifecycle.publish(db, MODEL, parse_campaign(text), now=NOW)
    save(db, reminder("fixed"), 1)
    lifecycle.publish(db, MODEL, parse_campaign(text), now=NOW)


def test_a_change_that_would_break_a_live_campaign_is_refused(db: Store) -> None:
    save(db, reminder("first"))
    lifecycle.publish(
        db, MODEL, parse_campaign(campaign("stays", [STAYS, MAIL], ["stays -> mail"])), now=NOW
    )
    # Bookings flow into `mail`: a customer-only field of `target` would fail every message.
    broken = reminder("second").replace("target.nights", "target.tier")
    with pytest.raises(LifecycleError) as refused:
        lifecycle.save_template(db, MODEL, read_template(broken, "r.yaml", MODEL), now=NOW)
    assert "template 'reminder' v2 would break the live campaigns that use it" in str(refused.value)
    assert "stays v1: nodes.mail.settings.template" in str(refused.value)
    assert "unknown field target.tier" in str(refused.value)
    assert template_version(db, "reminder").version == 1  # nothing saved
    fine = read_template(reminder("second"), "r.yaml", MODEL)
    assert lifecycle.save_template(db, MODEL, fine, now=NOW)[0].version == 2
    lifecycle.move(db, "stays", "stop", now=NOW)  # a stopped campaign sends nothing more
    stopped = read_template(broken, "r.yaml", MODEL)
    assert lifecycle.save_template(db, MODEL, stopped, now=NOW)[0].version == 3


def test_a_run_sends_the_version_current_when_it_queued(db: Store, sink: SmtpSink) -> None:
    save(db, reminder("first"))
    text = campaign("stays", [STAYS, MAIL], ["stays -> mail"])
    start(db, text, Rules())  # queues: the run keeps version 1
    save(db, reminder("second"), 1)
    smtp = smtp_provider({"host": "127.0.0.1", "port": sink.port, "sender": "hi@travel.example"})
    dispatcher = Dispatcher(db, MODEL, Rules(), {"email": smtp}, clock=lambda: NOW, owner="t")

    async def drain() -> None:
        try:
            await dispatcher.run(until_idle=True)
        finally:
            await dispatcher.close()

    asyncio.run(drain())
    got = {m.parsed()["Subject"]: m.parsed().get_body(("html",)) for m in sink.messages}
    assert sorted(got) == ["Ana, booking 100", "Ana, booking 101", "Ben, booking 102"]
    html = got["Ana, booking 101"]
    assert html is not None and "first: 3 nights at hotel 11" in html.get_content()
    assert not [m for m in sink.messages if "second" in m.data.decode()]
