"""The readable text form of audience rules: `parse_text`, `format_rule`, `load_rule`.

    country in ("FR", "DE") and tier = "gold"
      and count(bookings where status = "confirmed"
                and check_in between today() and today() + 30d) >= 2
      and not in_audience("vip")

The text form is another spelling of the canonical JSON AST (`cantata.audience.rules`):
`parse_text` builds the same nodes `parse_rule` does, and `format_rule` prints any AST the
JSON form can hold (`parse_rule(to_json(rule)) == rule`; finite numbers) so that
`parse_text(format_rule(rule)) == rule` exactly (list nesting, value types, relative-time
directions included). docs/rules.md documents the language; the grammar:

    rule      := or
    or        := and ("or" and)*
    and       := unary ("and" unary)*
    unary     := "not" unary | atom
    atom      := "(" rule ")" | "true" | "false"
               | "all" "(" [rule ("," rule)*] ")" | "any" "(" [rule ("," rule)*] ")"
               | "exists" "(" LINK ["where" rule] ")"
               | "count" "(" LINK ["." "*"] ["where" rule] ")" compare
               | FN "(" LINK "." PATH ["where" rule] ")" compare      FN: count sum avg min max
               | "in_audience" "(" STRING ")"
               | "history" "(" [hist ("," hist)*] ")"
               | PATH field_op
    compare   := ("=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=") value | between
    field_op  := compare | "in" value | "not" "in" value | "is" ["not"] "null"
               | ["not"] "contains" value | "starts" "with" value | "ends" "with" value
               | "like" value
    between   := "between" scalar "and" scalar | "between" value
    hist      := ("channel" | "event" | "campaign") "=" STRING | ("since" | "until") ["="] value
    value     := scalar | "null" | "(" [scalar ("," scalar)*] ")"
    scalar    := STRING | ["-"] NUMBER | "true" | "false"
               | ("today" | "now") "(" ")" [("+" | "-") DURATION]
    PATH      := NAME ("." NAME)*          NAME: identifier or `back-quoted`

Relative times: `today() - 30d` is {"ago": "30d"}, `now() + 2h` {"ahead": "2h"}, bare
`today()` {"ahead": "0d"} and bare `now()` {"ahead": "0m"}; which base is written does not
matter (the field's type decides), `format_rule` writes now() for m/h units, today() else.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO

from cantata.audience.rules import (
    AGGREGATES,
    COMPARE_OPS,
    NULL_OPS,
    OPS,
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
    Scalar,
    Value,
    parse_rule,
)
from cantata.errors import CantataError

__all__ = ["RuleSyntaxError", "format_rule", "load_rule", "parse_text"]

# Words that cannot be a plain path segment (write them `back-quoted`).
RESERVED = frozenset({"and", "or", "not", "true", "false", "null"})

# Operators in the text form, by AST op.
SYMBOLS = {
    "eq": "=",
    "ne": "!=",
    "lt": "<",
    "lte": "<=",
    "gt": ">",
    "gte": ">=",
    "in": "in",
    "not_in": "not in",
    "between": "between",
    "is_null": "is null",
    "not_null": "is not null",
    "contains": "contains",
    "not_contains": "not contains",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "like": "like",
}
_COMPARE_SYMBOLS = {"=": "eq", "==": "eq", "!=": "ne", "<>": "ne", "<": "lt", "<=": "lte"}
_COMPARE_SYMBOLS |= {">": "gt", ">=": "gte"}
_HISTORY_KEYS = ("channel", "event", "campaign", "since", "until")
_DATE_UNITS = ("d", "w", "mo", "y")
_EXPECT_OP = (
    "an operator (=, !=, <, <=, >, >=, in, not in, between, is null, is not null, contains, "
    "not contains, starts with, ends with, like)"
)
_EXPECT_COMPARE = "a comparison (=, !=, <, <=, >, >=, between)"
_EXPECT_VALUE = (
    'a value (a "string", a number, true, false, null, today(), now() or a list ("a", "b"))'
)
_SCALARS = 'a "string", a number, true, false, today() or now()'
_EXPECT_SCALAR = f"a value ({_SCALARS})"
_EXPECT_RULE = "a condition (a field, not, (, exists(, count(, in_audience(, history( ...)"


class RuleSyntaxError(CantataError):
    """The text form of a rule does not parse: where (line, column) and what was expected."""

    def __init__(
        self,
        text: str,
        offset: int,
        expected: str,
        found: str,
        *,
        source: str | None = None,
    ) -> None:
        line = text.count("\n", 0, offset) + 1
        start = text.rfind("\n", 0, offset) + 1
        end = text.find("\n", offset)
        source_line = text[start : end if end >= 0 else len(text)]
        column = offset - start + 1
        self.line = line
        self.column = column
        self.expected = expected
        self.found = found
        self.source_line = source_line
        caret = " " * len(source_line[: column - 1].expandtabs()) + "^"
        message = (
            f"line {line}, column {column}: expected {expected}, found {found}\n"
            f"  {source_line.expandtabs()}\n  {caret}"
        )
        super().__init__(message, where=source)


# --- tokens --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # name, qname, string, number, duration, op, bad (no token), eof
    text: str
    pos: int
    value: Any = None


_TOKEN = re.compile(
    r"""
    (?P<space>(?:\s+|\#[^\n]*)+)
  | (?P<duration>\d+(?:mo|m|h|d|w|y)(?!\w))
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?!\w))
  | (?P<name>[^\W\d]\w*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<qname>`(?:[^`\\]|\\.)*`)
  | (?P<op><=|>=|!=|<>|==|[=<>(),.*+-])
    """,
    re.VERBOSE | re.DOTALL,
)


def _unquote_string(token: str) -> str:
    body = token[1:-1]
    if token[0] == "'":  # single-quoted: same escapes, plus \' ; " needs no escape
        out: list[str] = []
        i = 0
        while i < len(body):
            ch = body[i]
            if ch == "\\" and i + 1 < len(body):
                nxt = body[i + 1]
                out.append("'" if nxt == "'" else ch + nxt)
                i += 2
                continue
            out.append('\\"' if ch == '"' else ch)
            i += 1
        body = "".join(out)
    result = json.loads(f'"{body}"', strict=False)
    assert isinstance(result, str)
    return result


def _tokenize(text: str, source: str | None) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            if ch in "\"'`":
                kind = {'"': "string", "'": "string", "`": "name"}[ch]
                raise RuleSyntaxError(
                    text,
                    pos,
                    f"the closing {ch} of this {kind}",
                    "the end of the text",
                    source=source,
                )
            # not a token: the parser reports it with what it expected there
            word = re.match(r"\w+", text[pos:])
            raw = word.group() if word else ch
            tokens.append(_Token("bad", raw, pos, raw))
            pos += len(raw)
            continue
        group = m.lastgroup
        assert group is not None
        raw = m.group()
        if group == "string":
            try:
                tokens.append(_Token("string", raw, pos, _unquote_string(raw)))
            except ValueError as exc:
                raise RuleSyntaxError(
                    text,
                    pos,
                    'a string with valid escapes (\\" \\\\ \\n \\t \\uXXXX ...)',
                    f"{raw!r} ({exc})",
                    source=source,
                ) from None
        elif group == "qname":
            value = re.sub(r"\\(.)", r"\1", raw[1:-1], flags=re.DOTALL)
            tokens.append(_Token("qname", raw, pos, value))
        elif group == "number":
            is_float = any(c in raw for c in ".eE")
            tokens.append(_Token("number", raw, pos, float(raw) if is_float else int(raw)))
        elif group != "space":
            tokens.append(_Token(group, raw, pos, raw))
        pos = m.end()
    # the end: right after the last token when new lines follow it (not on an empty line)
    last_end = tokens[-1].pos + len(tokens[-1].text) if tokens else 0
    end = last_end if "\n" in text[last_end:] else len(text)
    tokens.append(_Token("eof", "", end))
    return tokens


# --- text → AST ----------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, source: str | None) -> None:
        self.text = text
        self.source = source
        self.tokens = _tokenize(text, source)
        self.i = 0

    # helpers
    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> _Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        tok = self.tok
        if tok.kind != "eof":
            self.i += 1
        return tok

    def is_word(self, *words: str, token: _Token | None = None) -> bool:
        tok = token or self.tok
        return tok.kind == "name" and tok.text in words

    def is_op(self, *ops: str, token: _Token | None = None) -> bool:
        tok = token or self.tok
        return tok.kind == "op" and tok.text in ops

    def fail(self, expected: str, token: _Token | None = None) -> NoReturn:
        tok = token or self.tok
        if tok.kind == "eof":
            found = "the end of the rule"
        elif tok.kind == "string":
            found = f"the string {tok.text}"
        else:
            found = f"'{tok.text}'"
        raise RuleSyntaxError(self.text, tok.pos, expected, found, source=self.source)

    def expect_op(self, op: str, expected: str | None = None) -> _Token:
        if not self.is_op(op):
            self.fail(expected or f"'{op}'")
        return self.advance()

    def expect_word(self, word: str, expected: str | None = None) -> _Token:
        if not self.is_word(word):
            self.fail(expected or f"'{word}'")
        return self.advance()

    # rules
    def parse(self) -> Rule:
        if self.tok.kind == "eof":
            self.fail(_EXPECT_RULE)
        rule = self.parse_or()
        if self.tok.kind != "eof":
            if self.is_op(")"):
                self.fail("the end of the rule (this ')' has no matching '(')")
            self.fail("'and', 'or' or the end of the rule")
        return rule

    def parse_or(self) -> Rule:
        first = self.parse_and()
        if not self.is_word("or"):
            return first
        items = [first]
        while self.is_word("or"):
            self.advance()
            items.append(self.parse_and())
        return AnyOf(any=tuple(items))

    def parse_and(self) -> Rule:
        first = self.parse_unary()
        if not self.is_word("and"):
            return first
        items = [first]
        while self.is_word("and"):
            self.advance()
            items.append(self.parse_unary())
        return AllOf(all=tuple(items))

    def parse_unary(self) -> Rule:
        if self.is_word("not"):
            self.advance()
            return Not(rule=self.parse_unary())
        return self.parse_atom()

    def parse_atom(self) -> Rule:
        tok = self.tok
        if self.is_op("("):
            self.advance()
            rule = self.parse_or()
            self.expect_op(")", "')' or 'and', 'or'")
            return rule
        if self.is_word("true"):
            self.advance()
            return AllOf(all=())
        if self.is_word("false"):
            self.advance()
            return AnyOf(any=())
        if tok.kind == "name" and self.is_op("(", token=self.peek()):
            return self.parse_call()
        if tok.kind in ("name", "qname") and not self.is_word(*RESERVED):
            return self.parse_field_condition()
        self.fail(_EXPECT_RULE)

    def parse_call(self) -> Rule:
        name_tok = self.advance()
        name = name_tok.text
        self.advance()  # (
        if name in ("all", "any"):
            items: list[Rule] = []
            if not self.is_op(")"):
                items.append(self.parse_or())
                while self.is_op(","):
                    self.advance()
                    items.append(self.parse_or())
            self.expect_op(")", "',' or ')'")
            return AllOf(all=tuple(items)) if name == "all" else AnyOf(any=tuple(items))
        if name == "exists":
            link = self.parse_name("the name of a to-many link")
            where = self.parse_where()
            self.expect_op(")", "')'" if where is not None else "'where' or ')'")
            return LinkCondition(link=link, where=where)
        if name in AGGREGATES:
            return self.parse_aggregate(name)
        if name == "in_audience":
            if self.tok.kind != "string":
                self.fail('the name of a saved audience as a string, e.g. in_audience("vip")')
            audience = self.advance().value
            self.expect_op(")")
            return InAudience(audience=audience)
        if name == "history":
            return self.parse_history()
        self.fail(
            "a function among all, any, exists, count, sum, avg, min, max, in_audience, "
            "history (or a field followed by an operator)",
            name_tok,
        )

    def parse_name(self, expected: str) -> str:
        tok = self.tok
        if tok.kind == "qname" or (tok.kind == "name" and tok.text not in RESERVED):
            self.advance()
            return str(tok.value)
        self.fail(expected)

    def parse_path(self, expected: str = "a field") -> list[str]:
        segments = [self.parse_name(expected)]
        while self.is_op("."):
            self.advance()
            if self.tok.kind in ("name", "qname"):
                segments.append(str(self.advance().value))
            else:
                self.fail("a field name after '.'")
        return segments

    def parse_where(self) -> Rule | None:
        if self.is_word("where"):
            self.advance()
            return self.parse_or()
        return None

    def parse_aggregate(self, fn: str) -> Rule:
        link = self.parse_name(f"a to-many link, e.g. {fn}(bookings.amount)")
        fld: str | None = None
        star = False
        if self.is_op("."):
            self.advance()
            if fn == "count" and self.is_op("*"):
                self.advance()
                star = True
            else:
                fld = ".".join(self.parse_path("a field of the linked entity"))
        where = self.parse_where()
        self.expect_op(")", "')'" if where is not None else "'where' or ')'")
        op, value = self.parse_comparison(_EXPECT_COMPARE)
        if fn == "count" and fld is None and not star:
            return LinkCondition(link=link, where=where, count=Comparison(op=op, value=value))
        aggregate = Aggregate(fn=fn, field=fld, op=op, value=value)
        return LinkCondition(link=link, where=where, aggregate=aggregate)

    def parse_comparison(self, expected: str) -> tuple[str, Value]:
        tok = self.tok
        if tok.kind == "op" and tok.text in _COMPARE_SYMBOLS:
            self.advance()
            return _COMPARE_SYMBOLS[tok.text], self.parse_value()
        if self.is_word("between"):
            self.advance()
            return "between", self.parse_between()
        self.fail(expected)

    def parse_between(self) -> Value:
        """`between A and B`, or a whole value: `between (A, B)`, `between null`, `between A`."""
        if self.is_op("("):
            return self.parse_value()
        if self.is_word("null"):
            self.advance()
            return None
        low = self.parse_scalar("the low bound of 'between' (" + _SCALARS + ")")
        if not self.is_word("and"):
            return low
        self.advance()
        return (low, self.parse_scalar("the high bound of 'between' (" + _SCALARS + ")"))

    def parse_field_condition(self) -> Rule:
        start = self.tok
        path = ".".join(self.parse_path())
        tok = self.tok
        if (tok.kind == "op" and tok.text in _COMPARE_SYMBOLS) or self.is_word("between"):
            op, value = self.parse_comparison(_EXPECT_OP)
            return FieldCondition(field=path, op=op, value=value)
        if self.is_word("where"):
            self.fail(
                f"an operator; to test linked rows write exists({start.text} where ...), "
                f"count({start.text} where ...) >= N"
            )
        words = self.operator_words()
        if words is None:
            if tok.kind == "op" and tok.text == "(":
                self.fail(_EXPECT_OP + " (no such function)")
            self.fail(_EXPECT_OP)
        op = words
        if op in NULL_OPS:
            return FieldCondition(field=path, op=op)
        return FieldCondition(field=path, op=op, value=self.parse_value())

    def operator_words(self) -> str | None:
        """Consume a word operator (in, not in, is null, starts with...) and return its op."""
        if self.is_word("in", "contains", "like"):
            return str(self.advance().text)
        if self.is_word("not"):
            nxt = self.peek()
            if self.is_word("in", "contains", token=nxt):
                self.advance()
                return "not_" + self.advance().text
            self.advance()
            self.fail("'in' or 'contains' after 'not'")
        if self.is_word("is"):
            self.advance()
            if self.is_word("not"):
                self.advance()
                self.expect_word("null", "'null' after 'is not'")
                return "not_null"
            self.expect_word("null", "'null' or 'not null' after 'is'")
            return "is_null"
        if self.is_word("starts", "ends"):
            word = self.advance().text
            self.expect_word("with", f"'with' after '{word}'")
            return f"{word}_with"
        return None

    def parse_history(self) -> Rule:
        found: dict[str, Any] = {}
        if not self.is_op(")"):
            self.parse_history_item(found)
            while self.is_op(","):
                self.advance()
                self.parse_history_item(found)
        self.expect_op(")", "',' or ')'")
        return HistoryCondition(**found)

    def parse_history_item(self, found: dict[str, Any]) -> None:
        tok = self.tok
        if not self.is_word(*_HISTORY_KEYS):
            self.fail("channel =, event =, campaign =, since or until")
        if tok.text in found:
            self.fail(f"{', '.join(_HISTORY_KEYS)}, each at most once ('{tok.text}' repeats)")
        self.advance()
        if tok.text in ("since", "until"):
            if self.is_op("="):
                self.advance()
            value_tok = self.tok
            value = self.parse_value()
            if not isinstance(value, Relative | str):
                self.fail(
                    'today() - 7d, now() - 2h or an ISO timestamp "2026-03-01T09:00Z"', value_tok
                )
        else:
            self.expect_op("=", f"'=' after '{tok.text}'")
            value_tok = self.tok
            value = self.parse_value()
            if not isinstance(value, str):
                self.fail(f'a string, e.g. {tok.text} = "..."', value_tok)
        found[tok.text] = value

    # values
    def parse_value(self) -> Value:
        if self.is_op("("):
            self.advance()
            items: list[Scalar | Relative] = []
            if not self.is_op(")"):
                items.append(self.parse_scalar())
                while self.is_op(","):
                    self.advance()
                    items.append(self.parse_scalar())
            self.expect_op(")", "',' or ')'")
            return tuple(items)
        return self.parse_scalar_or_null()

    def parse_scalar_or_null(self) -> Scalar | Relative | None:
        if self.is_word("null"):
            self.advance()
            return None
        return self.parse_scalar(_EXPECT_VALUE)

    def parse_scalar(self, expected: str = _EXPECT_SCALAR) -> Scalar | Relative:
        tok = self.tok
        if tok.kind == "string":
            self.advance()
            return str(tok.value)
        if tok.kind == "number":
            self.advance()
            return tok.value  # type: ignore[no-any-return]
        if self.is_op("-") and self.peek().kind == "number":
            self.advance()
            return -self.advance().value  # type: ignore[no-any-return]
        if self.is_word("true", "false"):
            self.advance()
            return tok.text == "true"
        if self.is_word("today", "now") and self.is_op("(", token=self.peek()):
            return self.parse_relative()
        if tok.kind == "duration":
            self.fail(f"a time: today() - {tok.text} (ago) or today() + {tok.text} (ahead)")
        self.fail(expected)

    def parse_relative(self) -> Relative:
        base = self.advance().text
        self.advance()  # (
        self.expect_op(")", f"')' after '{base}('")
        if not self.is_op("+", "-"):
            return Relative(direction="ahead", amount=0, unit="d" if base == "today" else "m")
        direction = "ahead" if self.advance().text == "+" else "ago"
        tok = self.tok
        if tok.kind != "duration":
            self.fail("a duration: a number and a unit among m, h, d, w, mo, y (e.g. 30d)")
        self.advance()
        m = re.fullmatch(r"(\d+)(\w+)", tok.text)
        assert m is not None
        return Relative(direction=direction, amount=int(m.group(1)), unit=m.group(2))  # type: ignore[arg-type]


def parse_text(text: str, *, source: str | None = None) -> Rule:
    """Parse the text form of a rule into the AST; RuleSyntaxError names line and column."""
    parser = _Parser(text, source)
    try:
        return parser.parse()
    except RecursionError:
        raise RuleSyntaxError(
            text, parser.tok.pos, "a rule nested less deeply", "too many levels", source=source
        ) from None


# --- AST → text ----------------------------------------------------------------------------

_PLAIN_NAME = re.compile(r"[^\W\d]\w*")


def _name(segment: str) -> str:
    if _PLAIN_NAME.fullmatch(segment) and segment not in RESERVED:
        return segment
    return "`" + segment.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _path(path: str) -> str:
    return ".".join(_name(part) for part in path.split("."))


def _scalar(value: Scalar | Relative | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Relative):
        if value.direction == "ahead" and value.amount == 0 and value.unit in ("d", "m"):
            return "today()" if value.unit == "d" else "now()"
        base = "today()" if value.unit in _DATE_UNITS else "now()"
        sign = "+" if value.direction == "ahead" else "-"
        return f"{base} {sign} {value.amount}{value.unit}"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no text form (rules hold finite numbers only)")
        return repr(value)
    return str(value)


def _value(value: Value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_scalar(v) for v in value) + ")"
    return _scalar(value)


def _comparison(op: str, value: Value) -> str:
    """`OP VALUE` (or `between A and B`); raises for ops a comparison cannot hold."""
    if op == "between" and isinstance(value, tuple) and len(value) == 2:
        return f"between {_scalar(value[0])} and {_scalar(value[1])}"
    if op == "between":
        return f"between {_value(value)}"
    if op not in COMPARE_OPS:
        raise ValueError(f"unknown comparison op {op!r}")
    return f"{SYMBOLS[op]} {_value(value)}"


def _loose_between(rule: Rule) -> bool:
    """A `between` whose value is a single scalar: wrapped in () so a following 'and' stays out."""
    if isinstance(rule, FieldCondition):
        op, value = rule.op, rule.value
    elif isinstance(rule, LinkCondition) and (rule.count or rule.aggregate):
        comparison = rule.count or rule.aggregate
        assert comparison is not None
        op, value = comparison.op, comparison.value
    else:
        return False
    return op == "between" and not isinstance(value, tuple)


def _group(rule: Rule) -> bool:
    """Whether `rule` prints as an infix and/or chain (needs () inside another one or `not`)."""
    return (isinstance(rule, AllOf) and len(rule.all) > 1) or (
        isinstance(rule, AnyOf) and len(rule.any) > 1
    )


def _operand(rule: Rule) -> str:
    text = format_rule(rule)
    return f"({text})" if _group(rule) else text


def format_rule(rule: Rule) -> str:
    """The text form of `rule`, on one line; `parse_text` gives the same AST back."""
    if isinstance(rule, AllOf | AnyOf):
        items = rule.all if isinstance(rule, AllOf) else rule.any
        word = "and" if isinstance(rule, AllOf) else "or"
        if not items:
            return "true" if isinstance(rule, AllOf) else "false"
        if len(items) == 1:
            return f"{'all' if word == 'and' else 'any'}({format_rule(items[0])})"
        return f" {word} ".join(_operand(item) for item in items)
    if isinstance(rule, Not):
        return f"not {_operand(rule.rule)}"
    text = _format_atom(rule)
    return f"({text})" if _loose_between(rule) else text


def _format_atom(rule: Rule) -> str:
    if isinstance(rule, FieldCondition):
        if rule.op not in OPS:
            raise ValueError(f"unknown op {rule.op!r}")
        if rule.op in NULL_OPS:
            return f"{_path(rule.field)} {SYMBOLS[rule.op]}"
        if rule.op in (*COMPARE_OPS, "between"):
            return f"{_path(rule.field)} {_comparison(rule.op, rule.value)}"
        return f"{_path(rule.field)} {SYMBOLS[rule.op]} {_value(rule.value)}"
    if isinstance(rule, LinkCondition):
        where = f" where {format_rule(rule.where)}" if rule.where is not None else ""
        link = _name(rule.link)
        if rule.count is not None and rule.aggregate is not None:
            raise ValueError("a link condition holds either count or aggregate, not both")
        if rule.count is not None:
            return f"count({link}{where}) {_comparison(rule.count.op, rule.count.value)}"
        if rule.aggregate is not None:
            agg = rule.aggregate
            if agg.fn not in AGGREGATES:
                raise ValueError(f"unknown aggregate {agg.fn!r}")
            if agg.field is not None:
                target = f"{link}.{_path(agg.field)}"
            else:
                target = f"{link}.*" if agg.fn == "count" else link
            return f"{agg.fn}({target}{where}) {_comparison(agg.op, agg.value)}"
        return f"exists({link}{where})"
    if isinstance(rule, InAudience):
        return f"in_audience({_scalar(rule.audience)})"
    if isinstance(rule, HistoryCondition):
        parts = [
            f"{key} = {_scalar(getattr(rule, key))}"
            for key in ("channel", "event", "campaign")
            if getattr(rule, key) is not None
        ]
        parts += [
            f"{key} {_scalar(getattr(rule, key))}"
            for key in ("since", "until")
            if getattr(rule, key) is not None
        ]
        return f"history({', '.join(parts)})"
    raise TypeError(f"not a rule: {rule!r}")


# --- the CLI's --rule ----------------------------------------------------------------------


def _from_json(text: str, source: str | None) -> Rule:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        found = repr(text[exc.pos]) if exc.pos < len(text) else "the end of the text"
        raise RuleSyntaxError(
            text, exc.pos, f"valid JSON ({exc.msg})", found, source=source
        ) from None
    return parse_rule(data)


def rule_from_text(text: str, source: str | None = None) -> Rule:
    """A rule written out: JSON when it starts with `{`, else the text form."""
    if text.lstrip().startswith("{"):
        return _from_json(text, source)
    return parse_text(text, source=source)


_from_source = rule_from_text


def load_rule(arg: str, stdin: TextIO) -> Rule:
    """The rule given to `--rule`: `-` (stdin), a file (.json: JSON, else text), or inline.

    Content that starts with `{` is JSON, anything else the text form, wherever it comes from
    (a `.json` file is always JSON).
    """
    if arg == "-":
        return _from_source(stdin.read(), "<stdin>")
    try:
        is_file = Path(arg).is_file()
    except (OSError, ValueError):  # not a possible path (too long, NUL...): inline rule
        is_file = False
    if not is_file:
        return _from_source(arg, None)
    try:
        text = Path(arg).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CantataError(f"cannot read the rule: {exc}", where=arg) from None
    if arg.lower().endswith(".json"):
        return _from_json(text, arg)
    return _from_source(text, arg)
