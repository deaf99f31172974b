"""The six features of a recall candidate (columns of :data:`somagent.math.utility.FEATURES`).

For query q (text and unit vector) and candidate memory m in scope C:

| feature | value | range |
|---|---|---|
| semantic | cos(q, m) of the embedder (the vector search score) | [−1, 1] |
| rho | ⟨q|ρ_C|q⟩ / max over the bundle's scopes (:mod:`.density`) | [0, 1] |
| recency | exp(−age_s / recency_scale_s) | (0, 1] |
| importance | 1 − exp(−useful_count / importance_scale) | [0, 1) |
| conductance | g/(1 + g), g = FRGO conductance to the other candidates (:mod:`.graph`) | [0, 1) |
| lexical | cos(unbind(h_m, WORDS), bag(q)) of the HRR record (:mod:`.structure`) | ≈ [−0.1, 0.6] |

Every value is rounded to 1e-9 (the fixed point of the ``BrainFeedbackGiven`` event),
so the live brain and a replay compute with identical numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from somagent.memory.brain.density import DensityBook
from somagent.memory.brain.graph import MemoryGraph
from somagent.memory.brain.structure import RecordEncoder
from somagent.memory.model import EvidenceBlock

NANO = 1e9


def to_nano(values: NDArray[np.float64] | Sequence[float]) -> list[int]:
    """Fixed point: round(value × 1e9) as Python ints (the events' encoding)."""
    return [int(x) for x in np.rint(np.asarray(values, dtype=np.float64) * NANO)]


def from_nano(values: Sequence[int]) -> NDArray[np.float64]:
    return np.asarray(values, dtype=np.float64) / NANO


def rounded(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """``values`` through the fixed point and back (what a replay will see)."""
    return np.rint(np.asarray(values, dtype=np.float64) * NANO) / NANO


@dataclass(frozen=True, slots=True)
class Candidate:
    block: EvidenceBlock
    vector: NDArray[np.float32]


def feature_matrix(
    *,
    tenant: str,
    query_text: str,
    query_vector: NDArray[np.float32],
    candidates: Sequence[Candidate],
    book: DensityBook,
    graph: MemoryGraph | None,
    useful_counts: dict[str, int],
    encoder: RecordEncoder,
    now_us: int,
    recency_scale_s: float,
    importance_scale: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(features (n, 6), HRR records (n, hrr_dim))`` for the candidates (see module doc)."""
    n = len(candidates)
    x = np.zeros((n, 6))
    if n == 0:
        return x, np.zeros((0, encoder.dim))
    blocks = [c.block for c in candidates]
    ids = [b.memory_id for b in blocks]
    x[:, 0] = [b.score for b in blocks]
    x[:, 1] = book.expectations(tenant, query_vector, [b.capsule_id for b in blocks], now_us / 1e6)
    age_s = np.maximum(0.0, (now_us - np.array([b.created_at_us for b in blocks])) / 1e6)
    x[:, 2] = np.exp(-age_s / recency_scale_s)
    counts = np.array([useful_counts.get(i, 0) for i in ids], dtype=np.float64)
    x[:, 3] = 1.0 - np.exp(-counts / importance_scale)
    x[:, 4] = graph.feature(ids) if graph is not None else 0.0
    records = encoder.records(
        [b.text for b in blocks],
        [b.source for b in blocks],
        np.stack([c.vector for c in candidates]),
    )
    x[:, 5] = encoder.lexical(records, query_text)
    return rounded(x), records
