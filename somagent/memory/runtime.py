"""Everything the process that owns the vector store needs for memory, opened once.

An embedded store (Qdrant Edge, or qdrant-client local mode) has exactly one owning
process: the Memory Gateway (``somagent serve memory``), or, until every role talks
to the gateway, ``somagent serve all``. Everything in it shares one
:class:`MemoryRuntime`; other processes use
:class:`~somagent.memory.client.MemoryGatewayClient`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from somagent.config import Settings
from somagent.memory.brain.service import Brain
from somagent.memory.embedder import Embedder
from somagent.memory.embedders import open_embedder, spec_for
from somagent.memory.guard import RememberGuard
from somagent.memory.recall import Recaller
from somagent.memory.remember import MemoryProjector, RememberDecider
from somagent.memory.store import OwningStore, QdrantMemoryStore, open_store


def pii_key(home: Path) -> bytes:
    """The keyed-hash secret for PII (``home/keys/pii.key``, 32 random bytes, created once).

    Creation is race-free (``O_EXCL``): every process of one installation reads
    the same key, so the same e-mail address always hashes to the same token.
    """
    path = home / "keys" / "pii.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        key = os.urandom(32)
        handle.write(key)
    return key


@dataclass
class MemoryRuntime:
    """The embedder, store and the logic built on them, for one process.

    ``client`` is the qdrant-client the store uses (local mode or a server), None for
    Qdrant Edge.
    """

    client: Any
    embedder: Embedder
    store: OwningStore
    recaller: Recaller
    guard: RememberGuard
    decider: RememberDecider
    projector: MemoryProjector
    brain: Brain
    collection: str

    @classmethod
    def open(cls, settings: Settings, client: Any = None) -> MemoryRuntime:
        """Open the store ``settings`` selects (:func:`~somagent.memory.store.open_store`)
        and build the pieces; a qdrant-client handed in as ``client`` (a server, or a
        local-mode directory of its own, as the edge tests do) is used instead.
        """
        embedder = open_embedder(settings)
        collection = spec_for(settings).collection
        store: OwningStore
        if client is not None:
            store = QdrantMemoryStore(client, dim=embedder.dim, collection=collection)
            store.ensure_collection()
        else:
            store = open_store(settings, dim=embedder.dim, collection=collection)
            client = store.client if isinstance(store, QdrantMemoryStore) else None
        key = pii_key(settings.home_dir)
        guard = RememberGuard(key)
        projector = MemoryProjector(embedder, store)
        brain = Brain(embedder, store, pii_key=key)
        projector.listeners.append(brain.on_record)
        projector.revoke_listeners.append(brain.on_revoke)
        return cls(
            client=client,
            embedder=embedder,
            store=store,
            recaller=Recaller(embedder, store, pii_key=key),
            guard=guard,
            decider=RememberDecider(guard, store),
            projector=projector,
            brain=brain,
            collection=collection,
        )

    def close(self) -> None:
        self.store.close()
