"""The ``Planner`` interface and the built-in deterministic planner (pure).

:class:`DeterministicPlanner` is **not a language model**. It is a small set
of rules, honestly named, that gives the platform a planner with no external
dependency and fully reproducible output:

* **plan** – for each allowed tool it tries to fill every *required* argument
  from the input text with an extractor chosen by the argument schema
  (``"x-somagent-extract"`` on the property, else the property name):
  ``arithmetic`` (the longest arithmetic expression, one call per expression),
  ``code`` (a fenced code block), ``sql`` (a fenced ``sql`` block or a
  ``SELECT``/``WITH`` statement), ``text`` (the whole input). Tools whose
  arguments are only ``text`` are chosen when the input shares a content word
  with the tool's description. Same input, same tools → same plan.
* **answer** – one line per successful tool result and per top evidence
  block, each followed by its citation (``[tool:<call_id>]``, ``[mem:<id>]``);
  quoted content has PII redacted and citation-like markers neutralised.

Token usage for billing is counted with an injected tokenizer (``count_tokens``):
the input text as prompt tokens when planning, the answer text as completion
tokens when answering.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Final, Protocol, runtime_checkable

from somagent.turns.pii import redact
from somagent.turns.state import Answer, Evidence, Plan, TokenUsage, ToolCall, ToolResult
from somagent.turns.verify import CITATION_RE

EXTRACT_KEY: Final = "x-somagent-extract"
MAX_CALLS_PER_TOOL: Final = 4
MAX_QUOTE_CHARS: Final = 240
MAX_EVIDENCE_LINES: Final = 3


@runtime_checkable
class ToolDescription(Protocol):
    """What a planner needs to know about a tool; ``ToolSpec`` satisfies it."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def args_schema(self) -> Mapping[str, Any]: ...


class Planner(Protocol):
    """Chooses tool calls for a turn and composes its answer.

    Implementations: :class:`DeterministicPlanner` (this module, pure) and the
    OpenAI-compatible provider in ``somagent.planners.openai_compat``.
    ``plan`` must number calls 0..n-1; ``answer`` must cite only the evidence
    and successful tool results it was given.
    """

    @property
    def name(self) -> str: ...

    @property
    def local(self) -> bool:
        """True when ``plan`` and ``answer`` do no I/O and give the same result for the
        same input (the engine may then recompute them after a crash instead of
        making their events durable first)."""
        ...

    async def plan(
        self, text: str, tools: Sequence[ToolDescription], evidence: Sequence[Evidence]
    ) -> Plan: ...

    async def answer(
        self,
        text: str,
        evidence: Sequence[Evidence],
        tool_results: Sequence[ToolResult],
        calls: Sequence[ToolCall] = (),
    ) -> Answer: ...


# -- extractors ------------------------------------------------------------------

_FENCE_RE = re.compile(r"```([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)
_SQL_RE = re.compile(r"\b(?:SELECT|WITH)\b[^;`]*", re.IGNORECASE)
_ARITH_RUN_RE = re.compile(r"[\d\s.+\-*/^()]+")
_OPERATOR_RE = re.compile(r"[\d.)]\s*(?:\*\*|[-+*/^])\s*[-+(]*\s*[\d.(]")
_WORD_RE = re.compile(r"[a-z][a-z0-9]{3,}")
_STOPWORDS: Final = frozenset(
    [
        "what",
        "when",
        "where",
        "which",
        "with",
        "that",
        "this",
        "from",
        "have",
        "into",
        "about",
        "there",
        "their",
        "would",
        "could",
        "should",
        "tool",
        "tools",
        "using",
        "your",
        "these",
        "those",
        "them",
        "then",
        "than",
        "they",
        "will",
        "were",
        "been",
        "does",
        "result",
        "results",
        "value",
        "values",
        "return",
        "returns",
        "please",
    ]
)


def _fences(text: str) -> list[tuple[str, str]]:
    return [(lang.lower(), body.strip()) for lang, body in _FENCE_RE.findall(text)]


def _unfenced(text: str) -> str:
    return _FENCE_RE.sub(" ", text)


def extract_code(text: str) -> list[str]:
    """Fenced code blocks that are not ``sql``."""
    return [body for lang, body in _fences(text) if lang != "sql" and body]


def extract_sql(text: str) -> list[str]:
    """A fenced ``sql`` block, else the first unfenced ``SELECT``/``WITH`` statement."""
    fenced = [body for lang, body in _fences(text) if lang == "sql" and body]
    if fenced:
        return fenced[:1]
    match = _SQL_RE.search(_unfenced(text))
    return [match.group(0).strip()] if match else []


def _depths(expr: str) -> list[int]:
    """``depths[i]``: bracket depth after ``expr[:i]`` (``(`` +1, ``)`` -1); length n + 1."""
    return [0, *accumulate((ch == "(") - (ch == ")") for ch in expr)]


def trim_brackets(expr: str) -> str:
    """``expr`` without the unmatched brackets at its ends, in O(n).

    The result equals dropping the first character (and the spaces after it) while
    the text is unbalanced and starts with a bracket, then the last character (and
    the spaces before it) while it is unbalanced and ends with one. Balance of
    ``expr[i:j]`` is read from prefix depths (equal depths at ``i`` and ``j``, none
    lower between) instead of rescanning the text at every step, which was
    quadratic: ``"(" * 32765 + "1+1"`` took seconds.
    """
    n = len(expr)
    depth = _depths(expr)
    # lowest[i]: the lowest depth after any character of expr[i:] (inf for i == n)
    lowest = [0.0] * (n + 1)
    lowest[n] = float("inf")
    for i in range(n - 1, -1, -1):
        lowest[i] = min(depth[i + 1], lowest[i + 1])
    i = 0
    while i < n and not (depth[n] == depth[i] and lowest[i] >= depth[i]) and expr[i] in "()":
        i += 1
        while i < n and expr[i].isspace():
            i += 1
    # low[j]: the lowest depth after any character of expr[i:j] (inf for j == i)
    low = [float("inf")] * (n + 1)
    for j in range(i + 1, n + 1):
        low[j] = min(low[j - 1], depth[j])
    j = n
    while j > i and not (depth[j] == depth[i] and low[j] >= depth[i]) and expr[j - 1] in "()":
        j -= 1
        while j > i and expr[j - 1].isspace():
            j -= 1
    return expr[i:j]


def _balanced(expr: str) -> bool:
    depth = _depths(expr)
    return depth[-1] == 0 and min(depth) >= 0


def extract_arithmetic(text: str) -> list[str]:
    """Arithmetic expressions outside code blocks and SQL, longest first then by position.

    Linear in ``len(text)`` (every pattern scans each character a bounded number of
    times; :func:`trim_brackets` is linear).
    """
    source = _unfenced(text)
    source = _SQL_RE.sub(" ", source)
    found: list[tuple[int, int, str]] = []
    for m in _ARITH_RUN_RE.finditer(source):
        expr = trim_brackets(" ".join(m.group(0).split()).strip(" ."))
        if expr and _balanced(expr) and _OPERATOR_RE.search(expr):
            found.append((-len(expr), m.start(), expr))
    unique = dict.fromkeys(e for _, _, e in sorted(found))
    return list(unique)


def _content_words(text: str) -> set[str]:
    words = {w.rstrip("s") for w in _WORD_RE.findall(text.lower())}
    return {w for w in words if w not in _STOPWORDS}


_BY_NAME: Final = {
    "expression": "arithmetic",
    "expr": "arithmetic",
    "code": "code",
    "source": "code",
    "sql": "sql",
    "query": "text",
    "text": "text",
    "q": "text",
}

_EXTRACTORS: Final[dict[str, Callable[[str], list[str]]]] = {
    "arithmetic": extract_arithmetic,
    "code": extract_code,
    "sql": extract_sql,
    "text": lambda t: [t.strip()] if t.strip() else [],
}


def _extractor_for(prop: str, schema: Mapping[str, Any]) -> str | None:
    hint = schema.get(EXTRACT_KEY)
    if isinstance(hint, str) and hint in _EXTRACTORS:
        return hint
    return _BY_NAME.get(prop)


def _calls_for(tool: ToolDescription, text: str) -> tuple[list[dict[str, Any]], str]:
    """Argument sets for ``tool`` and the extractor kinds used (empty if none fit)."""
    schema = tool.args_schema
    props: Mapping[str, Any] = schema.get("properties", {})
    required = [str(p) for p in schema.get("required", [])]
    values: dict[str, list[str]] = {}
    kinds = []
    for prop in required:
        kind = _extractor_for(prop, props.get(prop, {}))
        if kind is None:
            return [], ""
        found = _EXTRACTORS[kind](text)
        if not found:
            return [], ""
        values[prop] = found
        kinds.append(kind)
    if not required:
        return [], ""
    if set(kinds) == {"text"}:
        overlap = _content_words(text) & _content_words(tool.description)
        if not overlap:
            return [], ""
        return [{p: v[0] for p, v in values.items()}], f"text; shares {sorted(overlap)}"
    count = min(MAX_CALLS_PER_TOOL, max(len(v) for v in values.values()))
    calls = [{p: v[min(i, len(v) - 1)] for p, v in values.items()} for i in range(count)]
    return calls, "+".join(sorted(set(kinds)))


# -- answer rendering ------------------------------------------------------------


def _quote(value: str) -> str:
    """Safe to echo: PII redacted, citation markers neutralised, length capped."""
    text = CITATION_RE.sub(lambda m: f"({m.group(1)} {m.group(2)})", redact(value))
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTE_CHARS else text[: MAX_QUOTE_CHARS - 1] + "…"


def _render_output(result: ToolResult, call: ToolCall | None) -> str:
    out = result.output
    if isinstance(out, Mapping):
        if "value" in out:
            expr = out.get("expression") or (call.arguments.get("expression") if call else None)
            head = f"{expr} = {out['value']}" if expr else str(out["value"])
            dec = out.get("decimal")
            if dec is not None and str(dec) != str(out["value"]):
                head += f" (≈ {dec})"
            return head
        if "stdout" in out:
            return str(out["stdout"]).strip() or "(no output)"
        if "rows" in out and isinstance(out["rows"], list):
            return f"{len(out['rows'])} row(s): {json.dumps(out['rows'][:5], default=str)}"
        if "results" in out and isinstance(out["results"], list):
            return f"{len(out['results'])} match(es)"
    return json.dumps(out, sort_keys=True, default=str)


@dataclass
class DeterministicPlanner:
    """Rule-based planner (see the module docstring). Not a language model."""

    count_tokens: Callable[[str], int] | None = None
    tokenizer_name: str = "tokenizer"
    name: str = "deterministic"
    local: bool = True  # pure: the engine may recompute a plan or answer after a crash

    def _usage(self, prompt: str, completion: str) -> TokenUsage | None:
        if self.count_tokens is None:
            return None
        return TokenUsage(
            self.count_tokens(prompt) if prompt else 0,
            self.count_tokens(completion) if completion else 0,
            f"tokenizer:{self.tokenizer_name}",
        )

    def make_plan(self, text: str, tools: Sequence[ToolDescription]) -> Plan:
        """The plan for ``text`` over ``tools`` (pure; tools visited by name)."""
        calls: list[ToolCall] = []
        reasons = []
        for tool in sorted(tools, key=lambda t: t.name):
            arg_sets, why = _calls_for(tool, text)
            for args in arg_sets:
                calls.append(ToolCall(len(calls), tool.name, args))
            if arg_sets:
                reasons.append(f"{tool.name} ×{len(arg_sets)} ({why})")
        rationale = "; ".join(reasons) if reasons else "no tool matched the input"
        return Plan(tuple(calls), rationale, self.name, self._usage(text, ""))

    def compose_answer(
        self,
        text: str,
        evidence: Sequence[Evidence],
        tool_results: Sequence[ToolResult],
        calls: Sequence[ToolCall] = (),
    ) -> Answer:
        """Answer text with one cited line per tool result and top evidence block."""
        by_index = {c.index: c for c in calls}
        lines: list[str] = []
        cites: list[str] = []
        for r in sorted(tool_results, key=lambda r: r.index):
            if not r.ok:
                lines.append(f"{r.tool} failed ({r.error_code}): {_quote(r.error)}")
                continue
            shown = _quote(_render_output(r, by_index.get(r.index)))
            if r.call_id:
                lines.append(f"{r.tool}: {shown} [tool:{r.call_id}]")
                cites.append(f"tool:{r.call_id}")
            else:
                lines.append(f"{r.tool}: {shown}")
        top = sorted(evidence, key=lambda e: (-e.score, e.memory_id))[:MAX_EVIDENCE_LINES]
        for e in top:
            lines.append(f'From memory: "{_quote(e.text)}" [mem:{e.memory_id}]')
            cites.append(f"mem:{e.memory_id}")
        if not lines:
            lines.append("I found no evidence or tool results to answer this request.")
        body = "\n".join(lines)
        return Answer(body, tuple(dict.fromkeys(cites)), self._usage("", body))

    async def plan(
        self, text: str, tools: Sequence[ToolDescription], evidence: Sequence[Evidence]
    ) -> Plan:
        return self.make_plan(text, tools)

    async def answer(
        self,
        text: str,
        evidence: Sequence[Evidence],
        tool_results: Sequence[ToolResult],
        calls: Sequence[ToolCall] = (),
    ) -> Answer:
        return self.compose_answer(text, evidence, tool_results, calls)
