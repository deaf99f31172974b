"""Embedded Qdrant (qdrant-client local mode, the real engine) in a temp directory.

One client per test session owns the directory; each test gets its own collection
so tests cannot see each other's points.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient

from somagent.memory.embedder import HrrEmbedder
from somagent.memory.guard import RememberGuard
from somagent.memory.recall import Recaller
from somagent.memory.remember import MemoryProjector, RememberDecider
from somagent.memory.store import QdrantMemoryStore

PII_KEY = b"integration-key-0123456789abcdef"


@pytest.fixture(scope="session")
def qdrant_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QdrantClient]:
    client = QdrantClient(path=str(tmp_path_factory.mktemp("qdrant")))
    yield client
    client.close()


@pytest.fixture(scope="session")
def embedder() -> HrrEmbedder:
    return HrrEmbedder()


@pytest.fixture
def store(qdrant_client: QdrantClient, embedder: HrrEmbedder) -> QdrantMemoryStore:
    memory_store = QdrantMemoryStore(qdrant_client, embedder.dim, f"memories_{uuid.uuid4().hex}")
    memory_store.ensure_collection()
    return memory_store


@pytest.fixture
def guard() -> RememberGuard:
    return RememberGuard(PII_KEY)


@pytest.fixture
def decider(guard: RememberGuard, store: QdrantMemoryStore) -> RememberDecider:
    return RememberDecider(guard, store)


@pytest.fixture
def projector(embedder: HrrEmbedder, store: QdrantMemoryStore) -> MemoryProjector:
    return MemoryProjector(embedder, store)


@pytest.fixture
def recaller(embedder: HrrEmbedder, store: QdrantMemoryStore) -> Recaller:
    return Recaller(embedder, store, pii_key=PII_KEY)
