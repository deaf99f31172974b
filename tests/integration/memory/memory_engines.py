"""How the memory tests open each embedded engine, and read what it stored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from somagent.memory.edge_store import EdgeMemoryStore
from somagent.memory.store import OwningStore, QdrantMemoryStore


@dataclass(frozen=True)
class Engine:
    """How to open a store of one engine: in the session's shared place, or at a path."""

    name: str
    make: Callable[[int, str], OwningStore]
    open_at: Callable[[Path, int], OwningStore]
    shared: bool  # the store shares a client with other tests: do not close it


def raw_payloads(store: OwningStore) -> list[dict[str, Any]]:
    """Every stored payload, read through the engine's own API (not the store's methods)."""
    if isinstance(store, QdrantMemoryStore):
        points, _ = store.client.scroll(store.collection, limit=1000, with_payload=True)
        return [dict(p.payload or {}) for p in points]
    assert isinstance(store, EdgeMemoryStore)
    return [payload for _, payload in store.scroll(limit=1000)]
