"""Personalization: compile once, render per message with the recipient, the target row and the
variables; locale-aware filters; errors naming the part and the template line; validation of
channel templates against sample rows of the model."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml

from cantata.canvas import check_campaign
from cantata.canvas.definition import Variable
from cantata.delivery import personalize
from cantata.delivery.personalize import (
    TemplateError,
    check_template,
    compile_parts,
    message_context,
    render_message,
    sample_context,
)
from cantata.model import parse_model
from cantata.workspace import starter_model
from tests.e2e.cli import fails, run

TRAVEL = parse_model(starter_model())

ANN = {"first_name": "Ann", "language": "fr", "time_zone": "Europe/Paris", "tier": "gold"}
STAY = {
    "next_booking": [
        {"hotel_name": "Hôtel du Lac", "check_in": "2026-06-03", "nights": 2},
        {"hotel_name": "Villa Rosa", "check_in": date(2026, 7, 14), "nights": 5},
    ]
}


def render(text: str, recipient: dict[str, Any] = ANN, **target: Any) -> str:
    compiled = compile_parts({"text": text})
    return compiled.render(message_context(recipient, target, {"code": "WELCOME10"}))["text"]


# --- rendering ------------------------------------------------------------------------------


def test_a_message_renders_recipient_target_row_and_vars() -> None:
    compiled = compile_parts(
        {
            "subject": "{{ recipient.first_name }}, {{ target.next_booking[0].hotel_name }}",
            "html": "<p>{{ row.next_booking[1].hotel_name }} & {{ vars.code }}</p>",
        },
        html_parts={"html"},
        where="nodes.email_gold",
    )
    out = compiled.render(message_context(ANN, STAY, {"code": "A<B"}))
    assert out == {
        "subject": "Ann, Hôtel du Lac",
        "html": "<p>Villa Rosa & A&lt;B</p>",
    }
    assert compiled.parts == ("subject", "html")


def test_a_null_field_prints_as_nothing() -> None:
    assert render("Hi {{ recipient.first_name }}!", {"first_name": None}) == "Hi !"
    assert render("{{ recipient.first_name or 'friend' }}", {"first_name": None}) == "friend"


def test_row_and_target_are_one_row_whichever_the_caller_gives() -> None:
    compiled = compile_parts({"t": "{{ row.x }}/{{ target.x }}"})
    assert compiled.render({"target": {"x": 1}}) == {"t": "1/1"}
    assert compiled.render({"row": {"x": 2}}) == {"t": "2/2"}


def test_the_same_parts_compile_once_and_render_does_no_compile_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parts = {"subject": "Hi {{ recipient.first_name }}"}
    first = compile_parts(parts, where="nodes.once")
    assert compile_parts(dict(parts), where="nodes.once") is first

    def no_compile(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("compiled while rendering")

    monkeypatch.setattr(personalize.ENVIRONMENT, "compile", no_compile)
    monkeypatch.setattr(personalize.ENVIRONMENT, "parse", no_compile)
    for i in range(1000):
        assert first.render({"recipient": {"first_name": i}}) == {"subject": f"Hi {i}"}


def test_an_undefined_field_at_render_names_the_part_line_and_nearest_fields() -> None:
    compiled = compile_parts(
        {"subject": "Hi", "html": "<p>Hello</p>\n<p>{{ recipient.frist_name }}</p>"},
        html_parts={"html"},
        where="nodes.mail",
    )
    with pytest.raises(TemplateError) as caught:
        compiled.render({"recipient": {"first_name": "Ann", "last_name": "Lee"}})
    error = caught.value
    assert (error.part, error.line) == ("html", 2)
    assert error.reason.startswith("no field 'frist_name' (did you mean 'first_name'")
    assert str(error).startswith("nodes.mail.html line 2: ")


def test_an_empty_collection_says_so() -> None:
    with pytest.raises(TemplateError, match=r"no item \[0\]: the list has 0 items"):
        render("{{ target.next_booking[0].hotel_name }}", next_booking=[])
    assert (
        render(
            "{{ (target.next_booking|first).hotel_name if target.next_booking else 'no stay' }}",
            next_booking=[],
        )
        == "no stay"
    )


def test_a_syntax_error_names_the_part_and_line() -> None:
    with pytest.raises(TemplateError) as caught:
        compile_parts({"body": "line one\nline {{ recipient.tier }\n"}, where="nodes.sms")
    assert caught.value.part == "body" and caught.value.line == 2
    assert caught.value.reason == "syntax error: unexpected '}'"


def test_render_message_is_what_the_preview_shows() -> None:
    out = render_message(
        {"subject": "{{ recipient.first_name|upper }}", "html": "<b>{{ vars.code }}</b>"},
        message_context(ANN, {}, {"code": "<x>"}, "https://t.example/u/1"),
        html_parts={"html"},
    )
    assert out == {"subject": "ANN", "html": "<b>&lt;x&gt;</b>"}
    link = render_message({"text": "{{ unsubscribe_url }}"}, message_context(ANN, {}, {}, "u1"))
    assert link == {"text": "u1"}


# --- locale-aware filters -------------------------------------------------------------------


def test_dates_follow_the_recipient_language_or_the_given_locale() -> None:
    english = {**ANN, "language": "en"}
    assert render("{{ target.d|date }}", d=date(2026, 6, 3)) == "3 juin 2026"
    assert render("{{ target.d|date }}", english, d=date(2026, 6, 3)) == "Jun 3, 2026"
    assert render("{{ target.d|date('long', locale='de') }}", d="2026-06-03") == "3. Juni 2026"
    assert render("{{ target.d|date('d MMMM') }}", d="2026-06-03T10:00:00") == "3 juin"
    assert render("{{ target.d|date }}", d=None) == ""


def test_the_language_defaults_to_english_and_an_unknown_one_falls_back_to_it() -> None:
    assert render("{{ target.d|date }}", {}, d=date(2026, 6, 3)) == "Jun 3, 2026"
    assert render("{{ target.d|date }}", {"language": "zz-ZZ"}, d=date(2026, 6, 3)) == "Jun 3, 2026"
    assert render("{{ target.n|number }}", {"language": "pt-BR"}, n=1234.5) == "1.234,5"


def test_timestamps_show_in_the_recipient_time_zone() -> None:
    utc_noon = datetime(2026, 6, 3, 12, 0)  # naive timestamps are UTC
    english = {"language": "en", "time_zone": "America/New_York"}
    assert render("{{ target.t|datetime('short') }}", english, t=utc_noon) == "6/3/26, 8:00\u202fAM"
    paris = render("{{ target.t|datetime('HH:mm') }}", ANN, t="2026-06-03T12:00:00+00:00")
    assert paris == "14:00"
    assert render("{{ target.t|datetime('HH:mm', tz='Asia/Tokyo') }}", ANN, t=utc_noon) == "21:00"


def test_numbers_currencies_and_percentages() -> None:
    assert render("{{ target.n|number }}", n=Decimal("1234.5")) == "1\u202f234,5"
    assert render("{{ target.n|number }}", {"language": "en"}, n="1234.5") == "1,234.5"
    assert render("{{ target.a|currency('EUR') }}", a=Decimal("99.9")) == "99,90\xa0€"
    assert render("{{ target.a|currency('USD', locale='en') }}", a=5) == "$5.00"
    assert render("{{ target.p|percent }}", {"language": "en"}, p=0.25) == "25%"


def test_a_value_a_filter_cannot_read_fails_the_message_with_its_part() -> None:
    with pytest.raises(TemplateError, match="'soon' is not a date") as caught:
        render("{{ target.d|date }}", d="soon")
    assert caught.value.part == "text"
    with pytest.raises(TemplateError, match="not an ISO 4217 currency code"):
        render("{{ target.a|currency('euros') }}", a=1)


# --- sample contexts and checks -------------------------------------------------------------


def test_sample_context_follows_the_model_columns_and_variables() -> None:
    variables = {
        "code": Variable(type="string", default="WELCOME10"),
        "limit": Variable(type="integer"),
        "day": Variable(type="date"),
    }
    ctx = sample_context(
        TRAVEL,
        "booking",
        {"hotel_name": "string", "stays": "collection", "count_flights": "integer"},
        variables,
        items={"stays": {"check_in": "date", "nights": "integer"}},
    )
    recipient, target = ctx["recipient"], ctx["target"]
    assert recipient["first_name"] == "sample" and recipient["tier"] == "basic"
    assert recipient["email"] == "sample@example.com"
    assert isinstance(recipient["birth_date"], date)
    assert isinstance(recipient["updated_at"], datetime)
    assert target["amount"] == Decimal("1.00") and target["nights"] == 1
    assert target["hotel_name"] == "sample" and target["count_flights"] == 1
    assert target["stays"] == [{"check_in": date.today(), "nights": 1}]
    assert ctx["row"] is target
    assert ctx["vars"] == {"code": "WELCOME10", "limit": 1, "day": date.today()}


def test_check_template_finds_unknown_names_with_the_nearest_and_the_line() -> None:
    ctx = sample_context(
        TRAVEL,
        "customer",
        {"next_booking": "collection"},
        {"offer_code": Variable(type="string")},
        items={"next_booking": {"hotel_name": "string", "check_in": "date"}},
    )
    text = (
        "Hello {{ recipient.first_nam }},\n"
        "{{ target.next_booking[0].hotel_nme }} {{ vars.offer_cod }}\n"
        "{{ recipent.tier }}\n"
        "{% for b in target.next_booking %}{{ b.chek_in }}{% endfor %}"
    )
    problems = check_template(text, html=False, context=ctx)
    assert [(p.line, p.message.split(" or ")[0]) for p in problems] == [
        (1, "unknown field recipient.first_nam (did you mean 'first_name'"),
        (2, "unknown field target.next_booking[0].hotel_nme (did you mean 'hotel_name'?)"),
        (2, "unknown variable vars.offer_cod (did you mean 'offer_code'?)"),
        (3, "unknown name 'recipent' (did you mean 'recipient'?)"),
    ]
    # The loop variable's fields are checked by rendering against the sample rows.
    loop = "{% for b in target.next_booking %}\n{{ b.chek_in }}{% endfor %}"
    found = check_template(loop, html=False, context=ctx)
    assert [(p.line, p.message) for p in found] == [
        (2, "no field 'chek_in' (did you mean 'check_in'?)")
    ]


def test_check_template_tolerates_filters_on_text_that_only_real_data_can_tell() -> None:
    ctx = sample_context(TRAVEL, "booking", {}, {})
    text = "{{ target.amount|currency(target.currency) }} {{ recipient.signup_date|date }}"
    assert check_template(text, html=False, context=ctx) == []
    assert check_template("{{ recipient.city|date }}", html=False, context=ctx) == []


def test_an_unknown_population_checks_names_but_not_target_fields() -> None:
    ctx = sample_context(TRAVEL, None, None, None)
    assert check_template("{{ target.anything }} {{ vars.any }}", html=False, context=ctx) == []
    found = check_template("{{ recipient.nope }}\n{{ targt }}", html=False, context=ctx)
    assert [p.message.split(" (")[0] for p in found] == [
        "unknown field recipient.nope",
        "unknown name 'targt'",
    ]


# --- campaign validation --------------------------------------------------------------------


def _campaign(channel: dict[str, Any], *, entity: str = "customer", enrich: bool = False) -> str:
    nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "build_audience", "settings": {"entity": entity}}
    ]
    if enrich:
        related = {
            "link": "bookings",
            "as": "next_booking",
            "sort": ["check_in"],
            "fields": ["check_in", "hotel.name", "hotel.city"],
        }
        nodes.append({"id": "next", "type": "enrich", "settings": {"related": [related]}})
    nodes.append({"id": "send", **channel})
    edges = [{"from": a["id"], "to": b["id"]} for a, b in pairwise(nodes)]
    data = {"name": "t", "variables": {"code": {"type": "string"}}, "nodes": nodes, "edges": edges}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def problems_of(text: str) -> list[str]:
    return [f"{p.path}: {p.message}" for p in check_campaign(text, TRAVEL)]


def test_validation_checks_every_part_of_every_channel() -> None:
    email = {
        "type": "email",
        "settings": {
            "subject": "{{ recipient.first_name }}",
            "body": "<p>Hi</p>\n<p>{{ recipient.nme }}</p>\n",
            "text": "{% if %}",
        },
    }
    assert [p.split(" (did")[0] for p in problems_of(_campaign(email))] == [
        "nodes.send.settings.body: template line 2: unknown field recipient.nme",
        "nodes.send.settings.text: syntax error: Expected an expression, got 'end of "
        "statement block'",
    ]
    push = {
        "type": "push",
        "settings": {"title": "{{ vars.cod }}", "body": "ok", "deep_link": "app://{{ row.x }}"},
    }
    assert problems_of(_campaign(push)) == [
        "nodes.send.settings.title: unknown variable vars.cod (did you mean 'code'?)",
        "nodes.send.settings.deep_link: unknown field row.x",
    ]
    hook = {"type": "webhook", "settings": {"url": "https://h.example/{{ recipient.__class__ }}"}}
    found = problems_of(_campaign(hook))
    assert len(found) == 1 and found[0].startswith("nodes.send.settings.url: access to '__class__'")


def test_validation_knows_the_rows_of_one_message_per_row_and_enrichments() -> None:
    per_booking = {
        "type": "sms",
        "settings": {"per": "booking", "body": "{{ target.check_in|date }} {{ target.nigths }}"},
    }
    assert problems_of(_campaign(per_booking, entity="booking")) == [
        "nodes.send.settings.body: unknown field target.nigths (did you mean 'nights'?)"
    ]
    enriched = {
        "type": "sms",
        "settings": {"body": "{{ row.next_booking[0].hotel_city }} {{ row.next_booking[0].city }}"},
    }
    assert problems_of(_campaign(enriched, enrich=True)) == [
        "nodes.send.settings.body: unknown field row.next_booking[0].city (did you mean "
        "'hotel_city'?)"
    ]


def test_cli_validate_names_the_file_line_node_setting_and_template_line(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    run("init", str(root), "--store", "duckdb:///cantata.duckdb")
    examples = Path(__file__).parents[2] / "examples"
    assert "valid" in run(
        "campaign", "validate", str(examples / "upcoming_stays.yaml"), "-w", str(root)
    )
    broken = tmp_path / "broken.yaml"
    text = (examples / "upcoming_stays.yaml").read_text()
    broken.write_text(text.replace("{{ recipient.tier }} member", "{{ recipient.teir }} member"))
    out = fails("campaign", "validate", str(broken), "-w", str(root))
    assert "nodes.email_gold.settings.body: template line 3: unknown field recipient.teir" in out
    assert "did you mean 'tier'?" in out and "broken.yaml:" in out
