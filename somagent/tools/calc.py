"""``calc``: exact arithmetic over rationals, with a safe parser (no ``eval``).

Grammar (recursive descent; ``^`` and ``**`` are the same right-associative power)::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := ("-" | "+") unary | power
    power  := atom (("^" | "**") unary)?
    atom   := NUMBER | "(" expr ")"
    NUMBER := digits ["." digits] | "." digits

So ``-2^2 = -4`` and ``2^-1 = 1/2``. Decimals are read exactly
(``0.1`` is ``1/10``). Exponents must be integers with ``|e| <=``
:data:`MAX_EXPONENT`, and every intermediate value must stay under
:data:`MAX_DIGITS` digits, so no input can exhaust memory or time.

The result is the exact fraction (``"1/3"``, or ``"2"`` for integers) and a
decimal rendering to :data:`DECIMAL_PLACES` places, flagged ``decimal_exact``
when the decimal expansion terminates within them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

from somagent.tools.exceptions import CalcError
from somagent.tools.spec import Tool, ToolContext, ToolSpec

MAX_LENGTH: Final = 2_000
MAX_DEPTH: Final = 100
MAX_EXPONENT: Final = 10_000
MAX_DIGITS: Final = 4_000  # below Python's 4300-digit int→str limit
_MAX_BITS: Final = int(MAX_DIGITS * 3.3219280948873626) + 1  # log2(10) bits per digit
DECIMAL_PLACES: Final = 30

_TOKEN_RE = re.compile(r"(?:(\d+\.\d*|\.\d+|\d+)|(\*\*|[-+*/^()]))")
_SPACES_RE = re.compile(r"\s*")


@dataclass(frozen=True)
class Token:
    kind: str  # "num", "op" or "end"
    text: str
    pos: int


def _skip_spaces(text: str, pos: int) -> int:
    m = _SPACES_RE.match(text, pos)
    return m.end() if m else pos


def tokenize(expression: str) -> list[Token]:
    """Tokens of ``expression`` in one pass (linear time); raises :class:`CalcError`
    at the first bad character."""
    if len(expression) > MAX_LENGTH:
        raise CalcError(f"expression is {len(expression)} characters; the limit is {MAX_LENGTH}")
    tokens: list[Token] = []
    pos = _skip_spaces(expression, 0)
    while pos < len(expression):
        m = _TOKEN_RE.match(expression, pos)
        if m is None:
            raise CalcError(f"unexpected character {expression[pos]!r} at position {pos}")
        start = m.start(1) if m.group(1) else m.start(2)
        tokens.append(Token("num" if m.group(1) else "op", m.group(1) or m.group(2), start))
        pos = _skip_spaces(expression, m.end())
    tokens.append(Token("end", "", len(expression)))
    return tokens


def _check_size(value: Fraction, pos: int) -> Fraction:
    bits = max(abs(value.numerator).bit_length(), value.denominator.bit_length())
    if bits > _MAX_BITS:
        raise CalcError(f"intermediate result near position {pos} exceeds {MAX_DIGITS} digits")
    return value


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self, *ops: str) -> Token | None:
        if self.tok.kind == "op" and self.tok.text in ops:
            self.i += 1
            return self.tokens[self.i - 1]
        return None

    def parse(self) -> Fraction:
        if self.tok.kind == "end":
            raise CalcError("expression is empty")
        value = self.expr()
        if self.tok.kind != "end":
            raise CalcError(f"unexpected {self.tok.text!r} at position {self.tok.pos}")
        return value

    def expr(self) -> Fraction:
        value = self.term()
        while (op := self.take("+", "-")) is not None:
            rhs = self.term()
            value = _check_size(value + rhs if op.text == "+" else value - rhs, op.pos)
        return value

    def term(self) -> Fraction:
        value = self.unary()
        while (op := self.take("*", "/")) is not None:
            rhs = self.unary()
            if op.text == "/":
                if rhs == 0:
                    raise CalcError(f"division by zero at position {op.pos}")
                value = value / rhs
            else:
                value = value * rhs
            _check_size(value, op.pos)
        return value

    def unary(self) -> Fraction:
        if (op := self.take("-", "+")) is not None:
            self._enter(op.pos)
            inner = self.unary()
            self.depth -= 1
            return -inner if op.text == "-" else inner
        return self.power()

    def power(self) -> Fraction:
        base = self.atom()
        op = self.take("^", "**")
        if op is None:
            return base
        exponent = self.unary()
        if exponent.denominator != 1:
            raise CalcError(f"exponent {exponent} at position {op.pos} is not an integer")
        if abs(exponent) > MAX_EXPONENT:
            raise CalcError(f"exponent {exponent} at position {op.pos} exceeds ±{MAX_EXPONENT}")
        if base == 0 and exponent < 0:
            raise CalcError(f"zero raised to a negative power at position {op.pos}")
        bits = max(abs(base.numerator).bit_length(), base.denominator.bit_length())
        if (bits - 1) * abs(int(exponent)) > _MAX_BITS:  # a lower bound of the result's size
            raise CalcError(f"power at position {op.pos} exceeds {MAX_DIGITS} digits")
        return _check_size(base ** int(exponent), op.pos)

    def atom(self) -> Fraction:
        tok = self.tok
        if tok.kind == "num":
            self.i += 1
            return Fraction(tok.text)
        if self.take("(") is not None:
            self._enter(tok.pos)
            value = self.expr()
            if self.take(")") is None:
                raise CalcError(f"missing ')' for '(' at position {tok.pos}")
            self.depth -= 1
            return value
        if tok.kind == "end":
            raise CalcError("expression ends where a number or '(' was expected")
        raise CalcError(f"unexpected {tok.text!r} at position {tok.pos}")

    def _enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise CalcError(f"nesting deeper than {MAX_DEPTH} at position {pos}")


def evaluate(expression: str) -> Fraction:
    """The exact value of ``expression``; raises :class:`CalcError` with the position."""
    return _Parser(tokenize(expression)).parse()


def to_decimal(value: Fraction, places: int = DECIMAL_PLACES) -> tuple[str, bool]:
    """``value`` rounded half-even to ``places`` decimals, trailing zeros trimmed,
    and whether that rendering is exact."""
    sign = "-" if value < 0 else ""
    scaled = abs(value) * 10**places
    q, r = divmod(scaled.numerator, scaled.denominator)
    twice = 2 * r
    if twice > scaled.denominator or (twice == scaled.denominator and q % 2 == 1):
        q += 1
    exact = r == 0
    whole, frac = divmod(q, 10**places)
    digits = str(frac).rjust(places, "0").rstrip("0")
    text = f"{whole}.{digits}" if digits else str(whole)
    if text == "0":
        sign = ""
    return sign + text, exact


def calculate(expression: str) -> dict[str, Any]:
    """The ``calc`` result document for ``expression``."""
    value = evaluate(expression)
    decimal, exact = to_decimal(value)
    return {
        "expression": " ".join(expression.split()),
        "value": str(value),
        "numerator": str(value.numerator),
        "denominator": str(value.denominator),
        "decimal": decimal,
        "decimal_exact": exact,
    }


ARGS_SCHEMA: Final = {
    "type": "object",
    "additionalProperties": False,
    "required": ["expression"],
    "properties": {
        "expression": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_LENGTH,
            "description": "Arithmetic with + - * / ^ and parentheses, e.g. (1/3 + 1/6) * 3",
            "x-somagent-extract": "arithmetic",
        }
    },
}

RESULT_SCHEMA: Final = {
    "type": "object",
    "additionalProperties": False,
    "required": ["expression", "value", "numerator", "denominator", "decimal", "decimal_exact"],
    "properties": {
        "expression": {"type": "string"},
        "value": {"type": "string", "pattern": r"^-?\d+(/\d+)?$"},
        "numerator": {"type": "string", "pattern": r"^-?\d+$"},
        "denominator": {"type": "string", "pattern": r"^[1-9]\d*$"},
        "decimal": {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"},
        "decimal_exact": {"type": "boolean"},
    },
}

SPEC: Final = ToolSpec(
    name="calc",
    description="Exact arithmetic calculator over rational numbers: add, subtract, multiply, "
    "divide, integer powers, parentheses and decimals; compute the value of an expression.",
    args_schema=ARGS_SCHEMA,
    result_schema=RESULT_SCHEMA,
    side_effect=False,
    timeout_s=2.0,
    rate_class="cheap",
    idempotent=True,
)


async def run_calc(arguments: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """Executor of ``calc``: the pure computation runs in a worker thread, so even the
    largest expression allowed (bounded: length, depth, digits) never holds up the
    event loop that serves other turns, and the broker's timeout stays enforceable."""
    return await asyncio.to_thread(calculate, str(arguments["expression"]))


def calc_tool() -> Tool:
    return Tool(SPEC, run_calc)
