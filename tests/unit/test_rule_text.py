"""The text form of rules: examples, AST → text → AST identity, error messages, --rule."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cantata.audience.rules import (
    AGGREGATES,
    COMPARE_OPS,
    HISTORY_EVENTS,
    NULL_OPS,
    OPS,
    UNITS,
    Aggregate,
    AllOf,
    AnyOf,
    Comparison,
    FieldCondition,
    HistoryCondition,
    InAudience,
    LinkCondition,
    Not,
    Relative,
    Rule,
    RuleError,
    parse_rule,
    to_json,
)
from cantata.audience.text import RuleSyntaxError, format_rule, load_rule, parse_text
from cantata.errors import CantataError

SPEC_EXAMPLE = (
    'country in ("FR", "DE") and tier = "gold" and count(bookings where status = "confirmed" '
    "and check_in between today() and today() + 30d) >= 2 and hotel.stars >= 4 "
    'and not in_audience("vip")'
)


def test_the_spec_example() -> None:
    rule = parse_text(SPEC_EXAMPLE)
    assert to_json(rule) == {
        "all": [
            {"field": "country", "op": "in", "value": ["FR", "DE"]},
            {"field": "tier", "op": "eq", "value": "gold"},
            {
                "link": "bookings",
                "where": {
                    "all": [
                        {"field": "status", "op": "eq", "value": "confirmed"},
                        {
                            "field": "check_in",
                            "op": "between",
                            "value": [{"ahead": "0d"}, {"ahead": "30d"}],
                        },
                    ]
                },
                "count": {"op": "gte", "value": 2},
            },
            {"field": "hotel.stars", "op": "gte", "value": 4},
            {"not": {"audience": "vip"}},
        ]
    }
    assert format_rule(rule) == SPEC_EXAMPLE


# (text, canonical JSON, canonical text when it differs from the input)
EXAMPLES: list[tuple[str, dict[str, Any], str | None]] = [
    # comparisons
    ('tier = "gold"', {"field": "tier", "op": "eq", "value": "gold"}, None),
    ('tier == "gold"', {"field": "tier", "op": "eq", "value": "gold"}, 'tier = "gold"'),
    ('tier != "gold"', {"field": "tier", "op": "ne", "value": "gold"}, None),
    ('tier <> "gold"', {"field": "tier", "op": "ne", "value": "gold"}, 'tier != "gold"'),
    ("nights < 3", {"field": "nights", "op": "lt", "value": 3}, None),
    ("nights <= 3", {"field": "nights", "op": "lte", "value": 3}, None),
    ("amount > 99.5", {"field": "amount", "op": "gt", "value": 99.5}, None),
    ("amount >= -1", {"field": "amount", "op": "gte", "value": -1}, None),
    ("score >= 1e-05", {"field": "score", "op": "gte", "value": 1e-05}, None),
    ("score = 2.0", {"field": "score", "op": "eq", "value": 2.0}, None),
    ("vip = true", {"field": "vip", "op": "eq", "value": True}, None),
    ("vip != false", {"field": "vip", "op": "ne", "value": False}, None),
    (
        "hotel.city = 'Paris'",
        {"field": "hotel.city", "op": "eq", "value": "Paris"},
        'hotel.city = "Paris"',
    ),
    # sets and ranges
    ('country in ("FR")', {"field": "country", "op": "in", "value": ["FR"]}, None),
    (
        'country not in ("FR", "DE")',
        {"field": "country", "op": "not_in", "value": ["FR", "DE"]},
        None,
    ),
    ("nights between 2 and 5", {"field": "nights", "op": "between", "value": [2, 5]}, None),
    (
        "nights between (2, 5)",
        {"field": "nights", "op": "between", "value": [2, 5]},
        "nights between 2 and 5",
    ),
    # nulls
    ("phone is null", {"field": "phone", "op": "is_null"}, None),
    ("phone is not null", {"field": "phone", "op": "not_null"}, None),
    # text
    ('email contains "@example"', {"field": "email", "op": "contains", "value": "@example"}, None),
    ('email not contains "+"', {"field": "email", "op": "not_contains", "value": "+"}, None),
    ('name starts with "Jo"', {"field": "name", "op": "starts_with", "value": "Jo"}, None),
    ('email ends with ".fr"', {"field": "email", "op": "ends_with", "value": ".fr"}, None),
    ('name like "J_n%"', {"field": "name", "op": "like", "value": "J_n%"}, None),
    # strings: JSON escapes, unicode as is; single quotes accepted
    (r'name = "say \"hi\"\\\n"', {"field": "name", "op": "eq", "value": 'say "hi"\\\n'}, None),
    ('name = "Zoë \\u00e9"', {"field": "name", "op": "eq", "value": "Zoë é"}, 'name = "Zoë é"'),
    (
        r"name = 'it\'s \"x\"'",
        {"field": "name", "op": "eq", "value": 'it\'s "x"'},
        r'name = "it' + "'" + r's \"x\""',
    ),
    # relative times
    ("check_in >= today()", {"field": "check_in", "op": "gte", "value": {"ahead": "0d"}}, None),
    (
        "check_in < today() + 30d",
        {"field": "check_in", "op": "lt", "value": {"ahead": "30d"}},
        None,
    ),
    (
        "birth_date < today() - 18y",
        {"field": "birth_date", "op": "lt", "value": {"ago": "18y"}},
        None,
    ),
    (
        "signup_date >= today() - 6mo",
        {"field": "signup_date", "op": "gte", "value": {"ago": "6mo"}},
        None,
    ),
    (
        "updated_at >= now() - 2h",
        {"field": "updated_at", "op": "gte", "value": {"ago": "2h"}},
        None,
    ),
    ("updated_at < now()", {"field": "updated_at", "op": "lt", "value": {"ahead": "0m"}}, None),
    (
        "updated_at < now() - 1w",
        {"field": "updated_at", "op": "lt", "value": {"ago": "1w"}},
        "updated_at < today() - 1w",
    ),
    (
        "check_in > today() - 15m",
        {"field": "check_in", "op": "gt", "value": {"ago": "15m"}},
        "check_in > now() - 15m",
    ),
    (
        'booked_at >= "2026-03-01T09:00:00Z"',
        {"field": "booked_at", "op": "gte", "value": "2026-03-01T09:00:00Z"},
        None,
    ),
    # logic
    (
        "a = 1 and b = 2 or not c = 3",
        {
            "any": [
                {
                    "all": [
                        {"field": "a", "op": "eq", "value": 1},
                        {"field": "b", "op": "eq", "value": 2},
                    ]
                },
                {"not": {"field": "c", "op": "eq", "value": 3}},
            ]
        },
        "(a = 1 and b = 2) or not c = 3",
    ),
    (
        "a = 1 and (b = 2 or c = 3)",
        {
            "all": [
                {"field": "a", "op": "eq", "value": 1},
                {
                    "any": [
                        {"field": "b", "op": "eq", "value": 2},
                        {"field": "c", "op": "eq", "value": 3},
                    ]
                },
            ]
        },
        None,
    ),
    (
        "a = 1 and (b = 2 and c = 3)",
        {
            "all": [
                {"field": "a", "op": "eq", "value": 1},
                {
                    "all": [
                        {"field": "b", "op": "eq", "value": 2},
                        {"field": "c", "op": "eq", "value": 3},
                    ]
                },
            ]
        },
        None,
    ),
    (
        "not (a = 1 or b = 2)",
        {
            "not": {
                "any": [
                    {"field": "a", "op": "eq", "value": 1},
                    {"field": "b", "op": "eq", "value": 2},
                ]
            }
        },
        None,
    ),
    ("not not a is null", {"not": {"not": {"field": "a", "op": "is_null"}}}, None),
    ("((a = 1))", {"field": "a", "op": "eq", "value": 1}, "a = 1"),
    ("true", {"all": []}, None),
    ("false", {"any": []}, None),
    ("all()", {"all": []}, "true"),
    ("all(a = 1)", {"all": [{"field": "a", "op": "eq", "value": 1}]}, None),
    ("any(a = 1)", {"any": [{"field": "a", "op": "eq", "value": 1}]}, None),
    (
        "all(a = 1, b = 2 or c = 3)",
        {
            "all": [
                {"field": "a", "op": "eq", "value": 1},
                {
                    "any": [
                        {"field": "b", "op": "eq", "value": 2},
                        {"field": "c", "op": "eq", "value": 3},
                    ]
                },
            ]
        },
        "a = 1 and (b = 2 or c = 3)",
    ),
    # links
    ("exists(bookings)", {"link": "bookings"}, None),
    (
        'exists(bookings where status = "confirmed" and hotel.stars >= 4)',
        {
            "link": "bookings",
            "where": {
                "all": [
                    {"field": "status", "op": "eq", "value": "confirmed"},
                    {"field": "hotel.stars", "op": "gte", "value": 4},
                ]
            },
        },
        None,
    ),
    ("not exists(flights)", {"not": {"link": "flights"}}, None),
    ("count(bookings) = 0", {"link": "bookings", "count": {"op": "eq", "value": 0}}, None),
    (
        "count(bookings) between 1 and 3",
        {"link": "bookings", "count": {"op": "between", "value": [1, 3]}},
        None,
    ),
    (
        'count(bookings where status = "cancelled") >= 2',
        {
            "link": "bookings",
            "where": {"field": "status", "op": "eq", "value": "cancelled"},
            "count": {"op": "gte", "value": 2},
        },
        None,
    ),
    (
        "sum(bookings.amount) > 1000",
        {
            "link": "bookings",
            "aggregate": {"fn": "sum", "field": "amount", "op": "gt", "value": 1000},
        },
        None,
    ),
    (
        'avg(bookings.nights where status = "completed") >= 3.5',
        {
            "link": "bookings",
            "where": {"field": "status", "op": "eq", "value": "completed"},
            "aggregate": {"fn": "avg", "field": "nights", "op": "gte", "value": 3.5},
        },
        None,
    ),
    (
        "min(bookings.check_in) < today() - 1y",
        {
            "link": "bookings",
            "aggregate": {"fn": "min", "field": "check_in", "op": "lt", "value": {"ago": "1y"}},
        },
        None,
    ),
    (
        "max(bookings.hotel.stars) = 5",
        {
            "link": "bookings",
            "aggregate": {"fn": "max", "field": "hotel.stars", "op": "eq", "value": 5},
        },
        None,
    ),
    (
        "count(bookings.*) >= 2",
        {"link": "bookings", "aggregate": {"fn": "count", "op": "gte", "value": 2}},
        None,
    ),
    (
        'exists(bookings where exists(flights where cabin = "business"))',
        {
            "link": "bookings",
            "where": {
                "link": "flights",
                "where": {"field": "cabin", "op": "eq", "value": "business"},
            },
        },
        None,
    ),
    # audiences and history
    ('in_audience("vip")', {"audience": "vip"}, None),
    ("history()", {"history": {}}, None),
    (
        'history(channel = "email", event = "opened", since today() - 7d)',
        {"history": {"channel": "email", "event": "opened", "since": {"ago": "7d"}}},
        None,
    ),
    (
        'history(since = now() - 2h, campaign = "spring", until "2026-03-01T00:00:00Z")',
        {
            "history": {
                "campaign": "spring",
                "since": {"ago": "2h"},
                "until": "2026-03-01T00:00:00Z",
            }
        },
        'history(campaign = "spring", since now() - 2h, until "2026-03-01T00:00:00Z")',
    ),
    # names: keywords where unambiguous, back quotes for the rest; comments and new lines
    (
        "count = 3 and in = 4 and where.is is null",
        {
            "all": [
                {"field": "count", "op": "eq", "value": 3},
                {"field": "in", "op": "eq", "value": 4},
                {"field": "where.is", "op": "is_null"},
            ]
        },
        None,
    ),
    (
        "`not` = 1 and `a b`.`c\\`d` = 2",
        {
            "all": [
                {"field": "not", "op": "eq", "value": 1},
                {"field": "a b.c`d", "op": "eq", "value": 2},
            ]
        },
        None,
    ),
    (
        '# customers in France\ncountry = "FR"  # the only rule\n',
        {"field": "country", "op": "eq", "value": "FR"},
        'country = "FR"',
    ),
]


@pytest.mark.parametrize(("text", "expected", "canonical"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_example(text: str, expected: dict[str, Any], canonical: str | None) -> None:
    rule = parse_text(text)
    assert to_json(rule) == expected
    assert rule == parse_rule(expected)
    assert format_rule(rule) == (canonical if canonical is not None else text)
    assert parse_text(format_rule(rule)) == rule


def test_multi_line_rule() -> None:
    text = """
        country in ("FR", "DE")
        and (
            tier = "gold"
            or sum(bookings.amount where check_in >= today() - 1y) > 5000
        )
    """
    rule = parse_text(text)
    assert format_rule(rule) == (
        'country in ("FR", "DE") and (tier = "gold" or '
        "sum(bookings.amount where check_in >= today() - 1y) > 5000)"
    )


# --- AST → text → AST identity -------------------------------------------------------------

PLAIN = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
NAMES = st.one_of(
    PLAIN,
    PLAIN,
    st.sampled_from(["not", "and", "true", "count", "in", "where"]),
    st.text(min_size=1, max_size=6),
)
PATHS = st.lists(NAMES, min_size=1, max_size=3).map(".".join)
RELATIVE = st.builds(
    Relative,
    direction=st.sampled_from(["ago", "ahead"]),
    amount=st.one_of(st.integers(0, 3), st.integers(0, 10**6)),
    unit=st.sampled_from(UNITS),
)
SCALARS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(['"', "\\", '\\"', "'", "\n", "`", "é", "日本", "💡", "\x00"]),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    RELATIVE,
)
VALUES = st.one_of(st.none(), SCALARS, st.lists(SCALARS, max_size=4).map(tuple))
ISO = st.datetimes(min_value=datetime(1970, 1, 1)).map(lambda d: d.isoformat() + "Z")


@st.composite
def field_conditions(draw: st.DrawFn) -> FieldCondition:
    op = draw(st.sampled_from(OPS))
    value = None if op in NULL_OPS else draw(VALUES)
    return FieldCondition(field=draw(PATHS), op=op, value=value)


COMPARISON_OPS = st.sampled_from((*COMPARE_OPS, "between"))
COUNTS = st.builds(Comparison, op=COMPARISON_OPS, value=VALUES)
AGGREGATE = st.builds(
    Aggregate,
    fn=st.sampled_from(AGGREGATES),
    field=st.none() | PATHS,
    op=COMPARISON_OPS,
    value=VALUES,
)
HISTORY = st.builds(
    HistoryCondition,
    channel=st.none() | st.text(max_size=6),
    event=st.none() | st.sampled_from(HISTORY_EVENTS),
    campaign=st.none() | st.text(max_size=6),
    since=st.none() | RELATIVE | ISO,
    until=st.none() | RELATIVE | ISO,
)
ATOMS = st.one_of(
    field_conditions(),
    st.builds(LinkCondition, link=NAMES),
    st.builds(InAudience, audience=st.text(min_size=1, max_size=8)),
    HISTORY,
)


def _extend(children: st.SearchStrategy[Rule]) -> st.SearchStrategy[Rule]:
    items = st.lists(children, max_size=4).map(tuple)
    return st.one_of(
        st.builds(AllOf, all=items),
        st.builds(AnyOf, any=items),
        st.builds(Not, rule=children),
        st.builds(LinkCondition, link=NAMES, where=st.none() | children),
        st.builds(LinkCondition, link=NAMES, where=st.none() | children, count=COUNTS),
        st.builds(LinkCondition, link=NAMES, where=st.none() | children, aggregate=AGGREGATE),
    )


RULES: st.SearchStrategy[Rule] = st.recursive(ATOMS, _extend, max_leaves=12)


@settings(max_examples=1500, deadline=None)
@given(RULES)
def test_ast_text_ast_is_the_identity(rule: Rule) -> None:
    assert parse_rule(to_json(rule)) == rule  # the generator stays within what JSON can say
    text = format_rule(rule)
    back = parse_text(text)
    assert back == rule
    assert repr(back) == repr(rule)  # also 1 vs 1.0 vs True, -0.0 vs 0.0
    assert format_rule(back) == text


@settings(max_examples=300, deadline=None)
@given(RULES)
def test_text_is_stable_through_json(rule: Rule) -> None:
    text = format_rule(rule)
    assert format_rule(parse_rule(json.loads(json.dumps(to_json(parse_text(text)))))) == text


TOKENS = st.sampled_from(
    [
        "a",
        "b.c",
        "=",
        "!=",
        "<",
        ">=",
        "in",
        "not",
        "and",
        "or",
        "(",
        ")",
        ",",
        '"x"',
        "1",
        "-",
        "2.5",
        "today()",
        "now()",
        "+",
        "7d",
        "between",
        "is",
        "null",
        "exists(",
        "count(",
        "sum(",
        "where",
        ".",
        "*",
        "in_audience(",
        "history(",
        "since",
        "true",
        "like",
        "starts",
        "with",
        "`q`",
        "'s'",
    ]
)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.text(max_size=30), st.lists(TOKENS, max_size=14).map(" ".join)))
def test_any_text_parses_or_raises_a_syntax_error(text: str) -> None:
    try:
        rule = parse_text(text)
    except RuleSyntaxError as exc:
        assert exc.line >= 1 and exc.column >= 1
        return
    assert parse_text(format_rule(rule)) == rule


def test_non_finite_numbers_have_no_text_form() -> None:
    with pytest.raises(ValueError, match="finite"):
        format_rule(FieldCondition(field="x", op="eq", value=float("inf")))


# --- errors --------------------------------------------------------------------------------

ERRORS = [
    (
        'tier = "gold" and\n  country inn ("FR")',
        "line 2, column 11: expected an operator (=, !=, <, <=, >, >=, in, not in, between, "
        "is null, is not null, contains, not contains, starts with, ends with, like), "
        "found 'inn'\n"
        '    country inn ("FR")\n'
        "            ^",
    ),
    (
        "tier = ",
        'line 1, column 8: expected a value (a "string", a number, true, false, null, today(), '
        'now() or a list ("a", "b")), found the end of the rule\n'
        "  tier = \n"
        "         ^",
    ),
    (
        "a = 1 b = 2",
        "line 1, column 7: expected 'and', 'or' or the end of the rule, found 'b'\n"
        "  a = 1 b = 2\n"
        "        ^",
    ),
    (
        "(a = 1",
        "line 1, column 7: expected ')' or 'and', 'or', found the end of the rule\n"
        "  (a = 1\n"
        "        ^",
    ),
    (
        "a = 1)",
        "line 1, column 6: expected the end of the rule (this ')' has no matching '('), "
        "found ')'\n"
        "  a = 1)\n"
        "       ^",
    ),
    (
        'name = "abc',
        'line 1, column 8: expected the closing " of this string, found the end of the text\n'
        '  name = "abc\n'
        "         ^",
    ),
    (
        "check_in > 30d",
        "line 1, column 12: expected a time: today() - 30d (ago) or today() + 30d (ahead), "
        "found '30d'\n"
        "  check_in > 30d\n"
        "             ^",
    ),
    (
        "check_in > today() - 3 days",
        "line 1, column 22: expected a duration: a number and a unit among m, h, d, w, mo, y "
        "(e.g. 30d), found '3'\n"
        "  check_in > today() - 3 days\n"
        "                       ^",
    ),
    (
        "bookings where amount > 3",
        "line 1, column 10: expected an operator; to test linked rows write "
        "exists(bookings where ...), count(bookings where ...) >= N, found 'where'\n"
        "  bookings where amount > 3\n"
        "           ^",
    ),
    (
        "count(bookings) in (1, 2)",
        "line 1, column 17: expected a comparison (=, !=, <, <=, >, >=, between), found 'in'\n"
        "  count(bookings) in (1, 2)\n"
        "                  ^",
    ),
    (
        'received(email, campaign = "x")',
        "line 1, column 1: expected a function among all, any, exists, count, sum, avg, min, "
        "max, in_audience, history (or a field followed by an operator), found 'received'\n"
        '  received(email, campaign = "x")\n'
        "  ^",
    ),
    (
        'history(event = "sent", event = "opened")',
        "line 1, column 25: expected channel, event, campaign, since, until, each at most once "
        "('event' repeats), found 'event'\n"
        '  history(event = "sent", event = "opened")\n'
        "                          ^",
    ),
    (
        "a in (1, null)",
        'line 1, column 10: expected a value (a "string", a number, true, false, today() or '
        "now()), found 'null'\n"
        "  a in (1, null)\n"
        "           ^",
    ),
    (
        "a between 1 and b = 2",
        "line 1, column 17: expected the high bound of 'between' (a \"string\", a number, true, "
        "false, today() or now()), found 'b'\n"
        "  a between 1 and b = 2\n"
        "                  ^",
    ),
    (
        'a = "\\q"',
        "line 1, column 5: expected a string with valid escapes "
        '(\\" \\\\ \\n \\t \\uXXXX ...), found \'"\\\\q"\' (Invalid \\escape: line 1 column 2 '
        "(char 1))\n"
        '  a = "\\q"\n'
        "      ^",
    ),
    (
        "",
        "line 1, column 1: expected a condition (a field, not, (, exists(, count(, "
        "in_audience(, history( ...), found the end of the rule\n"
        "  \n"
        "  ^",
    ),
]


@pytest.mark.parametrize(("text", "message"), ERRORS, ids=[e[0] or "empty" for e in ERRORS])
def test_syntax_error_names_line_column_and_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_text(text)
    assert str(info.value) == message
    assert isinstance(info.value, CantataError)


def test_syntax_error_attributes() -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_text("a = 1\nand\tb ~ 2", source="rule.txt")
    err = info.value
    assert (err.line, err.column, err.source_line) == (2, 7, "and\tb ~ 2")
    assert err.expected.startswith("an operator")
    assert str(err).startswith("rule.txt: line 2, column 7:")
    assert str(err).endswith("  and     b ~ 2\n            ^")


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(RuleSyntaxError, match="nested"):
        parse_text("(" * 5000 + "a = 1" + ")" * 5000)


# --- --rule --------------------------------------------------------------------------------

RULE_JSON = {"field": "tier", "op": "eq", "value": "gold"}
RULE = parse_rule(RULE_JSON)


def test_load_rule_inline_text_and_json() -> None:
    stdin = io.StringIO("")
    assert load_rule('tier = "gold"', stdin) == RULE
    assert load_rule(json.dumps(RULE_JSON), stdin) == RULE
    assert load_rule("  " + json.dumps(RULE_JSON), stdin) == RULE


def test_load_rule_from_stdin() -> None:
    assert load_rule("-", io.StringIO('tier = "gold"\n')) == RULE
    assert load_rule("-", io.StringIO(json.dumps(RULE_JSON))) == RULE


def test_load_rule_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "gold.json").write_text(json.dumps(RULE_JSON))
    (tmp_path / "gold.rule").write_text('# gold customers\ntier = "gold"\n')
    (tmp_path / "gold.txt").write_text(json.dumps(RULE_JSON))
    assert load_rule(str(tmp_path / "gold.json"), io.StringIO()) == RULE
    assert load_rule(str(tmp_path / "gold.rule"), io.StringIO()) == RULE
    assert load_rule(str(tmp_path / "gold.txt"), io.StringIO()) == RULE  # content is JSON
    monkeypatch.chdir(tmp_path)
    assert load_rule("gold.rule", io.StringIO()) == RULE


def test_load_rule_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"field": "tier",\n "op": eq}')
    with pytest.raises(RuleSyntaxError) as info:
        load_rule(str(bad), io.StringIO())
    assert str(info.value).startswith(f"{bad}: line 2, column 8: expected valid JSON")
    with pytest.raises(RuleError, match="op: unknown op 'equals'"):
        load_rule('{"field": "tier", "op": "equals", "value": 1}', io.StringIO())
    with pytest.raises(RuleSyntaxError, match=r"^<stdin>: line 1, column 7"):
        load_rule("-", io.StringIO("tier ="))
    text_file = tmp_path / "bad.rule"
    text_file.write_text("tier = \n")
    with pytest.raises(RuleSyntaxError, match=rf"^{bad.parent}.*bad\.rule: line 1, column 7"):
        load_rule(str(text_file), io.StringIO())
    with pytest.raises(RuleSyntaxError):  # a missing file is inline text
        load_rule(str(tmp_path / "missing.rule"), io.StringIO())
