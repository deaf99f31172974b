"""Which embedder the Memory Gateway uses, and the collection that belongs to it.

Every embedder has its own vector collection (vectors of different models or
dimensions cannot share one), so switching ``SOMAGENT_EMBEDDER`` never mixes
vectors: the other collection stays as it was, and a collection opened for the
first time is rebuilt from ``memory.events`` (:mod:`somagent.memory.rebuild`).

* ``semantic`` (default): :class:`~somagent.memory.semantic.MiniLmEmbedder`, 384
  dimensions, collection ``memories-minilm-l6-int8``;
* ``hashing``: :class:`~somagent.memory.embedder.HrrEmbedder` (lexical), 1024
  dimensions, collection ``memories`` (the collection of earlier installations).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from somagent.config import Settings
from somagent.memory.embedder import Embedder, HrrEmbedder


@dataclass(frozen=True, slots=True)
class EmbedderSpec:
    """An embedder's identity: ``name``, vector ``dim`` and its ``collection``."""

    name: str
    dim: int
    collection: str


SPECS: Final = {
    "semantic": EmbedderSpec("all-MiniLM-L6-v2-onnx-int8", 384, "memories-minilm-l6-int8"),
    "hashing": EmbedderSpec("hrr-hashing-1024", 1024, "memories"),
}


def spec_for(settings: Settings) -> EmbedderSpec:
    """The :class:`EmbedderSpec` ``settings.embedder`` selects (no model is loaded)."""
    return SPECS[settings.embedder]


def open_embedder(settings: Settings) -> Embedder:
    """Load the embedder ``settings.embedder`` selects.

    Raises:
        EmbeddingError: the semantic model's files are missing or do not load.
    """
    if settings.embedder == "hashing":
        return HrrEmbedder()
    from somagent.memory.semantic import MiniLmEmbedder

    return MiniLmEmbedder()
