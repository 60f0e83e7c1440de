"""Test-activity conditions: counts of upstream transitions and variables."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from cantata.canvas.conditions import (
    And,
    Compare,
    ConditionSyntaxError,
    Count,
    Literal,
    Not,
    Or,
    Var,
    evaluate_condition,
    parse_condition,
)


def test_parse_counts_variables_and_literals() -> None:
    assert parse_condition("count(split1.gold) > 100") == Compare(
        Count("split1", "gold"), "gt", Literal(100)
    )
    assert parse_condition('vars.market != "FR"') == Compare(Var("market"), "ne", Literal("FR"))
    assert parse_condition("count(stays) >= -1.5") == Compare(Count("stays"), "gte", Literal(-1.5))


def test_parse_boolean_structure_with_precedence() -> None:
    cond = parse_condition("not vars.a or count(x) = 0 and (vars.b or vars.c)")
    assert cond == Or(
        (
            Not(Compare(Var("a"), "eq", Literal(True))),
            And(
                (
                    Compare(Count("x"), "eq", Literal(0)),
                    Or(
                        (
                            Compare(Var("b"), "eq", Literal(True)),
                            Compare(Var("c"), "eq", Literal(True)),
                        )
                    ),
                )
            ),
        )
    )


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("count(a.b > 1", 11, "')'"),
        ("count(a) >", 11, "count(node.port)"),
        ("vars.", 6, "a variable name"),
        ("count(a) > 1 1", 14, "and, or"),
        ("count(a) # 1", 10, "a condition"),
        ("", 1, "count(node.port)"),
    ],
)
def test_syntax_errors_name_the_column(text: str, column: int, expected: str) -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        parse_condition(text)
    assert info.value.column == column
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("text", "result"),
    [
        ("count(split1.gold) > 100", True),
        ("count(split1.gold) > 150", False),
        ("count(stays) = 0", True),  # count(node) is node.out
        ("vars.send and vars.market = 'FR'", True),
        ("not vars.send", False),
        ("vars.budget >= 99.5", True),
        ('vars.launch <= "2026-04-01"', True),
        ("vars.unset > 3", False),
        ("vars.unset = 3", False),
    ],
)
def test_evaluate(text: str, result: bool) -> None:
    counts = {"split1.gold": 120, "stays.out": 0}
    variables: dict[str, Any] = {
        "send": True,
        "market": "FR",
        "budget": Decimal("100.00"),
        "launch": date(2026, 3, 1),
        "unset": None,
    }
    assert evaluate_condition(parse_condition(text), counts, variables) is result
