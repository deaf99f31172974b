"""Recall: query text → embedding → tenant-filtered vector search → evidence blocks.

Used by ``POST /v1/memory/recall`` and by the turn's Recall step. The embedder and
the store client are blocking, so :meth:`Recaller.recall` runs them in the default
thread executor and never blocks the event loop.

Consistency: a recall sees every memory whose ``MemoryRemembered`` event the memory
projector has applied before the search starts (see ``docs/memory.md``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Final

from somagent.memory import pii
from somagent.memory.embedder import Embedder
from somagent.memory.exceptions import InvalidRecallRequest
from somagent.memory.model import EvidenceBlock
from somagent.memory.store import MemoryStore

MIN_TOP_K: Final = 1
MAX_TOP_K: Final = 50
MAX_QUERY_BYTES: Final = 8192
MAX_CAPSULE_IDS: Final = 100


def validate_recall(tenant: str, query: str, top_k: int, capsule_ids: Sequence[str] | None) -> None:
    """Raise :class:`InvalidRecallRequest` (a ``ValueError``) naming the bad field."""
    if not isinstance(tenant, str) or not tenant:
        raise InvalidRecallRequest("recall needs a tenant")
    if not isinstance(query, str) or not query.strip():
        raise InvalidRecallRequest(f"recall query is empty for tenant {tenant!r}")
    size = len(query.encode("utf-8"))
    if size > MAX_QUERY_BYTES:
        raise InvalidRecallRequest(
            f"recall query is {size} bytes, limit {MAX_QUERY_BYTES}, for tenant {tenant!r}"
        )
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not MIN_TOP_K <= top_k <= MAX_TOP_K:
        raise InvalidRecallRequest(
            f"top_k must be an integer in {MIN_TOP_K}..{MAX_TOP_K}, got {top_k!r} "
            f"for tenant {tenant!r}"
        )
    if capsule_ids is None:
        return
    if isinstance(capsule_ids, str) or len(capsule_ids) > MAX_CAPSULE_IDS:
        raise InvalidRecallRequest(
            f"capsule_ids must be a list of at most {MAX_CAPSULE_IDS} ids for tenant {tenant!r}"
        )
    for capsule in capsule_ids:
        if not isinstance(capsule, str) or not 0 < len(capsule) <= 128:
            raise InvalidRecallRequest(
                f"capsule id {capsule!r} must be 1..128 characters for tenant {tenant!r}"
            )


class Recaller:
    """Answers recall requests for every tenant from one embedder and one store.

    Args:
        embedder: must be the embedder that encoded the stored memories.
        store: the vector store (its collection dimension equals ``embedder.dim``).
        pii_key: when given (the remember-guard's key), the query is redacted the
            same way stored texts were, so a query naming ``alice@example.com``
            matches memories holding that address's token.
    """

    def __init__(self, embedder: Embedder, store: MemoryStore, *, pii_key: bytes | None = None):
        if pii_key is not None:
            pii.check_key(pii_key)
        self.embedder = embedder
        self.store = store
        self._pii_key = pii_key

    def recall_sync(
        self,
        tenant: str,
        query: str,
        top_k: int = 5,
        capsule_ids: Sequence[str] | None = None,
    ) -> list[EvidenceBlock]:
        """Blocking recall; see :meth:`recall`."""
        validate_recall(tenant, query, top_k, capsule_ids)
        if capsule_ids is not None and len(capsule_ids) == 0:
            return []
        text = pii.redact(query, self._pii_key).text if self._pii_key else query
        vector = self.embedder.embed([text])[0]
        return self.store.search(tenant, vector, top_k, capsule_ids)

    async def recall(
        self,
        tenant: str,
        query: str,
        top_k: int = 5,
        capsule_ids: Sequence[str] | None = None,
    ) -> list[EvidenceBlock]:
        """The ``top_k`` (1..50) memories of ``tenant`` closest to ``query``, best first.

        ``capsule_ids=None`` means no capsule restriction; a list restricts recall to
        memories stored in any of those capsules (an empty list recalls nothing).
        Only ``tenant``'s memories are ever returned.

        Raises:
            InvalidRecallRequest: empty query or tenant, ``top_k`` outside 1..50,
                malformed capsule ids (also a ``ValueError``).
            MemoryStoreError: the vector store failed.
        """
        validate_recall(tenant, query, top_k, capsule_ids)
        return await asyncio.to_thread(self.recall_sync, tenant, query, top_k, capsule_ids)
