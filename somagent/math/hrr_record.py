"""Structured HRR records: role–filler pairs bound and superposed with a semantic vector.

A record of K pairs (rₖ, fₖ) and a semantic vector s (all unit, dimension d):

    h = normalise( ω · lift(s) + Σₖ rₖ ⊛ fₖ )

* :func:`lift` places a short semantic vector (m < d components) into d dimensions
  norm- and cosine-preservingly: zero-pad to d, then bind with a fixed unitary vector
  (an orthogonal map), so cos(lift(a), lift(b)) = cos(a, b) exactly.
* :func:`encode` builds h (roles should be :func:`~somagent.math.hrr.random_unitary`
  rows: binding with them is orthogonal, and unbinding inverts it exactly).
* :func:`unbind_role` answers "what was bound to role r": Wiener unbinding of h by r.
  With unitary roles it returns fₖ plus the other K − 1 bindings and ω·lift(s), each
  rotated to a random direction, so (closed form, for nearly orthogonal terms)

      cos(unbind_role(h, rₖ), fₖ) ≈ 1 / √(ω² + K)         (:func:`expected_role_cosine`)
      cos(h, lift(s))             ≈ ω / √(ω² + K)         (:func:`expected_semantic_cosine`)

  with noise of standard deviation ≈ 1/√d around these (0.011 at d = 8192).
* :func:`role_match` scores "was role r bound to filler f" for many records at once:
  cos(unbind_role(hᵢ, r), f).

Pure and deterministic; invalid input raises ``ValueError``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from somagent.math import hrr

__all__ = [
    "encode",
    "expected_role_cosine",
    "expected_semantic_cosine",
    "lift",
    "role_match",
    "unbind_role",
]

FloatArray = NDArray[np.float64]


def lift(semantic: ArrayLike, key: ArrayLike) -> FloatArray:
    """``semantic`` (..., m) zero-padded to d = key's length and bound with unitary ``key``.

    Norms and cosines are preserved exactly (to rounding) when ``key`` is unitary.
    """
    s = np.asarray(semantic, dtype=np.float64)
    k = np.asarray(key, dtype=np.float64)
    d = int(k.shape[-1])
    if s.shape[-1] > d:
        raise ValueError(f"cannot lift {s.shape[-1]} components into {d} dimensions")
    padded = np.zeros((*s.shape[:-1], d))
    padded[..., : s.shape[-1]] = s
    return hrr.bind(padded, k)


def encode(
    semantic: ArrayLike, roles: ArrayLike, fillers: ArrayLike, omega: float = 1.0
) -> FloatArray:
    """h = normalise(ω·semantic + Σₖ roles[k] ⊛ fillers[k]) along the last axis.

    ``semantic``: (..., d) already in d dimensions (see :func:`lift`); ``roles`` and
    ``fillers``: (..., K, d) (K >= 0). ``omega`` >= 0 weighs the semantic part.
    """
    s = np.asarray(semantic, dtype=np.float64)
    r = np.asarray(roles, dtype=np.float64)
    f = np.asarray(fillers, dtype=np.float64)
    w = float(omega)
    if not math.isfinite(w) or w < 0.0:
        raise ValueError(f"omega must be finite and >= 0, got {omega!r}")
    if r.shape[-1] != s.shape[-1] or f.shape[-1] != s.shape[-1]:
        raise ValueError(f"dimensions differ: {s.shape}, {r.shape}, {f.shape}")
    total = w * s
    if r.shape[-2] > 0:
        total = total + hrr.bind(r, f).sum(axis=-2)
    norms = np.linalg.norm(total, axis=-1, keepdims=True)
    if np.any(norms == 0.0):
        raise ValueError("the record is the zero vector")
    return np.asarray(total / norms, dtype=np.float64)


def unbind_role(record: ArrayLike, role: ArrayLike, noise: float = 0.0) -> FloatArray:
    """The filler estimate for ``role``: Wiener unbinding (``noise`` 0: exact for unitary roles)."""
    return hrr.unbind_wiener(record, role, noise)


def role_match(
    records: ArrayLike, role: ArrayLike, filler: ArrayLike, noise: float = 0.0
) -> FloatArray:
    """cos(unbind_role(records[i], role), filler) for records (n, d): shape (n,)."""
    est = unbind_role(np.atleast_2d(np.asarray(records, dtype=np.float64)), role, noise)
    f = np.asarray(filler, dtype=np.float64)
    norms = np.linalg.norm(est, axis=-1) * float(np.linalg.norm(f))
    if np.any(norms == 0.0):
        raise ValueError("cosine with a zero vector")
    return np.asarray((est @ f) / norms, dtype=np.float64)


def expected_role_cosine(pairs: int, omega: float = 1.0) -> float:
    """1/√(ω² + K): the expected cos of an unbound filler with the true one (see module)."""
    if pairs < 1 or omega < 0:
        raise ValueError("need pairs >= 1 and omega >= 0")
    return 1.0 / math.sqrt(omega * omega + pairs)


def expected_semantic_cosine(pairs: int, omega: float = 1.0) -> float:
    """ω/√(ω² + K): the expected cos of a record with its lifted semantic vector."""
    if pairs < 0 or omega < 0 or (pairs == 0 and omega == 0):
        raise ValueError("need pairs >= 0, omega >= 0, not both 0")
    return omega / math.sqrt(omega * omega + pairs)
