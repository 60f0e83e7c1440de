"""Queueing a channel activity's messages into the ledger, on every engine: one row per message
with a deterministic id, exclusions with their reasons, one message per booking, idempotence,
caps across campaigns, and the hand-back to the runner."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest

from cantata.canvas.runtime import node_runs
from cantata.delivery import activities
from cantata.delivery.activities import AWAITING, SENDING, confirm, delivery_activity, queue_pending
from cantata.delivery.ledger import history_from_ledger
from cantata.delivery.rules import Cap, Rules
from cantata.profile.suppression import add_suppression
from cantata.store import Store
from tests.integration.delivery_fixtures import NOW, campaign, ledger, load_company, node, start

EMAIL = {"subject": "Hi {{ recipient.first_name }}", "body": "<p>Hello</p>"}
EVERYONE = node("everyone", "build_audience", entity="customer", rule="customer_id > 0")


@pytest.fixture
def db(store: Store) -> Store:
    load_company(store)
    return store


def test_queue_excludes_with_reasons_and_hands_back(db: Store) -> None:
    add_suppression(db, "EVE@example.com", "email", "hard_bounce", now=NOW)
    text = campaign("hello", [EVERYONE, node("mail", "email", **EMAIL)], ["everyone -> mail"])
    runner, run = start(db, text, Rules())
    assert ledger(db, run) == {
        "1": ("pending", None),
        "2": ("pending", None),
        "3": ("excluded", "no_address"),
        "4": ("excluded", "invalid_address"),
        "5": ("excluded", "suppressed"),  # suppression compares emails case-insensitively
        "6": ("excluded", "no_consent"),  # denied
        "7": ("excluded", "no_consent"),  # no record: opt-in by default
    }
    expected = hashlib.md5(f"{run}/mail/1/".encode()).hexdigest()
    assert db.scalar("SELECT message_id FROM cantata_delivery WHERE recipient = '1'") == expected
    assert node_runs(db, run)["mail"].status == "done"
    found = delivery_activity(db, run, "mail")
    assert found is not None and found.status == SENDING and found.channel == "email"
    # Queueing again (a crash before the hand-back was recorded) adds nothing.
    assert queue_pending(db, runner, Rules(), NOW) == []
    assert db.scalar("SELECT count(*) FROM cantata_delivery") == 7


def test_one_activity_failing_to_queue_holds_up_no_other(
    db: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    text = campaign(
        "two",
        [EVERYONE, node("fork", "fork"), node("a", "email", **EMAIL), node("b", "sms", body="Hi")],
        ["everyone -> fork", "fork -> a", "fork -> b"],
    )
    real = activities._queue

    def broken_for_a(store: Store, runner: Any, rules: Rules, pending: Any, now: Any) -> Any:
        if pending.node == "a":
            raise RuntimeError("the store went away")
        return real(store, runner, rules, pending, now)

    monkeypatch.setattr(activities, "_queue", broken_for_a)
    runner, run = start(db, text, Rules())
    assert delivery_activity(db, run, "a") is None  # tried again next round
    found = delivery_activity(db, run, "b")
    assert found is not None and found.status == SENDING
    assert node_runs(db, run)["b"].status == "done"
    assert "a: queueing its messages failed" in caplog.text
    monkeypatch.setattr(activities, "_queue", real)
    assert queue_pending(db, runner, Rules(), NOW) == [run]
    assert delivery_activity(db, run, "a") is not None


def test_opt_out_and_transactional(db: Store) -> None:
    text = campaign(
        "tx",
        [EVERYONE, node("mail", "email", category="transactional", **EMAIL)],
        ["everyone -> mail"],
    )
    _, run = start(db, text, Rules(consent="opt_out"))
    got = ledger(db, run)
    assert got["6"] == ("pending", None)  # transactional: consent does not apply
    assert got["7"] == ("pending", None)
    text = campaign("mk", [EVERYONE, node("mail", "email", **EMAIL)], ["everyone -> mail"])
    _, run = start(db, text, Rules(consent="opt_out"))
    got = ledger(db, run)
    assert got["6"] == ("excluded", "no_consent") and got["7"] == ("pending", None)


def test_sms_addresses(db: Store) -> None:
    add_suppression(db, "+33600000007", "sms", "manual", now=NOW)
    db.execute(
        "INSERT INTO cantata_consent VALUES ('7', 'sms', 'marketing', 'granted', NULL, %s)",
        [NOW.replace(tzinfo=None)],
    )
    text = campaign("sms", [EVERYONE, node("text", "sms", body="Hi")], ["everyone -> text"])
    _, run = start(db, text, Rules())
    got = ledger(db, run)
    assert got["1"] == ("pending", None)
    assert got["4"] == ("excluded", "invalid_address")
    assert got["7"] == ("excluded", "suppressed")  # "+33 6 00 00 00 07" normalised


def test_one_message_per_booking(db: Store) -> None:
    stays = node("stays", "build_audience", entity="booking", rule='status = "confirmed"')
    mail = node("mail", "email", per="booking", **EMAIL)
    _, run = start(db, campaign("stays", [stays, mail], ["stays -> mail"]), Rules())
    assert ledger(db, run) == {
        "1/100": ("pending", None),
        "1/101": ("pending", None),
        "2/102": ("pending", None),
    }
    assert db.scalar("SELECT min(secondary_entity) FROM cantata_delivery") == "booking"


def test_cap_across_two_campaigns(db: Store) -> None:
    rules = Rules(caps=(Cap("*", 1, "week"),))
    stays = node("stays", "build_audience", entity="booking", rule='status = "confirmed"')
    mail = node("mail", "email", per="booking", **EMAIL)
    _, first = start(db, campaign("stays", [stays, mail], ["stays -> mail"]), rules)
    # Customer 1 has two bookings: the cap lets one message through.
    got = ledger(db, first)
    assert sorted(got.values()) == [("excluded", "capped"), ("pending", None), ("pending", None)]
    # A second campaign the same week: 1 and 2 are waiting for a message already.
    text = campaign("other", [EVERYONE, node("mail", "email", **EMAIL)], ["everyone -> mail"])
    _, second = start(db, text, rules, now=NOW + timedelta(hours=1))
    got = ledger(db, second)
    assert got["1"] == ("excluded", "capped") and got["2"] == ("excluded", "capped")


def test_send_confirmation(db: Store) -> None:
    mail = node("mail", "email", require_confirmation=True, **EMAIL)
    text = campaign(
        "oneoff", [EVERYONE, mail, node("after", "end")], ["everyone -> mail", "mail -> after"]
    )
    runner, run = start(db, text, Rules())
    assert delivery_activity(db, run, "mail").status == AWAITING  # type: ignore[union-attr]
    assert node_runs(db, run)["mail"].status == "pending_delivery"
    assert "after" not in node_runs(db, run)
    confirm(db, runner, run, "mail", NOW)
    assert delivery_activity(db, run, "mail").status == SENDING  # type: ignore[union-attr]
    assert node_runs(db, run)["after"].status == "done"


def test_worktables_stay_while_messages_wait(db: Store) -> None:
    from cantata.canvas.runtime import purge_worktables

    text = campaign("hello", [EVERYONE, node("mail", "email", **EMAIL)], ["everyone -> mail"])
    _, run = start(db, text, Rules())
    later = NOW + timedelta(days=30)
    assert purge_worktables(db, later) == []  # two messages still pending: kept
    db.execute("UPDATE cantata_delivery SET status = 'sent' WHERE status = 'pending'")
    assert purge_worktables(db, later) == [run]


@pytest.mark.parametrize("receipts", ["waiting", "sent"])
def test_transactional_messages_neither_are_capped_nor_count_toward_caps(
    db: Store, receipts: str
) -> None:
    """Booking confirmations go whatever the marketing caps, and leave them untouched."""
    rules = Rules(caps=(Cap("*", 1, "week"),))
    receipt = node("receipt", "email", category="transactional", **EMAIL)
    text = campaign("receipts", [EVERYONE, receipt], ["everyone -> receipt"])
    _, first = start(db, text, rules)
    assert ledger(db, first)["1"] == ledger(db, first)["2"] == ("pending", None)
    if receipts == "sent":
        db.execute(
            history_from_ledger("'sent'", "%s", "NULL") + "WHERE d.status = 'pending'",
            [NOW.replace(tzinfo=None)],
        )
        db.execute("UPDATE cantata_delivery SET status = 'sent' WHERE status = 'pending'")
    promo = node("mail", "email", **EMAIL)
    later = NOW + timedelta(hours=1)
    _, marketing = start(
        db, campaign("promo", [EVERYONE, promo], ["everyone -> mail"]), rules, later
    )
    assert ledger(db, marketing)["1"] == ledger(db, marketing)["2"] == ("pending", None)
    # The marketing message reached the cap: another one is capped, a receipt is not.
    again = campaign("promo2", [EVERYONE, promo], ["everyone -> mail"])
    _, capped = start(db, again, rules, later + timedelta(hours=1))
    assert ledger(db, capped)["1"] == ledger(db, capped)["2"] == ("excluded", "capped")
    text = campaign("receipts2", [EVERYONE, receipt], ["everyone -> receipt"])
    _, second = start(db, text, rules, later + timedelta(hours=2))
    assert ledger(db, second)["1"] == ledger(db, second)["2"] == ("pending", None)
