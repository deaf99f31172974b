"""HRR records of recalled memories (8,192 dimensions), queried by unbinding.

A memory's record superposes its lifted semantic vector with two bound role–filler
pairs (:mod:`somagent.math.hrr_record`):

    h = normalise( ω·lift(s) + WORDS ⊛ bag(words of the text) + SOURCE ⊛ t(source) )

``bag`` is the unit superposition of the words' random vectors (function words a
quarter weight), ``t(x)`` a seeded random vector per value; roles are unitary, so
unbinding is exact up to the crosstalk of the other terms. Two queries use it:

* **lexical**: cos(unbind(h, WORDS), bag(query words)) — "were these words bound to
  the text role?"; its expectation is cos(bag_q, bag_m)/√(ω² + 2) with noise ≈ 1/√8192;
* **bindings**: cos(unbind(h, SOURCE), t(value)) — "was this source bound?".

Records are built from the candidates' stored payload and vectors for each bundle
(storing 32 KiB records per memory would cost 3.2 GiB at 100k memories), so the
cost is a batch of FFTs per bundle (docs/brain.md has the measured cost).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from somagent.math import hrr
from somagent.math.hrr_record import encode, lift, role_match
from somagent.memory.embedder import _STOPWORDS, HrrEmbedder, tokenize

FloatArray = NDArray[np.float64]
ROLES = ("words", "source")


class RecordEncoder:
    """Builds and queries records (thread-safe: the token cache is locked)."""

    def __init__(self, dim: int = 8192, seed: int = 17, omega: float = 1.0) -> None:
        self.dim, self.omega = dim, omega
        self._tokens = HrrEmbedder(dim=dim, seed=seed)
        unitary = hrr.random_unitary(len(ROLES) + 1, dim, seed)
        self.roles = {name: unitary[i] for i, name in enumerate(ROLES)}
        self._lift_key = unitary[-1]

    def bag(self, text: str) -> FloatArray:
        """Unit superposition of the words of ``text`` (a fixed vector for no words)."""
        words = tokenize(text) or ["\x00empty"]
        vectors = np.stack([self._tokens.token_vector("w:" + w) for w in words])
        weights = np.array([0.25 if w in _STOPWORDS else 1.0 for w in words])
        return hrr.superpose(vectors, weights)

    def value(self, value: str) -> FloatArray:
        """The random vector of a filler value (source, capsule, ...)."""
        return self._tokens.token_vector("v:" + value)

    def records(
        self, texts: Sequence[str], sources: Sequence[str], semantic: NDArray[np.float32]
    ) -> FloatArray:
        """Records of n memories, shape (n, dim)."""
        if not texts:
            return np.zeros((0, self.dim))
        fillers = np.stack(
            [np.stack([self.bag(t), self.value(s)]) for t, s in zip(texts, sources, strict=True)]
        )
        roles = np.broadcast_to(np.stack([self.roles[r] for r in ROLES]), fillers.shape)
        lifted = lift(np.asarray(semantic, dtype=np.float64), self._lift_key)
        return encode(lifted, roles, fillers, omega=self.omega)

    def lexical(self, records: FloatArray, query: str) -> FloatArray:
        """cos(unbind(h, WORDS), bag(query)) per record, shape (n,)."""
        if records.shape[0] == 0:
            return np.zeros(0)
        return role_match(records, self.roles["words"], self.bag(query))

    def bound(self, records: FloatArray, role: str, value: str) -> FloatArray:
        """cos(unbind(h, role), t(value)) per record: was ``value`` bound to ``role``?"""
        if records.shape[0] == 0:
            return np.zeros(0)
        return role_match(records, self.roles[role], self.value(value))
