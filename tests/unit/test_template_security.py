"""Template injection (SSTI) is refused at validation — statically, before any render — and
again by the sandbox at render time, whatever the data; legitimate templates pass."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from cantata.canvas import check_campaign
from cantata.canvas.definition import Variable
from cantata.delivery.personalize import (
    TemplateError,
    check_template,
    compile_parts,
    sample_context,
)
from cantata.model import parse_model
from cantata.workspace import starter_model

TRAVEL = parse_model(starter_model())
ITEMS = {"next_booking": {"hotel_name": "string", "check_in": "date", "nights": "integer"}}
CONTEXT = sample_context(
    TRAVEL,
    "customer",
    {"next_booking": "collection"},
    {"offer_code": Variable(type="string", default="WELCOME10")},
    items=ITEMS,
)

# (payload, what the refusal names)
REFUSED_STATICALLY = [
    ("{{ ''.__class__ }}", "'__class__'"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "'__subclasses__'"),
    ("{{ recipient.__class__.__init__.__globals__ }}", "'__globals__'"),
    ("{{ recipient.first_name.__class__.mro() }}", "'mro'"),
    ("{{ target.mro }}", "'mro'"),
    ("{{ '{0.__class__}'.format(recipient) }}", "'.format'"),
    ("{{ '{x.__class__}'.format_map({'x': recipient}) }}", "'.format_map'"),
    ("{{ (recipient.first_name|attr('format'))('{0.__class__}') }}", "'.format'"),
    ("{{ self.__init__.__globals__.__builtins__ }}", "'self'"),
    ("{{ self._TemplateReference__context }}", "'self'"),
    ("{{ cycler.__init__.__globals__.os.popen('id').read() }}", "'cycler'"),
    ("{{ joiner.__init__.__globals__ }}", "'joiner'"),
    ("{% set ns = namespace(x=1) %}{{ ns.x }}", "'namespace'"),
    ("{{ lipsum.__globals__['os'] }}", "'lipsum'"),
    ("{{ config.items() }}", "'config'"),
    ("{{ request.application.__globals__ }}", "'request'"),
    ("{{ __builtins__ }}", "'__builtins__'"),
    ("{{ recipient['__class__'] }}", "'__class__'"),
    ("{{ recipient['__cla' ~ 'ss__'] }}", "'__class__'"),
    ("{{ recipient|attr('__class__') }}", "'__class__'"),
    ("{{ recipient|attr('__cla' ~ 'ss__') }}", "'__class__'"),
    ("{% set a = '__class__' %}{{ recipient|attr(a) }}", "constant attribute name"),
    ("{{ target.next_booking|map(attribute='__class__')|list }}", "'__class__'"),
    ("{{ target.next_booking|map('attr', '__class__')|list }}", "'__class__'"),
    ("{{ target.next_booking|selectattr('__class__')|list }}", "'__class__'"),
    ("{{ target.next_booking|sort(attribute='hotel_name.__class__')|list }}", "'__class__'"),
    ("{{ target.next_booking|groupby('__dict__')|list }}", "'__dict__'"),
    ("{{ recipient.first_name.upper.__self__ }}", "'__self__'"),
    ("{{ recipient.get.__globals__ }}", "'__globals__'"),
    ("{{ x.gi_frame.f_globals }}", "'gi_frame'"),
    ("{% for c in ''.__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}", "'__base__'"),
    ("{{ '%s'|format(recipient.__class__) }}", "'__class__'"),
    ("{% include 'secrets.html' %}", "include"),
    ("{% import 'macros.html' as m %}", "import"),
    ("{% from 'macros.html' import m %}", "import"),
    ("{% extends 'base.html' %}", "extends"),
    ("{{ range(100000000)|list }}", "range()"),
    ("{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 %}.{% endfor %}{% endfor %}", "loop"),
    ("{% for a in ('x' * 99999).split('') %}{% endfor %}", "loop"),
]

# Caught at validation by rendering against sample rows (the sandbox refuses them).
REFUSED_AT_SAMPLE_RENDER = [
    ("{{ 'a' * 1000000 }}", "repeating a value"),
    ("{{ [1, 2] * 100000 }}", "repeating a value"),
    ("{{ 9 ** 999999 }}", "exponent"),
    ("{% for i in range(0, 10**9) %}{% endfor %}", "range()"),
    ("{{ target.next_booking.append(1) }}", "sandbox"),
    ("{{ recipient.clear() }}", "sandbox"),
    ("{{ recipient.update({'tier': 'gold'}) }}", "sandbox"),
    ("{% set k = '__cl' + 'ass__' %}{{ recipient[k] }}", "sandbox"),
    # Nested loops multiply: the range() items of one render are counted together.
    ("{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}", "10,000"),
]


@pytest.mark.parametrize(("payload", "named"), REFUSED_STATICALLY)
def test_refused_statically_with_a_clear_message(payload: str, named: str) -> None:
    problems = check_template(payload, html=True, context=CONTEXT)
    assert problems, payload
    assert all(p.line == 1 for p in problems)
    text = " / ".join(p.message for p in problems)
    assert named in text and ("refused" in text or "not available" in text), text
    with pytest.raises(TemplateError, match=r"refused|not available"):
        compile_parts({"body": payload}, html_parts={"body"}, where="nodes.mail")


@pytest.mark.parametrize(("payload", "named"), REFUSED_AT_SAMPLE_RENDER)
def test_refused_by_the_sandbox_at_validation_and_at_render(payload: str, named: str) -> None:
    problems = check_template(payload, html=False, context=CONTEXT)
    assert len(problems) == 1 and named in problems[0].message, problems
    assert "refused by the sandbox" in problems[0].message
    compiled = compile_parts({"text": payload})
    with pytest.raises(TemplateError, match="refused by the sandbox") as caught:
        compiled.render(CONTEXT)
    assert caught.value.part == "text" and caught.value.line == 1


def _campaign(body: str) -> str:
    data: dict[str, Any] = {
        "name": "t",
        "nodes": [
            {"id": "customers", "type": "build_audience", "settings": {"entity": "customer"}},
            {"id": "mail", "type": "email", "settings": {"subject": "Hi", "body": body}},
        ],
        "edges": [{"from": "customers", "to": "mail"}],
    }
    return yaml.safe_dump(data, sort_keys=False)


@pytest.mark.parametrize(
    "payload",
    [p for p, _ in REFUSED_STATICALLY[:12]] + [p for p, _ in REFUSED_AT_SAMPLE_RENDER[:3]],
)
def test_campaign_validation_refuses_injection_naming_node_setting_and_line(payload: str) -> None:
    body = f"<p>Hello</p>\n<p>{payload}</p>\n"
    problems = check_campaign(_campaign(body), TRAVEL, source="c.yaml")
    assert problems, payload
    for problem in problems:
        assert problem.path == "nodes.mail.settings.body" and problem.node == "mail"
        assert problem.message.startswith("template line 2: "), problem.message
        assert problem.line is not None


def test_a_loop_printing_a_long_text_is_cut_short() -> None:
    payload = "{% for a in range(100) %}{{ 'x' * 99999 }}{% endfor %}"
    [problem] = check_template(payload, html=False, context=CONTEXT)
    assert "longer than 1,000,000 characters" in problem.message
    with pytest.raises(TemplateError, match="longer than 1,000,000 characters"):
        compile_parts({"text": payload}).render(CONTEXT)


def test_a_template_cannot_change_the_data_of_later_messages() -> None:
    recipient = {"first_name": "Ana", "email": "ana@example.com"}
    attack = "{{ dict.update(recipient, {'email': 'attacker@example.com'}) }}"
    with pytest.raises(TemplateError):
        compile_parts({"text": attack}).render({"recipient": recipient, "target": {}, "vars": {}})
    assert recipient["email"] == "ana@example.com"
    made = compile_parts({"text": "{{ dict(a=1)['a'] }}"}).render({"recipient": {}})
    assert made == {"text": "1"}


def test_data_is_never_evaluated_as_a_template() -> None:
    compiled = compile_parts({"subject": "Hi {{ recipient.first_name }}"})
    evil = "{{ ''.__class__.__mro__ }}{% for x in range(9) %}x{% endfor %}"
    assert compiled.render({"recipient": {"first_name": evil}}) == {"subject": f"Hi {evil}"}


def test_a_field_named_like_a_private_attribute_read_through_data_is_refused() -> None:
    compiled = compile_parts({"body": "{{ recipient.first_name[target.key] }}"})
    context = {"recipient": {"first_name": "Ann"}, "target": {"key": "__class__"}}
    with pytest.raises(TemplateError, match="refused by the sandbox"):
        compiled.render(context)


def test_html_parts_escape_data_and_text_parts_do_not() -> None:
    compiled = compile_parts(
        {"subject": "{{ recipient.first_name }}", "html": "<p>{{ recipient.first_name }}</p>"},
        html_parts={"html"},
    )
    out = compiled.render({"recipient": {"first_name": "<script>alert(1)</script> & co"}})
    assert out["html"] == "<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</p>"
    assert out["subject"] == "<script>alert(1)</script> & co"


LEGITIMATE = [
    "{{ target.next_booking[0].hotel_name }}",
    "{{ row.next_booking[0].hotel_name }} on {{ row.next_booking[0].check_in|date('long') }}",
    "{% for b in target.next_booking %}{{ loop.index }}. {{ b.hotel_name|upper }} "
    "({{ b.nights }} nights){% if not loop.last %}, {% endif %}{% endfor %}",
    "{% if recipient.tier in ('gold', 'platinum') %}VIP{% else %}Hello{% endif %}",
    "{{ recipient.first_name|default('friend', true)|title }}",
    "{{ '%s nights'|format(target.next_booking[0].nights) }}",
    "{{ '%s'|format(recipient.first_name) }} {{ '%05d' % 42 }}",
    "{% set n = target.next_booking|length %}{{ n }} stay{{ 's' if n != 1 }}",
    "{% macro hi(name) %}Hi {{ name }}{% endmacro %}{{ hi(recipient.first_name) }}",
    "{{ range(3)|join(',') }} {{ dict(a=1).a }} {{ recipient.get('tier', 'basic') }}",
    "{{ recipient.items()|list|length }} {{ target.next_booking|map(attribute='nights')|sum }}",
    "{{ target.next_booking|sort(attribute='check_in')|map(attribute='hotel_name')|join }}",
    "{{ vars.offer_code }} {{ unsubscribe_url }} {{ 'x' * 3 }} {{ 2 ** 10 }}",
    "{{ recipient.first_name is defined }} {{ target.next_booking[0] is mapping }}",
]


@pytest.mark.parametrize("template", LEGITIMATE)
def test_legitimate_templates_pass(template: str) -> None:
    assert check_template(template, html=True, context=CONTEXT) == []
    compile_parts({"body": template}, html_parts={"body"}).render(CONTEXT)
