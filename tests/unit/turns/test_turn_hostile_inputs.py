"""The linear-time rewrites give what the quadratic originals gave, and hostile inputs
are handled. Growth with input size is measured by ``bench/hostile_inputs.py``
(timings are never asserted here)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from somagent.tools.calc import CalcError, tokenize
from somagent.turns.pii import EMAIL_RE, redact
from somagent.turns.planner import DeterministicPlanner, extract_arithmetic, trim_brackets
from somagent.turns.verify import CITATION_RE, cited_ids

# -- the originals, kept as references -------------------------------------------------


def _balanced_ref(expr: str) -> bool:
    depth = 0
    for ch in expr:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _trim_ref(expr: str) -> str:
    """The planner's bracket stripping before the fix (quadratic)."""
    while expr and not _balanced_ref(expr) and expr[0] in "()":
        expr = expr[1:].strip()
    while expr and not _balanced_ref(expr) and expr[-1] in "()":
        expr = expr[:-1].strip()
    return expr


_EMAIL_REF = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CITATION_REF = re.compile(r"\[(mem|tool):([^\]\s]+)\]")
_CALC_TOKEN_REF = re.compile(r"\s*(?:(\d+\.\d*|\.\d+|\d+)|(\*\*|[-+*/^()]))")


def _tokenize_ref(expression: str) -> list[tuple[str, str, int]]:
    """calc's tokenizer before the fix (``expression[pos:].strip()`` per token)."""
    tokens = []
    pos = 0
    while pos < len(expression):
        if expression[pos:].strip() == "":
            break
        m = _CALC_TOKEN_REF.match(expression, pos)
        if m is None:
            at = len(expression) - len(expression[pos:].lstrip())
            raise CalcError(f"unexpected character at position {at}")
        start = m.start(1) if m.group(1) else m.start(2)
        tokens.append(("num" if m.group(1) else "op", m.group(1) or m.group(2), start))
        pos = m.end()
    return tokens


# -- equivalence -----------------------------------------------------------------------

BRACKETY = st.text(alphabet="((()) 1+.*-", max_size=40).map(lambda s: " ".join(s.split()))


@settings(max_examples=600)
@given(BRACKETY)
def test_trim_brackets_equals_the_quadratic_original(expr: str) -> None:
    assert trim_brackets(expr) == _trim_ref(expr)


@settings(max_examples=300)
@given(st.text(alphabet="((()) 12+.*-^/x\n", max_size=60))
def test_extract_arithmetic_finds_what_the_original_found(text: str) -> None:
    planner_ref = []
    for m in re.finditer(r"[\d\s.+\-*/^()]+", text):
        expr = _trim_ref(" ".join(m.group(0).split()).strip(" ."))
        if expr and _balanced_ref(expr) and re.search(
            r"[\d.)]\s*(?:\*\*|[-+*/^])\s*[-+(]*\s*[\d.(]", expr
        ):
            planner_ref.append((-len(expr), m.start(), expr))
    assert extract_arithmetic(text) == list(dict.fromkeys(e for _, _, e in sorted(planner_ref)))


@settings(max_examples=400)
@given(st.text(alphabet="ab1._-+%@ .cx", max_size=50))
def test_email_redaction_covers_every_match_of_the_original(text: str) -> None:
    spans = [m.span() for m in EMAIL_RE.finditer(text)]
    for m in _EMAIL_REF.finditer(text):
        assert any(s <= m.start() and m.end() <= e for s, e in spans), (m.group(0), spans)


@settings(max_examples=400)
@given(st.text(alphabet="[]memtool:ab1 ", max_size=50))
def test_citations_without_brackets_in_ids_read_as_before(text: str) -> None:
    ref = [(k, r) for k, r in _CITATION_REF.findall(text) if "[" not in r]
    assert CITATION_RE.findall(text) == ref


@settings(max_examples=400)
@given(st.text(alphabet="12.+-*/^() \tx", max_size=40))
def test_calc_tokenizer_equals_the_original(expression: str) -> None:
    try:
        expected = _tokenize_ref(expression)
    except CalcError as exc:
        try:
            tokenize(expression)
        except CalcError as mine:
            assert str(exc).split("position")[-1] == str(mine).split("position")[-1]
            return
        raise AssertionError(f"{expression!r} should be refused") from None
    got = [(t.kind, t.text, t.pos) for t in tokenize(expression)]
    assert got == [*expected, ("end", "", len(expression))]


# -- hostile inputs end with the right result ------------------------------------------


def test_the_reported_hostile_turn_plans_its_one_expression() -> None:
    text = "(" * 32_765 + "1+1"
    assert extract_arithmetic(text) == ["1+1"]
    assert extract_arithmetic("1+1" + ")" * 32_765) == ["1+1"]
    assert extract_arithmetic("(" * 16_000 + "2*3)") == ["(2*3)"]


def test_hostile_text_for_the_other_patterns() -> None:
    assert redact("a." * 20_000) == "a." * 20_000
    assert redact("x_y@example.com") == "[redacted]"
    assert cited_ids("[mem:" * 10_000) == []
    planner = DeterministicPlanner()
    answer = planner.compose_answer("q", [], [])
    assert answer.text
    assert planner.make_plan("```a\n" * 6_000, []).calls == ()
