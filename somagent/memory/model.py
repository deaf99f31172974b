"""Records that cross module boundaries in ``somagent.memory`` (plain data, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray


def iso_from_us(micros: int) -> str:
    """``2026-11-24T04:11:09.123456Z`` for microseconds since the Unix epoch (UTC)."""
    moment = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    """One accepted memory as written to the vector store.

    ``text`` is already redacted; ``vector`` is the unit embedding of ``text``;
    ``created_at_us`` is microseconds since the Unix epoch (UTC); ``request_id`` is
    the event id of the ``MemoryRememberRequested`` that produced it.
    """

    memory_id: str
    tenant: str
    text: str
    vector: NDArray[np.float32]
    source: str
    created_at_us: int
    trace_id: str
    capsule_id: str | None
    text_sha256: str
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class EvidenceBlock:
    """One recalled memory with its provenance.

    ``score`` is the cosine similarity of the query and the memory (higher is
    closer, at most 1); ``created_at_us`` is microseconds since the Unix epoch
    (UTC); ``trace_id`` is the trace of the request that remembered it.
    """

    memory_id: str
    text: str
    score: float
    source: str
    created_at_us: int
    trace_id: str
    capsule_id: str | None = None

    def to_dict(self) -> dict[str, object]:
        """The JSON shape of the edge and the Recall step (``created_at`` as ISO 8601 UTC)."""
        return {
            "memory_id": self.memory_id,
            "text": self.text,
            "score": round(self.score, 6),
            "source": self.source,
            "created_at": iso_from_us(self.created_at_us),
            "trace_id": self.trace_id,
            "capsule_id": self.capsule_id,
        }


@dataclass(frozen=True, slots=True)
class EngineStats:
    """What a vector collection holds: points, points covered by an HNSW graph, segments."""

    points: int
    indexed_points: int
    segments: int
