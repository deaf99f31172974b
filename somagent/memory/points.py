"""What a memory is as a vector-store point, for every engine backend.

Pure: no I/O. :mod:`somagent.memory.store` (qdrant-client: a server or local mode)
and :mod:`somagent.memory.edge_store` (Qdrant Edge) store the same payload and read
it back the same way, so a collection written by one reads the same in the other.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from somagent.memory.exceptions import MemoryStoreError
from somagent.memory.model import EvidenceBlock, MemoryRecord

DEFAULT_COLLECTION = "memories"
UPSERT_BATCH = 256
EVIDENCE_FIELDS = ["tenant", "text", "source", "created_at", "trace_id", "capsule_id"]


def dense_vector(raw: Any) -> NDArray[np.float32] | None:
    """A point's unnamed dense vector as float32 (None when absent)."""
    if raw is None:
        return None
    if isinstance(raw, dict):
        raw = raw.get("")
    return None if raw is None else np.asarray(raw, dtype=np.float32)


def payload_of(record: MemoryRecord) -> dict[str, Any]:
    """The point payload of a memory (its vector and id travel beside it)."""
    return {
        "tenant": record.tenant,
        "text": record.text,
        "source": record.source,
        "created_at": record.created_at_us,
        "trace_id": record.trace_id,
        "capsule_id": record.capsule_id,
        "text_sha256": record.text_sha256,
        "request_id": record.request_id,
    }


def batches(
    memories: Sequence[MemoryRecord], dim: int, collection: str
) -> Iterator[Sequence[MemoryRecord]]:
    """``memories`` in upsert batches, after checking every vector has ``dim`` values:
    a wrong shape raises before anything is written."""
    for record in memories:
        if record.vector.shape != (dim,):
            raise MemoryStoreError(
                f"memory {record.memory_id} of tenant {record.tenant!r} has vector shape "
                f"{record.vector.shape}, collection {collection!r} expects ({dim},)"
            )
    for start in range(0, len(memories), UPSERT_BATCH):
        yield memories[start : start + UPSERT_BATCH]


def evidence(
    where: str, tenant: str, point_id: Any, score: float, payload: Any
) -> EvidenceBlock:
    """A returned point as evidence of ``tenant``; a point of another tenant raises
    (defence in depth: every read already filters on the tenant). ``where`` names the
    collection in the error."""
    if not payload or payload.get("tenant") != tenant:
        raise MemoryStoreError(
            f"{where} returned point {point_id} outside tenant {tenant!r}"
        )
    return EvidenceBlock(
        memory_id=str(point_id),
        text=str(payload["text"]),
        score=float(score),
        source=str(payload.get("source", "")),
        created_at_us=int(payload.get("created_at", 0)),
        trace_id=str(payload.get("trace_id", "")),
        capsule_id=payload.get("capsule_id"),
    )
