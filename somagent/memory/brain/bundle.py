"""The ContextBundle: ranked evidence with provenance, the directives in force, the prompt.

``evidence`` is best first by utility; each item carries its provenance (``trace_id``
of the request that remembered it, ``source``, ``capsule_id``, ``created_at``), the
scores that ranked it (``features``, ``utility``) and ``confidence``, the calibrated
P(useful). ``directives`` are the policy directives the caller says apply (the
session's: allowed tools, capsules, budgets), echoed first in the prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from somagent.math.utility import FEATURES, WEIGHT_NAMES
from somagent.memory.model import EvidenceBlock, iso_from_us


@dataclass(frozen=True, slots=True)
class RankedEvidence:
    block: EvidenceBlock
    features: tuple[float, ...]
    utility: float
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.block.to_dict(),
            "score": float(self.block.score),
            "created_at_us": self.block.created_at_us,
            "features": dict(zip(FEATURES, self.features, strict=True)),
            "utility": round(self.utility, 6),
            "confidence": round(self.confidence, 6),
        }


@dataclass(frozen=True, slots=True)
class ContextBundle:
    bundle_id: str
    tenant: str
    query: str
    scope: str | None
    evidence: tuple[RankedEvidence, ...]
    directives: tuple[str, ...]
    weights: tuple[float, ...]
    prompt: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle_id": self.bundle_id,
            "scope": self.scope,
            "evidence": [e.to_dict() for e in self.evidence],
            "directives": list(self.directives),
            "weights": dict(zip(WEIGHT_NAMES, self.weights, strict=True)),
            "prompt": self.prompt,
        }


def assemble_prompt(
    query: str, evidence: Sequence[RankedEvidence], directives: Sequence[str]
) -> str:
    """Directives, then numbered evidence with citation markers and provenance, then the
    question. Evidence is cited as ``[mem:<memory_id>]`` (what the verifier checks)."""
    lines = ["# Directives"]
    lines += [f"- {d}" for d in directives] or ["- (none)"]
    lines.append("# Evidence (cite as [mem:<id>]; confidence = P(useful))")
    for i, e in enumerate(evidence, 1):
        b = e.block
        origin = f"source {b.source}, {iso_from_us(b.created_at_us)}, trace {b.trace_id}"
        if b.capsule_id:
            origin += f", capsule {b.capsule_id}"
        lines.append(f"{i}. [mem:{b.memory_id}] {b.text} ({origin}; confidence {e.confidence:.2f})")
    if not evidence:
        lines.append("(no evidence)")
    lines += ["# Question", query]
    return "\n".join(lines)
