"""Template files: every problem at once, each with its file line; valid files read back."""

from __future__ import annotations

import pytest

from cantata.delivery.template_library import TemplateFileError, read_template
from cantata.model import parse_model
from cantata.workspace import starter_model

TRAVEL = parse_model(starter_model())


def problems(text: str) -> list[str]:
    with pytest.raises(TemplateFileError) as caught:
        read_template(text, "t.yaml", TRAVEL)
    return [p.describe("t.yaml") for p in caught.value.problems]


def test_a_valid_file_reads_back_its_parts() -> None:
    found = read_template(
        "name: welcome\nchannel: email\ndescription: First contact\n"
        "subject: Hi {{ recipient.first_name }}\nbody: <p>{{ target.anything }}</p>\n",
        "t.yaml",
        TRAVEL,
    )
    assert (found.name, found.channel, found.description) == ("welcome", "email", "First contact")
    assert found.parts == {
        "subject": "Hi {{ recipient.first_name }}",
        "body": "<p>{{ target.anything }}</p>",
    }


def test_every_problem_is_reported_with_its_line() -> None:
    text = (
        "name: welcome\n"  # 1
        "channel: email\n"  # 2
        "subjcet: Hi\n"  # 3
        "body: |\n"  # 4
        "  <p>Hello {{ recipient.first_nme }}</p>\n"  # 5
        "  <p>{{ ''.__class__ }}</p>\n"  # 6
        "text: 'Hi {{ recipient.first_name '\n"  # 7
    )
    assert problems(text) == [
        "t.yaml:1: (template): missing 'subject': email templates need subject, body",
        "t.yaml:3: subjcet: unknown key 'subjcet' (did you mean 'subject'?)",
        "t.yaml:5: body: unknown field recipient.first_nme (did you mean 'first_name' or "
        "'last_name' or 'birth_date'?)",
        "t.yaml:6: body: access to '__class__' is refused: names starting with '_' are private "
        "(sandbox)",
        "t.yaml:7: text: syntax error: unexpected end of template, expected 'end of print "
        "statement'.",
    ]


def test_name_channel_and_parts_are_checked() -> None:
    assert problems("name: 'a b'\nchannel: fax\nbody: 3\n") == [
        "t.yaml:1: name: give the template a name: letters, digits, _ . - (at most 63)",
        "t.yaml:2: channel: channel is one of email, sms, push, webhook",
        "t.yaml:3: body: unknown key 'body' (valid: channel, description, name)",
    ]
    assert problems("name: s\nchannel: sms\nbody: [1]\n") == [
        "t.yaml:3: body: body is template text"
    ]
