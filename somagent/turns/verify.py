"""Checks an answer must pass before it is sent (pure).

1. Every successful tool result matched its result schema (``schema_ok``).
2. The answer cites only ids that exist in this turn: ``[mem:<evidence id>]`` and
   ``[tool:<call id>]`` of a *successful* call; the citation list and the
   inline markers agree.
3. No PII is revealed: no ``pii:<hex>`` token, e-mail address or phone number
   (patterns in :mod:`somagent.turns.pii`).

:func:`verify` returns the failed checks as short stable strings, each starting
with a code (``schema_mismatch``, ``unknown_citation``, ``citation_mismatch``,
``pii_revealed``); an empty list means the answer may be sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from somagent.turns.pii import find_pii
from somagent.turns.state import Answer, Evidence, ToolResult

#: ``[mem:<id>]`` / ``[tool:<call id>]``; an id holds no brackets or spaces, so a scan
#: stops at the next ``[`` and the pattern is linear (``[mem:`` repeated without a
#: closing bracket made the previous ``[^\]\s]+`` rescan to the end from each one).
CITATION_RE: Final = re.compile(r"\[(mem|tool):([^\[\]\s]+)\]")

#: Names of the checks :func:`verify` runs (``TurnVerified.checks``).
CHECKS: Final = ("tool_result_schema", "citations_exist", "citations_listed", "no_pii")


def cited_ids(text: str) -> list[str]:
    """Inline citations in order of appearance, as ``mem:<id>`` / ``tool:<call_id>``."""
    return [f"{kind}:{ref}" for kind, ref in CITATION_RE.findall(text)]


def available_ids(evidence: Sequence[Evidence], results: Sequence[ToolResult]) -> set[str]:
    """Ids an answer in this turn may cite."""
    ids = {f"mem:{e.memory_id}" for e in evidence}
    ids |= {f"tool:{r.call_id}" for r in results if r.ok}
    return ids


def verify(
    answer: Answer, evidence: Sequence[Evidence], results: Sequence[ToolResult]
) -> list[str]:
    """Failed checks of ``answer`` against this turn's evidence and tool results."""
    failures = [
        f"schema_mismatch: result of {r.call_id} does not match the {r.tool} result schema"
        for r in results
        if r.ok and not r.schema_ok
    ]
    allowed = available_ids(evidence, results)
    inline = cited_ids(answer.text)
    unknown = sorted({c for c in [*inline, *answer.citations] if c not in allowed})
    if unknown:
        failures.append(f"unknown_citation: {', '.join(unknown)} not in this turn")
    if set(inline) != set(answer.citations):
        failures.append(
            f"citation_mismatch: inline {sorted(set(inline))} "
            f"!= listed {sorted(set(answer.citations))}"
        )
    kinds = sorted({kind for kind, _ in find_pii(answer.text)})
    if kinds:
        failures.append(f"pii_revealed: answer contains {', '.join(kinds)}")
    return failures
