"""Everything one process needs for memory, opened once and shared.

An embedded Qdrant directory has exactly one owning process, so the worker
(remember-guard, projector, Recall step) and, in ``somagent up``'s single
platform process, the edge share one :class:`MemoryRuntime`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from somagent.config import Settings
from somagent.memory.embedder import HrrEmbedder
from somagent.memory.guard import RememberGuard
from somagent.memory.recall import Recaller
from somagent.memory.remember import MemoryProjector, RememberDecider
from somagent.memory.store import QdrantMemoryStore, open_client


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
    """The embedder, store and the logic built on them, for one process."""

    client: Any
    embedder: HrrEmbedder
    store: QdrantMemoryStore
    recaller: Recaller
    guard: RememberGuard
    decider: RememberDecider
    projector: MemoryProjector

    @classmethod
    def open(cls, settings: Settings, client: Any = None) -> MemoryRuntime:
        """Open Qdrant (embedded or server, per ``settings``) and build the pieces."""
        client = client if client is not None else open_client(settings)
        embedder = HrrEmbedder()
        store = QdrantMemoryStore(client, dim=embedder.dim)
        store.ensure_collection()
        key = pii_key(settings.home_dir)
        guard = RememberGuard(key)
        return cls(
            client=client,
            embedder=embedder,
            store=store,
            recaller=Recaller(embedder, store, pii_key=key),
            guard=guard,
            decider=RememberDecider(guard, store),
            projector=MemoryProjector(embedder, store),
        )

    def close(self) -> None:
        self.client.close()
