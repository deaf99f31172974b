"""The memory vector store: :class:`MemoryStore` protocol, its qdrant-client implementation,
and :func:`open_store`, which picks the engine from the settings.

Engines: a Qdrant server (``SOMAGENT_QDRANT_URL``) or qdrant-client's local mode
(``SOMAGENT_VECTOR_ENGINE=local``) through :class:`QdrantMemoryStore`; Qdrant Edge
(the default embedded engine) through
:class:`~somagent.memory.edge_store.EdgeMemoryStore`.

:class:`QdrantMemoryStore` works with a Qdrant server (``QdrantClient(url=...)``)
and with embedded Qdrant (``QdrantClient(path=...)``, qdrant-client's local mode,
the exact-search reference). Guarantees:

* **Tenant isolation**: every read filters on ``tenant`` (a Qdrant ``must``
  condition) and every returned point's tenant is checked again before it leaves.
* **Idempotent writes**: the point id is the memory id (a UUID), so upserting the
  same memory twice leaves one point with the same content.
* **Acknowledged writes are visible**: ``upsert`` waits for Qdrant to apply the
  write (``wait=True``); a search that starts after it returns sees the memory.
* Scores are cosine similarities (the collection uses ``Distance.COSINE``).

Embedded (local) mode keeps all vectors in memory and answers a search by an
exact scan (numpy over every point, payload filters evaluated per point in
Python); payload indexes have no effect there, so they are only created on a
server, where they make tenant-filtered HNSW search fast (``tenant`` is marked
``is_tenant``). Local mode has exactly one owning process and is not safe for
concurrent use from several threads, so this class serialises calls on it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from qdrant_client import QdrantClient, models
from qdrant_client.local.qdrant_local import QdrantLocal

from somagent.config import Settings
from somagent.memory.exceptions import MemoryStoreError
from somagent.memory.model import EngineStats, EvidenceBlock, MemoryRecord
from somagent.memory.points import (
    DEFAULT_COLLECTION,
    EVIDENCE_FIELDS,
    batches,
    dense_vector,
    evidence,
    payload_of,
)


class MemoryStore(Protocol):
    """What recall, the remember-guard and the projector need from a vector store."""

    def ensure_collection(self) -> None: ...

    def upsert(self, memories: Sequence[MemoryRecord]) -> None: ...

    def search(
        self,
        tenant: str,
        vector: NDArray[np.float32],
        top_k: int,
        capsule_ids: Sequence[str] | None = None,
    ) -> list[EvidenceBlock]: ...

    def get(self, tenant: str, memory_id: str) -> EvidenceBlock | None: ...

    def exists_hash(
        self,
        tenant: str,
        text_sha256: str,
        capsule_id: str | None = None,
        exclude_request_id: str | None = None,
    ) -> bool: ...

    def count(self, tenant: str) -> int: ...


class VectorSource(Protocol):
    """What the brain reads beyond recall: candidates with their vectors, and all vectors."""

    def search_vectors(
        self,
        tenant: str,
        vector: NDArray[np.float32],
        top_k: int,
        capsule_ids: Sequence[str] | None = None,
    ) -> list[tuple[EvidenceBlock, NDArray[np.float32]]]: ...

    def scroll_vectors(
        self, tenant: str, batch: int = 2048
    ) -> Iterator[tuple[list[str | None], NDArray[np.float32]]]: ...


class OwningStore(MemoryStore, VectorSource, Protocol):
    """A store its process owns: it can also revoke a capsule and be closed."""

    def delete_capsule(self, tenant: str, capsule_id: str) -> None: ...

    def delete_tenant(self, tenant: str) -> None: ...

    def stats(self) -> EngineStats: ...

    def close(self) -> None: ...


def _tenant_filter(
    tenant: str, *extra: models.FieldCondition | models.IsNullCondition
) -> models.Filter:
    conditions: list[Any] = [
        models.FieldCondition(key="tenant", match=models.MatchValue(value=tenant)),
        *extra,
    ]
    return models.Filter(must=conditions)


class QdrantMemoryStore:
    """:class:`MemoryStore` over one Qdrant collection of ``dim``-dimensional cosine vectors.

    Args:
        client: a ``QdrantClient`` for a server or for embedded (local) mode.
        dim: vector dimension; must equal the embedder's.
        collection: collection name (``memories``).
    """

    def __init__(self, client: QdrantClient, dim: int, collection: str = DEFAULT_COLLECTION):
        self.client = client
        self.dim = dim
        self.collection = collection
        self.local = isinstance(getattr(client, "_client", None), QdrantLocal)
        self._lock = threading.RLock() if self.local else None

    def _call(self, what: str, method: str, /, **kwargs: Any) -> Any:
        """Run one client method, serialised in local mode, errors named by collection."""
        try:
            if self._lock is None:
                return getattr(self.client, method)(collection_name=self.collection, **kwargs)
            with self._lock:
                return getattr(self.client, method)(collection_name=self.collection, **kwargs)
        except MemoryStoreError:
            raise
        except Exception as exc:
            raise MemoryStoreError(
                f"qdrant collection {self.collection!r}: {what} failed: {exc}"
            ) from exc

    def ensure_collection(self) -> None:
        """Create the collection and its payload indexes if missing (idempotent).

        Raises:
            MemoryStoreError: the collection exists with another vector size or distance.
        """
        if not self._call("exists check", "collection_exists"):
            try:
                self._call(
                    "create",
                    "create_collection",
                    vectors_config=models.VectorParams(
                        size=self.dim, distance=models.Distance.COSINE
                    ),
                )
            except MemoryStoreError:
                # Another process may have created it between the check and the create.
                if not self._call("exists check", "collection_exists"):
                    raise
        self._check_vectors()
        if not self.local:
            self._ensure_indexes()

    def _check_vectors(self) -> None:
        info = self._call("describe", "get_collection")
        params = info.config.params.vectors
        if not isinstance(params, models.VectorParams):
            raise MemoryStoreError(f"qdrant collection {self.collection!r} uses named vectors")
        if params.size != self.dim or params.distance != models.Distance.COSINE:
            raise MemoryStoreError(
                f"qdrant collection {self.collection!r} has size {params.size} and distance "
                f"{params.distance}, expected {self.dim} and Cosine"
            )

    def _ensure_indexes(self) -> None:
        tenant_index = models.KeywordIndexParams(
            type=models.KeywordIndexType.KEYWORD, is_tenant=True
        )
        self._call(
            "index tenant", "create_payload_index", field_name="tenant", field_schema=tenant_index
        )
        for field in ("capsule_id", "text_sha256", "request_id"):
            self._call(
                f"index {field}",
                "create_payload_index",
                field_name=field,
                field_schema=models.PayloadSchemaType.KEYWORD,
            )

    def upsert(self, memories: Sequence[MemoryRecord]) -> None:
        """Write memories; returns once Qdrant has applied them. Idempotent by ``memory_id``."""
        for batch in batches(memories, self.dim, self.collection):
            points = [
                models.PointStruct(
                    id=record.memory_id,
                    vector=record.vector.astype(np.float32).tolist(),
                    payload=payload_of(record),
                )
                for record in batch
            ]
            self._call("upsert", "upsert", points=points, wait=True)

    def _evidence(self, tenant: str, point_id: Any, score: float, payload: Any) -> EvidenceBlock:
        return evidence(f"qdrant collection {self.collection!r}", tenant, point_id, score, payload)

    def search(
        self,
        tenant: str,
        vector: NDArray[np.float32],
        top_k: int,
        capsule_ids: Sequence[str] | None = None,
    ) -> list[EvidenceBlock]:
        """The ``top_k`` memories of ``tenant`` closest to ``vector``, best first.

        ``capsule_ids=None`` searches all of the tenant's memories; a sequence
        restricts the search to memories in any of those capsules (an empty
        sequence therefore matches nothing).
        """
        return [block for block, _ in self._query(tenant, vector, top_k, capsule_ids, False)]

    def search_vectors(
        self,
        tenant: str,
        vector: NDArray[np.float32],
        top_k: int,
        capsule_ids: Sequence[str] | None = None,
    ) -> list[tuple[EvidenceBlock, NDArray[np.float32]]]:
        """:meth:`search` with each memory's stored vector (for the brain's scoring)."""
        found = self._query(tenant, vector, top_k, capsule_ids, True)
        return [(block, vec) for block, vec in found if vec is not None]

    def _query(
        self,
        tenant: str,
        vector: NDArray[np.float32],
        top_k: int,
        capsule_ids: Sequence[str] | None,
        with_vector: bool,
    ) -> list[tuple[EvidenceBlock, NDArray[np.float32] | None]]:
        if capsule_ids is not None and len(capsule_ids) == 0:
            return []
        extra = []
        if capsule_ids is not None:
            extra.append(
                models.FieldCondition(
                    key="capsule_id", match=models.MatchAny(any=list(capsule_ids))
                )
            )
        response = self._call(
            f"search for tenant {tenant!r}",
            "query_points",
            query=np.asarray(vector, dtype=np.float32).tolist(),
            query_filter=_tenant_filter(tenant, *extra),
            limit=top_k,
            with_payload=models.PayloadSelectorInclude(include=EVIDENCE_FIELDS),
            with_vectors=with_vector,
        )
        return [
            (self._evidence(tenant, p.id, p.score, p.payload), dense_vector(p.vector))
            for p in response.points
        ]

    def scroll_vectors(
        self, tenant: str, batch: int = 2048
    ) -> Iterator[tuple[list[str | None], NDArray[np.float32]]]:
        """Every memory of ``tenant`` as batches ``(capsule ids, vectors (n, dim))``."""
        offset: Any = None
        while True:
            records, offset = self._call(
                f"scroll tenant {tenant!r}", "scroll", scroll_filter=_tenant_filter(tenant),
                limit=batch, offset=offset, with_payload=["tenant", "capsule_id"],
                with_vectors=True,
            )
            kept: list[tuple[Any, NDArray[np.float32]]] = []
            for r in records:
                vec = dense_vector(r.vector)
                if vec is not None and (r.payload or {}).get("tenant") == tenant:
                    kept.append((r.payload, vec))
            if kept:
                yield [p.get("capsule_id") for p, _ in kept], np.stack([v for _, v in kept])
            if offset is None or not records:
                return

    def get(self, tenant: str, memory_id: str) -> EvidenceBlock | None:
        """The memory ``memory_id`` of ``tenant`` (score 1.0), or None if absent or foreign."""
        points = self._call(
            f"retrieve {memory_id}",
            "retrieve",
            ids=[memory_id],
            with_payload=models.PayloadSelectorInclude(include=EVIDENCE_FIELDS),
        )
        if not points or (points[0].payload or {}).get("tenant") != tenant:
            return None
        return self._evidence(tenant, points[0].id, 1.0, points[0].payload)

    def exists_hash(
        self,
        tenant: str,
        text_sha256: str,
        capsule_id: str | None = None,
        exclude_request_id: str | None = None,
    ) -> bool:
        """True when ``tenant`` has a memory in ``capsule_id`` (None: in no capsule) whose
        redacted text hashes to ``text_sha256``.

        ``exclude_request_id`` ignores a memory written by that request, so a
        redelivered request is not mistaken for a duplicate of its own earlier write
        (this needs the request id to have reached the store; see docs/memory.md).
        """
        in_capsule: models.FieldCondition | models.IsNullCondition
        if capsule_id is None:
            in_capsule = models.IsNullCondition(is_null=models.PayloadField(key="capsule_id"))
        else:
            in_capsule = models.FieldCondition(
                key="capsule_id", match=models.MatchValue(value=capsule_id)
            )
        same_hash = models.FieldCondition(
            key="text_sha256", match=models.MatchValue(value=text_sha256)
        )
        query_filter = _tenant_filter(tenant, same_hash, in_capsule)
        if exclude_request_id:
            query_filter.must_not = [
                models.FieldCondition(
                    key="request_id", match=models.MatchValue(value=exclude_request_id)
                )
            ]
        result = self._call(
            f"hash lookup for tenant {tenant!r}", "count", count_filter=query_filter, exact=True
        )
        return bool(result.count > 0)

    def count(self, tenant: str) -> int:
        """Exact number of memories ``tenant`` has."""
        result = self._call(
            f"count for tenant {tenant!r}", "count", count_filter=_tenant_filter(tenant), exact=True
        )
        return int(result.count)

    def delete_capsule(self, tenant: str, capsule_id: str) -> None:
        """Remove every memory of ``tenant`` in ``capsule_id`` (capsule revoke); idempotent."""
        condition = models.FieldCondition(
            key="capsule_id", match=models.MatchValue(value=capsule_id)
        )
        self._call(
            f"delete capsule {capsule_id!r} of tenant {tenant!r}",
            "delete",
            points_selector=models.FilterSelector(filter=_tenant_filter(tenant, condition)),
            wait=True,
        )

    def delete_tenant(self, tenant: str) -> None:
        """Remove every memory of ``tenant`` (erasure); idempotent."""
        self._call(
            f"delete every memory of tenant {tenant!r}",
            "delete",
            points_selector=models.FilterSelector(filter=_tenant_filter(tenant)),
            wait=True,
        )

    def stats(self) -> EngineStats:
        """Points and HNSW-indexed points of the collection (local mode indexes nothing)."""
        info = self._call("describe", "get_collection")
        points = self._call("count", "count", exact=True).count
        indexed = int(info.indexed_vectors_count or 0)
        return EngineStats(int(points), indexed, int(info.segments_count))

    def close(self) -> None:
        """Release the client (and, in local mode, the data directory's lock)."""
        self.client.close()


def open_client(settings: Settings) -> QdrantClient:
    """A qdrant-client for ``settings.qdrant_url``, or local mode at ``settings.qdrant_path``."""
    if settings.qdrant_url:
        return QdrantClient(url=settings.qdrant_url)
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    return QdrantClient(path=str(settings.qdrant_path))


def engine_name(settings: Settings) -> str:
    """Which engine :func:`open_store` opens: ``server``, ``edge`` or ``local``."""
    return "server" if settings.qdrant_url else settings.vector_engine


def edge_root(settings: Settings) -> Path:
    """Where Qdrant Edge keeps its shards (one directory per collection)."""
    return settings.qdrant_path / "edge"


def open_store(
    settings: Settings, dim: int, collection: str = DEFAULT_COLLECTION
) -> OwningStore:
    """Open (and create if needed) the memory collection that ``settings`` points at.

    ``SOMAGENT_QDRANT_URL`` set: that Qdrant server through qdrant-client. Otherwise
    the embedded engine ``SOMAGENT_VECTOR_ENGINE`` names under ``settings.qdrant_path``:
    ``edge`` (Qdrant Edge, HNSW; the default) or ``local`` (qdrant-client local mode,
    an exact scan). An embedded store has one owning process (the Memory Gateway).
    """
    store: OwningStore
    if engine_name(settings) == "edge":
        from somagent.memory.edge_store import EdgeMemoryStore

        store = EdgeMemoryStore(edge_root(settings), dim=dim, collection=collection)
    else:
        store = QdrantMemoryStore(open_client(settings), dim=dim, collection=collection)
    try:
        store.ensure_collection()
    except BaseException:
        store.close()
        raise
    return store
