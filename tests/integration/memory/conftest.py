"""The memory store contract runs against both embedded engines, each in a temp directory.

``engine`` is parametrised: ``edge`` (Qdrant Edge, the default engine: one shard
directory per collection) and ``local`` (qdrant-client local mode, the exact-search
reference: one client per test session owns its directory). Each test gets its own
collection, so tests cannot see each other's points.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from memory_engines import Engine
from qdrant_client import QdrantClient

from somagent.memory.edge_store import EdgeMemoryStore
from somagent.memory.embedder import HrrEmbedder
from somagent.memory.guard import RememberGuard
from somagent.memory.recall import Recaller
from somagent.memory.remember import MemoryProjector, RememberDecider
from somagent.memory.store import OwningStore, QdrantMemoryStore

PII_KEY = b"integration-key-0123456789abcdef"
ENGINES = ("edge", "local")


@pytest.fixture(scope="session")
def qdrant_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QdrantClient]:
    client = QdrantClient(path=str(tmp_path_factory.mktemp("qdrant")))
    yield client
    client.close()


@pytest.fixture(params=ENGINES)
def engine(
    request: pytest.FixtureRequest,
    qdrant_client: QdrantClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Engine:
    if request.param == "local":
        return Engine(
            "local",
            lambda dim, name: QdrantMemoryStore(qdrant_client, dim, name),
            lambda path, dim: QdrantMemoryStore(QdrantClient(path=str(path)), dim),
            shared=True,
        )
    root = tmp_path_factory.mktemp("edge")
    return Engine(
        "edge",
        lambda dim, name: EdgeMemoryStore(root, dim, name),
        lambda path, dim: EdgeMemoryStore(path, dim),
        shared=False,
    )


@pytest.fixture(scope="session")
def embedder() -> HrrEmbedder:
    return HrrEmbedder()


@pytest.fixture
def store(engine: Engine, embedder: HrrEmbedder) -> Iterator[OwningStore]:
    memory_store = engine.make(embedder.dim, f"memories_{uuid.uuid4().hex}")
    memory_store.ensure_collection()
    yield memory_store
    if not engine.shared:
        memory_store.close()


@pytest.fixture
def guard() -> RememberGuard:
    return RememberGuard(PII_KEY)


@pytest.fixture
def decider(guard: RememberGuard, store: OwningStore) -> RememberDecider:
    return RememberDecider(guard, store)


@pytest.fixture
def projector(embedder: HrrEmbedder, store: OwningStore) -> MemoryProjector:
    return MemoryProjector(embedder, store)


@pytest.fixture
def recaller(embedder: HrrEmbedder, store: OwningStore) -> Recaller:
    return Recaller(embedder, store, pii_key=PII_KEY)
