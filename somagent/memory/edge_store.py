"""The memory vector store on Qdrant Edge: Qdrant's own engine in process, with HNSW.

:class:`EdgeMemoryStore` implements :class:`~somagent.memory.store.MemoryStore` on
one Qdrant Edge shard (``qdrant-edge-py``) in the directory ``root/<collection>``.
It is the default embedded engine (``SOMAGENT_VECTOR_ENGINE=edge``). Guarantees, the
same as :class:`~somagent.memory.store.QdrantMemoryStore`'s:

* **Tenant isolation**: every read filters on ``tenant`` (a ``must`` condition
  served by a keyword payload index marked ``is_tenant``) and every returned point's
  tenant is checked again before it leaves.
* **Idempotent writes**: the point id is the memory id (a UUID); upserting the same
  memory twice leaves one point with the same content.
* **Acknowledged writes are visible and durable**: ``upsert`` returns after the
  shard applied the write and appended it to its write-ahead log, so a search that
  starts after it returns sees the memory, and a process killed right after it
  (SIGKILL) finds the memory when the directory is opened again (the WAL is replayed;
  surviving a power loss would need the OS to have written the page cache).
* Scores are cosine similarities (``Distance.Cosine``).
* **One owner**: the shard's write-ahead log is locked by the process that opened
  it; a second open (another process, or another store in this one) is refused
  with :class:`~somagent.memory.exceptions.MemoryStoreError`.

Indexing. New points land in an appendable segment that is searched exactly (by
the engine, in Rust). :meth:`EdgeMemoryStore.optimize` builds HNSW graphs for
segments over ``EdgeTuning.indexing_threshold_kb`` and merges small segments; Edge
has no background optimizer, so the owner calls it (the Memory Gateway's indexer
does, see :mod:`somagent.memory.indexer`). The bindings keep the Python GIL for the
whole call, so an optimize pass stalls every other thread of the process for as
long as it takes. A pass rebuilds the graph of each segment that grew past the
threshold, so ``max_segment_size_kb`` bounds the longest pass (docs/memory.md has
the measured stalls).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import qdrant_edge as qe
from numpy.typing import NDArray

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

_KEYWORD_FIELDS = ("capsule_id", "text_sha256", "request_id")
_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CONFIG_FILE = "edge_config.json"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class EdgeTuning:
    """HNSW and optimizer settings of an Edge shard (sizes in KiB of vector data).

    ``m`` edges per node and ``ef_construct`` candidates while building; ``search_ef``
    candidates while searching (recall rises and latency grows with it). The
    defaults are what ``bench/recall.py`` measured to give recall@10 >= 0.95 with a
    search P95 under 10 ms at 100k memories (docs/memory.md). A 1024-dimensional
    float32 vector is 4 KiB, so ``indexing_threshold_kb=8000`` indexes a segment once
    it holds about 2,000 points, and ``max_segment_size_kb=200_000`` caps a segment at
    about 50,000: each optimize pass rebuilds the graph of the segment it grows, so
    the cap bounds the longest pass (see the module doc), while a smaller cap means
    more segments to search (measured at 100k, indexing 2,000 at a time: caps of
    10k/20k/50k points gave 14/7/4 segments, search P95 51/14/7.5 ms, longest pass
    4.4/5.0/13 s on a shared 2-core machine). ``full_scan_threshold_kb``: a filter
    matching less vector data than this is answered by an exact scan of the matching
    points (a small tenant).
    """

    m: int = 32
    ef_construct: int = 256
    search_ef: int = 256
    full_scan_threshold_kb: int = 10_000
    indexing_threshold_kb: int = 8_000
    max_segment_size_kb: int = 200_000


def _scroller(request: qe.ScrollRequest) -> Callable[[qe.EdgeShard], Any]:
    return lambda shard: shard.scroll(request)


def _tenant_filter(
    tenant: str, *extra: Any, must_not: Sequence[Any] | None = None
) -> qe.Filter:
    must: list[Any] = [qe.FieldCondition(key="tenant", match=qe.MatchValue(tenant)), *extra]
    return qe.Filter(must=must, must_not=list(must_not) if must_not else None)


class EdgeMemoryStore:
    """:class:`~somagent.memory.store.MemoryStore` on a Qdrant Edge shard.

    Args:
        root: directory holding one shard directory per collection (created if missing).
        dim: vector dimension; must equal the embedder's.
        collection: collection name, also the shard's directory name
            (``[A-Za-z0-9_-]{1,64}``).
        tuning: HNSW and optimizer settings (used when the shard is created or opened).

    Nothing is opened until :meth:`ensure_collection`; calls are serialised on a lock.
    """

    def __init__(
        self,
        root: Path,
        dim: int,
        collection: str = DEFAULT_COLLECTION,
        tuning: EdgeTuning | None = None,
    ) -> None:
        if not _COLLECTION_NAME.match(collection):
            raise MemoryStoreError(
                f"edge collection name {collection!r} must match {_COLLECTION_NAME.pattern}"
            )
        self.root = Path(root)
        self.dim = dim
        self.collection = collection
        self.tuning = tuning or EdgeTuning()
        self.path = self.root / collection
        self._shard: qe.EdgeShard | None = None
        self._lock = threading.RLock()
        # Candidates per HNSW search; may be changed on a live store (the benchmark sweeps it).
        self.search_ef = self.tuning.search_ef

    # -- opening ------------------------------------------------------------

    def _config(self) -> qe.EdgeConfig:
        t = self.tuning
        return qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=self.dim, distance=qe.Distance.Cosine),
            hnsw_config=qe.HnswIndexConfig(
                m=t.m, ef_construct=t.ef_construct, full_scan_threshold=t.full_scan_threshold_kb
            ),
            optimizers=qe.EdgeOptimizersConfig(
                indexing_threshold=t.indexing_threshold_kb,
                max_segment_size=t.max_segment_size_kb,
            ),
        )

    def _check_existing(self) -> bool:
        """True when the shard exists; refuse one with another vector size or distance."""
        config_file = self.path / _CONFIG_FILE
        if not config_file.exists():
            return False
        try:
            vectors = json.loads(config_file.read_text())["vectors"]
        except (OSError, ValueError, KeyError) as exc:
            raise MemoryStoreError(
                f"edge collection {self.collection!r}: unreadable {config_file}: {exc}"
            ) from exc
        params = vectors.get("")
        if set(vectors) != {""} or not isinstance(params, dict):
            raise MemoryStoreError(f"edge collection {self.collection!r} uses named vectors")
        if params.get("size") != self.dim or params.get("distance") != "Cosine":
            raise MemoryStoreError(
                f"edge collection {self.collection!r} at {self.path} has size "
                f"{params.get('size')} and distance {params.get('distance')}, "
                f"expected {self.dim} and Cosine"
            )
        return True

    def ensure_collection(self) -> None:
        """Open (creating if missing) the shard and its payload indexes (idempotent).

        Raises:
            MemoryStoreError: the shard exists with another vector size or distance,
                or another owner holds it.
        """
        with self._lock:
            if self._shard is None:
                exists = self._check_existing()
                self.path.mkdir(parents=True, exist_ok=True)
                try:
                    if exists:
                        self._shard = qe.EdgeShard.load(str(self.path), self._config())
                    else:
                        self._shard = qe.EdgeShard.create(str(self.path), self._config())
                except Exception as exc:
                    raise MemoryStoreError(
                        f"edge collection {self.collection!r}: cannot open {self.path} "
                        f"(one owning process; is another one running?): {exc}"
                    ) from exc
            self._ensure_indexes()

    def _ensure_indexes(self) -> None:
        present = set(self._call("describe", lambda s: s.info().payload_schema))
        wanted: list[tuple[str, Any]] = [
            ("tenant", qe.KeywordIndexParams(is_tenant=True)),
            *((field, qe.PayloadSchemaType.Keyword) for field in _KEYWORD_FIELDS),
        ]
        for field, schema in wanted:
            if field not in present:
                self._update(f"index {field}", qe.UpdateOperation.create_field_index(field, schema))

    def _update(self, what: str, operation: qe.UpdateOperation) -> None:
        self._call(what, lambda shard: shard.update(operation))

    def _call(self, what: str, fn: Callable[[qe.EdgeShard], T]) -> T:
        """Run ``fn`` on the open shard under the lock; errors named by collection."""
        with self._lock:
            shard = self._shard
            if shard is None:
                raise MemoryStoreError(
                    f"edge collection {self.collection!r} is not open (ensure_collection)"
                )
            try:
                return fn(shard)
            except MemoryStoreError:
                raise
            except Exception as exc:
                raise MemoryStoreError(
                    f"edge collection {self.collection!r}: {what} failed: {exc}"
                ) from exc

    # -- writes -------------------------------------------------------------

    def upsert(self, memories: Sequence[MemoryRecord]) -> None:
        """Write memories; returns once applied and logged. Idempotent by ``memory_id``."""
        for batch in batches(memories, self.dim, self.collection):
            points = [
                qe.Point(
                    record.memory_id,
                    record.vector.astype(np.float32).tolist(),
                    payload_of(record),
                )
                for record in batch
            ]
            self._update("upsert", qe.UpdateOperation.upsert_points(points))

    def delete_capsule(self, tenant: str, capsule_id: str) -> None:
        """Remove every memory of ``tenant`` in ``capsule_id`` (capsule revoke); idempotent."""
        capsule = qe.FieldCondition(key="capsule_id", match=qe.MatchValue(capsule_id))
        self._update(
            f"delete capsule {capsule_id!r} of tenant {tenant!r}",
            qe.UpdateOperation.delete_points_by_filter(_tenant_filter(tenant, capsule)),
        )

    def delete_tenant(self, tenant: str) -> None:
        """Remove every memory of ``tenant`` (erasure); idempotent."""
        self._update(
            f"delete every memory of tenant {tenant!r}",
            qe.UpdateOperation.delete_points_by_filter(_tenant_filter(tenant)),
        )

    # -- reads --------------------------------------------------------------

    def _evidence(self, tenant: str, point_id: Any, score: float, payload: Any) -> EvidenceBlock:
        return evidence(f"edge collection {self.collection!r}", tenant, point_id, score, payload)

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
        sequence therefore matches nothing). Indexed segments are searched by HNSW
        with ``search_ef`` candidates (approximate), the rest exactly.
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
            extra.append(qe.FieldCondition(key="capsule_id", match=qe.MatchAny(list(capsule_ids))))
        request = qe.QueryRequest(
            limit=top_k,
            query=qe.Query.Nearest(np.asarray(vector, dtype=np.float32).tolist()),
            filter=_tenant_filter(tenant, *extra),
            with_payload=qe.PayloadSelector.Include(EVIDENCE_FIELDS),
            with_vector=with_vector,
            params=qe.SearchParams(hnsw_ef=self.search_ef),
        )
        points = self._call(f"search for tenant {tenant!r}", lambda s: s.query(request))
        return [
            (self._evidence(tenant, p.id, p.score, p.payload), dense_vector(p.vector))
            for p in points
        ]

    def scroll_vectors(
        self, tenant: str, batch: int = 2048
    ) -> Iterator[tuple[list[str | None], NDArray[np.float32]]]:
        """Every memory of ``tenant`` as batches ``(capsule ids, vectors (n, dim))``."""
        offset: Any = None
        while True:
            request = qe.ScrollRequest(
                offset=offset, limit=batch, filter=_tenant_filter(tenant),
                with_payload=qe.PayloadSelector.Include(["tenant", "capsule_id"]),
                with_vector=True,
            )
            records, offset = self._call(f"scroll tenant {tenant!r}", _scroller(request))
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
        selector = qe.PayloadSelector.Include(EVIDENCE_FIELDS)
        records = self._call(
            f"retrieve {memory_id}", lambda s: s.retrieve([memory_id], selector, False)
        )
        if not records or (records[0].payload or {}).get("tenant") != tenant:
            return None
        return self._evidence(tenant, records[0].id, 1.0, records[0].payload)

    def _count(self, what: str, query_filter: qe.Filter) -> int:
        request = qe.CountRequest(exact=True, filter=query_filter)
        return int(self._call(what, lambda s: s.count(request)))

    def exists_hash(
        self,
        tenant: str,
        text_sha256: str,
        capsule_id: str | None = None,
        exclude_request_id: str | None = None,
    ) -> bool:
        """True when ``tenant`` has a memory in ``capsule_id`` (None: in no capsule) whose
        redacted text hashes to ``text_sha256``; ``exclude_request_id`` ignores a memory
        written by that request (a redelivered request is not its own duplicate)."""
        in_capsule = (
            qe.IsNullCondition("capsule_id")
            if capsule_id is None
            else qe.FieldCondition(key="capsule_id", match=qe.MatchValue(capsule_id))
        )
        same_hash = qe.FieldCondition(key="text_sha256", match=qe.MatchValue(text_sha256))
        excluded = (
            [qe.FieldCondition(key="request_id", match=qe.MatchValue(exclude_request_id))]
            if exclude_request_id
            else None
        )
        query_filter = _tenant_filter(tenant, same_hash, in_capsule, must_not=excluded)
        return self._count(f"hash lookup for tenant {tenant!r}", query_filter) > 0

    def count(self, tenant: str) -> int:
        """Exact number of memories ``tenant`` has."""
        return self._count(f"count for tenant {tenant!r}", _tenant_filter(tenant))

    def scroll(self, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """Up to ``limit`` stored points as ``(id, full payload)``, every tenant (audits)."""
        request = qe.ScrollRequest(limit=limit, with_payload=True, with_vector=False)
        records, _ = self._call("scroll", lambda s: s.scroll(request))
        return [(str(r.id), dict(r.payload or {})) for r in records]

    # -- engine -------------------------------------------------------------

    def stats(self) -> EngineStats:
        """Points, HNSW-indexed points and segments of the shard."""
        info = self._call("describe", lambda s: s.info())
        return EngineStats(
            int(info.points_count), int(info.indexed_vectors_count), int(info.segments_count)
        )

    def optimize(self) -> bool:
        """Build HNSW graphs / merge segments as the tuning asks; True if anything changed.

        Blocks (and holds the GIL) until done, then flushes the shard to disk.
        """
        changed = bool(self._call("optimize", lambda s: s.optimize()))
        if changed:
            self._call("flush", lambda s: s.flush())
        return changed

    def close(self) -> None:
        """Flush and release the shard (and its directory lock); idempotent."""
        with self._lock:
            shard, self._shard = self._shard, None
            if shard is not None:
                try:
                    shard.close()
                except Exception as exc:
                    raise MemoryStoreError(
                        f"edge collection {self.collection!r}: close failed: {exc}"
                    ) from exc
