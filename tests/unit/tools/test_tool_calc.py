"""calc: exact rational arithmetic, checked against Python's Fraction."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from somagent.tools.calc import SPEC, calculate, evaluate, run_calc, to_decimal
from somagent.tools.exceptions import CalcError
from somagent.tools.spec import ToolContext
from somagent.tools.validation import errors


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("1/3 + 1/6", Fraction(1, 2)),
        ("(1/3 + 1/6) * 3", Fraction(3, 2)),
        ("-2^2", Fraction(-4)),
        ("(-2)^2", Fraction(4)),
        ("2^-1", Fraction(1, 2)),
        ("2^3^2", Fraction(512)),
        ("2**10", Fraction(1024)),
        ("0.1 + 0.2", Fraction(3, 10)),
        (".5 * 4", Fraction(2)),
        ("--3", Fraction(3)),
        ("7 - -2", Fraction(9)),
        ("1 - 2 - 3", Fraction(-4)),
        ("12 / 4 / 3", Fraction(1)),
        ("(2/3)^-2", Fraction(9, 4)),
        ("2^64", Fraction(2**64)),
    ],
)
def test_values(expr: str, value: Fraction) -> None:
    assert evaluate(expr) == value


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("1/0", "division by zero at position 1"),
        ("2^(1/2)", "not an integer"),
        ("1 +", "ends where a number"),
        ("(1 + 2", "missing ')'"),
        ("1 + 2)", "unexpected ')' at position 5"),
        ("2 3", "unexpected '3' at position 2"),
        ("__import__('os')", "unexpected character '_' at position 0"),
        ("2 ^ 100000", "exceeds ±10000"),
        ("10^3000 * 10^3000", "exceeds 4000 digits"),
        ("7^10000", "exceeds 4000 digits"),
        ("0^-1", "zero raised to a negative power"),
        ("", "empty"),
        ("(" * 150 + "1" + ")" * 150, "nesting deeper than 100"),
    ],
)
def test_errors_are_clear(expr: str, message: str) -> None:
    with pytest.raises(CalcError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        evaluate(expr)
    assert info.value.code == "bad-input"


def test_decimal_rendering() -> None:
    assert to_decimal(Fraction(1, 3), 5) == ("0.33333", False)
    assert to_decimal(Fraction(2, 3), 5) == ("0.66667", False)
    assert to_decimal(Fraction(-1, 8)) == ("-0.125", True)
    assert to_decimal(Fraction(5)) == ("5", True)
    assert to_decimal(Fraction(-1, 10**40)) == ("0", False)


def test_result_matches_schema() -> None:
    out = asyncio.run(run_calc({"expression": " 1/3 +  1/6 "}, ToolContext("t", 1.0)))
    assert out == {
        "expression": "1/3 + 1/6",
        "value": "1/2",
        "numerator": "1",
        "denominator": "2",
        "decimal": "0.5",
        "decimal_exact": True,
    }
    assert errors(SPEC.result_schema, out) == []
    assert errors(SPEC.result_schema, calculate("-1/3")) == []


small = st.fractions(min_value=-1000, max_value=1000, max_denominator=1000)


@given(small, small, st.sampled_from(["+", "-", "*", "/"]))
def test_binary_ops_agree_with_fraction(a: Fraction, b: Fraction, op: str) -> None:
    expr = f"({a.numerator}/{a.denominator}) {op} ({b.numerator}/{b.denominator})"
    if op == "/" and b == 0:
        with pytest.raises(CalcError):
            evaluate(expr)
        return
    expected = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else None}[op]
    assert evaluate(expr) == expected


@given(small, st.integers(-20, 20))
def test_powers_agree_with_fraction(a: Fraction, e: int) -> None:
    expr = f"({a.numerator}/{a.denominator})^({e})"
    if a == 0 and e < 0:
        with pytest.raises(CalcError):
            evaluate(expr)
    else:
        assert evaluate(expr) == a**e


@given(st.text(max_size=30))
def test_arbitrary_text_never_escapes(text: str) -> None:
    """Any text either evaluates to a Fraction or raises CalcError; nothing else."""
    try:
        value = evaluate(text)
    except CalcError:
        return
    assert isinstance(value, Fraction)
