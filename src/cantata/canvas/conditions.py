"""The conditions of a test activity's branches: counts of upstream transitions and variables.

    count(split1.gold) > 100
    count(stays) >= 1 and vars.send_reminder = true
    not (vars.market = "FR" or vars.market = "BE")
    vars.send_reminder

Grammar:

    cond     := or
    or       := and ("or" and)*
    and      := unary ("and" unary)*
    unary    := "not" unary | "(" cond ")" | operand [OP operand]     OP: = == != <> < <= > >=
    operand  := "count" "(" NODE ["." PORT] ")" | "vars" "." NAME
              | NUMBER | "-" NUMBER | STRING | true | false

A bare operand is a boolean test (`vars.flag` means `vars.flag = true`). `count(node)` is the
count on the node's `out` port.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeAlias

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+(?:\.\d+)?)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>==|!=|<>|<=|>=|=|<|>|\(|\)|\.|-)
    )""",
    re.VERBOSE,
)
OPERATORS = {"=": "eq", "==": "eq", "!=": "ne", "<>": "ne", "<": "lt", "<=": "lte"}
OPERATORS |= {">": "gt", ">=": "gte"}
_COMPARE = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


@dataclass(frozen=True)
class Count:
    node: str
    port: str | None = None

    @property
    def text(self) -> str:
        return f"count({self.node}{'.' + self.port if self.port else ''})"


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Literal:
    value: int | float | str | bool


Operand: TypeAlias = Count | Var | Literal


@dataclass(frozen=True)
class Compare:
    left: Operand
    op: str  # eq ne lt lte gt gte
    right: Operand


@dataclass(frozen=True)
class And:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition: TypeAlias = Compare | And | Or | Not


class ConditionSyntaxError(ValueError):
    def __init__(self, text: str, column: int, expected: str, found: str) -> None:
        self.column = column
        super().__init__(
            f"column {column}: expected {expected}, found {found}\n  {text}\n  {' ' * (column - 1)}^"
        )


@dataclass(frozen=True)
class _Tok:
    kind: str  # number string name op end
    text: str
    pos: int


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            start = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise ConditionSyntaxError(text, start + 1, "a condition", repr(text[start]))
        out.append(_Tok(m.lastgroup, m.group(m.lastgroup), m.start(m.lastgroup)))
        pos = m.end()
    out.append(_Tok("end", "", len(text)))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def fail(self, expected: str) -> ConditionSyntaxError:
        found = "the end" if self.tok.kind == "end" else repr(self.tok.text)
        return ConditionSyntaxError(self.text, self.tok.pos + 1, expected, found)

    def take(self, kind: str, text: str | None = None) -> _Tok | None:
        tok = self.tok
        if tok.kind == kind and (text is None or tok.text == text):
            self.i += 1
            return tok
        return None

    def expect(self, kind: str, text: str, expected: str) -> None:
        if self.take(kind, text) is None:
            raise self.fail(expected)

    def parse(self) -> Condition:
        cond = self.parse_or()
        if self.tok.kind != "end":
            raise self.fail("and, or, or the end of the condition")
        return cond

    def parse_or(self) -> Condition:
        items = [self.parse_and()]
        while self.take("name", "or"):
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Condition:
        items = [self.parse_unary()]
        while self.take("name", "and"):
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_unary(self) -> Condition:
        if self.take("name", "not"):
            return Not(self.parse_unary())
        if self.take("op", "("):
            inner = self.parse_or()
            self.expect("op", ")", "')'")
            return inner
        left = self.parse_operand()
        if self.tok.kind == "op" and self.tok.text in OPERATORS:
            op = OPERATORS[self.tok.text]
            self.i += 1
            return Compare(left, op, self.parse_operand())
        return Compare(left, "eq", Literal(True))

    def parse_operand(self) -> Operand:
        expected = 'count(node.port), vars.NAME, a number, a "string", true or false'
        if self.take("name", "count"):
            self.expect("op", "(", "'(' after count")
            node = self.take("name")
            if node is None:
                raise self.fail("a node id")
            port = None
            if self.take("op", "."):
                port_tok = self.take("name")
                if port_tok is None:
                    raise self.fail("a port name")
                port = port_tok.text
            self.expect("op", ")", "')'")
            return Count(node.text, port)
        if self.take("name", "vars"):
            self.expect("op", ".", "'.' after vars")
            name = self.take("name")
            if name is None:
                raise self.fail("a variable name")
            return Var(name.text)
        negative = self.take("op", "-") is not None
        number = self.take("number")
        if number is not None:
            value: int | float = float(number.text) if "." in number.text else int(number.text)
            return Literal(-value if negative else value)
        if negative:
            raise self.fail("a number")
        string = self.take("string")
        if string is not None:
            return Literal(re.sub(r"\\(.)", r"\1", string.text[1:-1]))
        for word, value_ in (("true", True), ("false", False)):
            if self.take("name", word):
                return Literal(value_)
        raise self.fail(expected)


def parse_condition(text: str) -> Condition:
    """The AST of a branch condition; ConditionSyntaxError names the column."""
    return _Parser(text).parse()


def operands(cond: Condition) -> list[Operand]:
    """Every operand of the condition, in reading order."""
    if isinstance(cond, Compare):
        return [cond.left, cond.right]
    if isinstance(cond, Not):
        return operands(cond.item)
    return [o for item in cond.items for o in operands(item)]


def evaluate_condition(
    cond: Condition, counts: Mapping[str, int], variables: Mapping[str, Any]
) -> bool:
    """Evaluate with transition counts (by `node.port`) and the run's variables."""
    if isinstance(cond, And):
        return all(evaluate_condition(c, counts, variables) for c in cond.items)
    if isinstance(cond, Or):
        return any(evaluate_condition(c, counts, variables) for c in cond.items)
    if isinstance(cond, Not):
        return not evaluate_condition(cond.item, counts, variables)
    left, right = _value(cond.left, counts, variables), _value(cond.right, counts, variables)
    if isinstance(left, date | datetime) and isinstance(right, str):
        right = type(left).fromisoformat(right)
    if isinstance(right, date | datetime) and isinstance(left, str):
        left = type(right).fromisoformat(left)
    if isinstance(left, Decimal) and isinstance(right, float):
        right = Decimal(str(right))
    if isinstance(right, Decimal) and isinstance(left, float):
        left = Decimal(str(left))
    if cond.op not in ("eq", "ne") and (left is None or right is None):
        return False  # an unset variable is neither more nor less than anything
    return bool(_COMPARE[cond.op](left, right))


def _value(operand: Operand, counts: Mapping[str, int], variables: Mapping[str, Any]) -> Any:
    if isinstance(operand, Count):
        return counts[f"{operand.node}.{operand.port or 'out'}"]
    if isinstance(operand, Var):
        return variables.get(operand.name)
    return operand.value
