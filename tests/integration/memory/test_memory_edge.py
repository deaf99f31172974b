"""What only the Qdrant Edge store has: one owner, HNSW-indexed segments, tuning."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from somagent.config import Settings
from somagent.memory.edge_store import EdgeMemoryStore, EdgeTuning
from somagent.memory.exceptions import MemoryStoreError
from somagent.memory.model import MemoryRecord
from somagent.memory.store import QdrantMemoryStore, edge_root, engine_name, open_store

pytestmark = pytest.mark.integration

DIM = 32


def _record(i: int, vector: np.ndarray, tenant: str, capsule: str | None = None) -> MemoryRecord:
    return MemoryRecord(
        str(uuid.UUID(int=i + 1)), tenant, f"text {i}", vector.astype(np.float32), "test",
        i, "", capsule, f"{i:064x}",
    )


def test_a_second_owner_is_refused(tmp_path: Path) -> None:
    first = EdgeMemoryStore(tmp_path, DIM)
    first.ensure_collection()
    with pytest.raises(MemoryStoreError, match="one owning process"):
        EdgeMemoryStore(tmp_path, DIM).ensure_collection()
    first.close()
    again = EdgeMemoryStore(tmp_path, DIM)
    again.ensure_collection()  # the lock went with close()
    again.close()


def test_bad_collection_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MemoryStoreError, match="collection name"):
        EdgeMemoryStore(tmp_path, DIM, "../escape")


def test_indexed_segments_keep_the_contract(tmp_path: Path) -> None:
    """After optimize() builds HNSW graphs, search is still tenant-isolated and filtered,
    agrees with an exact scan, and later writes (an appendable segment) are seen too."""
    tuning = EdgeTuning(indexing_threshold_kb=10, full_scan_threshold_kb=1, max_segment_size_kb=200)
    store = EdgeMemoryStore(tmp_path, DIM, tuning=tuning)
    store.ensure_collection()
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(8, DIM))
    vectors = centres[rng.integers(0, 8, size=3000)] + 0.3 * rng.normal(size=(3000, DIM))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    records = [
        _record(i, v, "a" if i % 3 else "b", capsule="c1" if i % 5 == 0 else None)
        for i, v in enumerate(vectors)
    ]
    store.upsert(records)
    assert store.optimize()
    stats = store.stats()
    assert stats.points == 3000 and stats.indexed_points > 0
    mine = np.array([r.tenant == "a" for r in records])
    ids = np.array([r.memory_id for r in records])
    overlap = []
    for q in vectors[:40] + 0.05 * rng.normal(size=(40, DIM)):
        hits = store.search("a", q.astype(np.float32), 10)
        assert len(hits) == 10 and all(h.memory_id in set(ids[mine]) for h in hits)
        exact = ids[mine][np.argsort(-(vectors[mine] @ q))[:10]]
        overlap.append(len(set(exact) & {h.memory_id for h in hits}) / 10)
        in_c1 = store.search("a", q.astype(np.float32), 10, capsule_ids=["c1"])
        assert in_c1 and all(h.capsule_id == "c1" for h in in_c1)
    assert np.mean(overlap) >= 0.9
    fresh = _record(5000, vectors[1], "b")
    store.upsert([fresh])
    assert store.search("b", vectors[1].astype(np.float32), 1)[0].memory_id in {
        fresh.memory_id, records[1].memory_id,
    }
    assert store.get("b", fresh.memory_id) is not None and store.get("a", fresh.memory_id) is None
    assert store.count("a") == int(mine.sum()) and store.count("b") == 3001 - int(mine.sum())
    store.close()


def test_open_store_picks_the_engine(tmp_path: Path) -> None:
    edge = Settings(home=tmp_path)
    assert engine_name(edge) == "edge"
    store = open_store(edge, dim=DIM)
    assert isinstance(store, EdgeMemoryStore) and store.path.parent == edge_root(edge)
    store.close()
    local = Settings(home=tmp_path, vector_engine="local")
    store_local = open_store(local, dim=DIM)
    assert isinstance(store_local, QdrantMemoryStore) and store_local.local
    store_local.close()
    assert engine_name(Settings(home=tmp_path, qdrant_url="http://127.0.0.1:6333")) == "server"


def test_the_indexer_builds_hnsw_in_the_background(tmp_path: Path) -> None:
    from somagent.memory.indexer import Indexer
    from somagent.wait import until

    store = EdgeMemoryStore(tmp_path, DIM, tuning=EdgeTuning(indexing_threshold_kb=10))
    store.ensure_collection()
    durations: list[float] = []
    indexer = Indexer(store.optimize, interval_s=0.05, observe=durations.append)
    indexer.start()
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(500, DIM))
    store.upsert([_record(i, v / np.linalg.norm(v), "a") for i, v in enumerate(vectors)])
    until(lambda: store.stats().indexed_points > 0, timeout_s=60, what="HNSW built by the indexer")
    indexer.stop()
    assert durations and indexer.passes == len(durations)
    hits = store.search("a", vectors[7].astype(np.float32) / np.linalg.norm(vectors[7]), 1)
    assert hits[0].memory_id == str(uuid.UUID(int=8))
    store.close()
