"""Text embeddings for memory: the :class:`Embedder` protocol and the HRR default.

:class:`HrrEmbedder` is a deterministic hyperdimensional encoder built on
:mod:`somagent.math.hrr` (holographic reduced representations). It needs no model
download and gives the same vector for the same text on every machine, process and
run (for the same ``dim`` and ``seed``). It is a lexical encoder, not a language
model: texts are close when they share words, word pieces and word order, not when
they merely mean the same thing.

How a text becomes a vector (all vectors have ``dim`` components):

1. NFKC-normalise and case-fold; words are runs of ``\\w`` characters.
2. Every token gets a pseudo-random vector: blake2b(token, keyed by the seed) seeds
   :func:`somagent.math.hrr.random_vectors`. Independent random vectors are nearly
   orthogonal (cosine ~ N(0, 1/dim)), which is what makes superposition work.
3. Three components, each a :func:`~somagent.math.hrr.superpose` (unit-norm sum):

   * **words** (bag of words) bound (:func:`~somagent.math.hrr.bind`) with the
     ``words`` role, a :func:`~somagent.math.hrr.random_unitary` vector;
   * **character trigrams** of each word padded with ``#`` (``#ca``, ``cat``,
     ``at#``) bound with the unitary ``trigrams`` role, so inflections and typos
     ("remember"/"remembered") overlap;
   * **order**: each adjacent word pair (a, b) as ``bind(P_left a, P_right b)``,
     with two fixed random permutations, so "dog bites man" and "man bites dog"
     differ a little. Circular convolution alone is commutative, hence the
     permutations.

   Very common function words ("the", "of", ...) count a quarter as much as
   other words so they do not make unrelated sentences look alike.
4. The components are superposed with weights (words 1.0, trigrams 0.7, order
   0.35) into one unit vector, returned as float32.

``dim`` defaults to 1024: 4 KiB per stored float32 vector (400 MiB for 100k
memories). Crosstalk between superposed random vectors has standard deviation about
``1/sqrt(dim)`` (0.031 at 1024). Measured on 10k synthetic memories (the corpus of
``bench/recall.py``) with 6 of 8-20 words replaced in the query, the source memory
ranks first 83% of the time at 256, 88% at 512, 89% at 1024 and 91% at 2048; 1024
keeps most of the gain at half the storage and scan cost of 2048 (docs/memory.md).
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from typing import Final, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from somagent.math import hrr
from somagent.memory.exceptions import EmbeddingError

Vectors = NDArray[np.float32]

_WORD = re.compile(r"\w+")
# fmt: off
_STOPWORDS: Final = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have",
    "he", "her", "his", "i", "in", "is", "it", "its", "me", "my", "no", "not", "of", "on",
    "or", "our", "she", "so", "that", "the", "their", "them", "they", "this", "to", "was",
    "we", "were", "what", "when", "which", "who", "will", "with", "you", "your",
})
# fmt: on
_STOPWORD_WEIGHT: Final = 0.25
_WEIGHTS: Final = {"words": 1.0, "trigrams": 0.7, "order": 0.35}


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors of a fixed dimension.

    Guarantees required of implementations: ``embed(texts)`` returns shape
    ``(len(texts), dim)``, dtype float32, every row of L2 norm 1 (within 1e-5),
    and row ``i`` depends only on ``texts[i]``.
    """

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...


def tokenize(text: str) -> list[str]:
    """Lower-cased words of ``text`` (NFKC-normalised, case-folded, ``\\w+`` runs)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def trigrams(word: str) -> list[str]:
    """Character trigrams of ``word`` padded with ``#`` on both sides."""
    padded = f"#{word}#"
    return [padded[i : i + 3] for i in range(len(padded) - 2)]


class HrrEmbedder:
    """Deterministic HRR text encoder (see the module docstring for the recipe).

    Args:
        dim: vector dimension (>= 64); 1024 by default.
        seed: changes every token vector; vectors from different seeds are unrelated.
        cache_size: token vectors kept in an LRU cache (each ``dim`` * 8 bytes).

    Thread safety: ``embed`` may be called from several threads (the LRU cache is
    guarded by a lock; vectors are computed outside it).
    """

    def __init__(self, dim: int = 1024, seed: int = 0, *, cache_size: int = 16384) -> None:
        if dim < 64:
            raise EmbeddingError(f"HrrEmbedder dim must be >= 64, got {dim}")
        self._dim = dim
        self.seed = seed
        self._key = seed.to_bytes(16, "big", signed=True)
        self._cache: OrderedDict[str, NDArray[np.float64]] = OrderedDict()
        self._cache_size = max(1, cache_size)
        self._cache_lock = threading.Lock()
        # Unitary roles: binding with them is an orthogonal map, so the cosine of two
        # word bags is exactly the cosine of their bound components.
        roles = hrr.random_unitary(2, dim, self._token_seed("\x00roles"))
        self._roles = {"words": roles[0], "trigrams": roles[1]}
        perm_rng = np.random.default_rng(self._token_seed("\x00permutations"))
        self._left = perm_rng.permutation(dim)
        self._right = perm_rng.permutation(dim)

    @property
    def dim(self) -> int:
        return self._dim

    def _token_seed(self, token: str) -> int:
        digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8, key=self._key).digest()
        return int.from_bytes(digest, "big")

    def token_vector(self, token: str) -> NDArray[np.float64]:
        """The random unit vector of ``token`` (namespaced: ``w:`` words, ``t:`` trigrams)."""
        with self._cache_lock:
            vector = self._cache.get(token)
            if vector is not None:
                self._cache.move_to_end(token)
                return vector
        vector = np.asarray(hrr.random_vectors(1, self._dim, self._token_seed(token))[0])
        with self._cache_lock:
            self._cache[token] = vector
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vector

    def _components(self, words: list[str]) -> tuple[NDArray[np.float64], list[float]]:
        """The unit components of a text, stacked, and their weights."""
        word_vectors = np.stack([self.token_vector("w:" + w) for w in words])
        weights = np.array([_STOPWORD_WEIGHT if w in _STOPWORDS else 1.0 for w in words])
        grams = [g for w in words for g in trigrams(w)]
        gram_vectors = np.stack([self.token_vector("t:" + g) for g in grams])
        parts = [
            hrr.bind(hrr.superpose(word_vectors, weights), self._roles["words"]),
            hrr.bind(hrr.superpose(gram_vectors), self._roles["trigrams"]),
        ]
        part_weights = [_WEIGHTS["words"], _WEIGHTS["trigrams"]]
        if len(words) > 1:
            pairs = hrr.bind(word_vectors[:-1, self._left], word_vectors[1:, self._right])
            parts.append(hrr.superpose(pairs, np.minimum(weights[:-1], weights[1:])))
            part_weights.append(_WEIGHTS["order"])
        return np.stack(parts), part_weights

    def embed_one(self, text: str) -> Vectors:
        """The unit vector of one text; a text without words maps to a fixed unit vector."""
        words = tokenize(text) or ["\x00empty"]
        parts, weights = self._components(words)
        return hrr.superpose(parts, weights).astype(np.float32)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Shape ``(len(texts), dim)`` float32, unit rows; deterministic per text."""
        if isinstance(texts, str):
            raise EmbeddingError("embed() takes a sequence of texts, got a single str")
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        for index, text in enumerate(texts):
            out[index] = self.embed_one(text)
        return out
