"""Low-rank density matrices over unit vectors: ρ = Σ wᵢ vᵢvᵢᵀ / Σ wᵢ‖vᵢ‖², trace 1.

A :class:`Density` keeps ρ in eigen form: ``basis`` (d, r) with orthonormal columns and
``eigenvalues`` (r,), all >= 0, summing to 1, so ρ = U diag(λ) Uᵀ is symmetric, positive
semi-definite and of trace 1 by construction (to rounding, ~1e-12).

* :func:`from_vectors` builds ρ from rows ``vectors`` (n, d) with weights ``w`` >= 0.
  With ``rank`` >= the rank of the sum it is exact (equal to :func:`dense_reference`
  to ~1e-12); a smaller ``rank`` keeps the ``rank`` largest eigenvalues and rescales
  them to trace 1 (the best rank-r approximation in Frobenius norm, renormalised).
* :func:`mix` is the online update ρ' = (1 − η) ρ + η ρ_new, with ρ_new built from new
  vectors: exact before truncation, O(d (r + n)²).
* :meth:`Density.expectation` is ⟨q|ρ|q⟩ = Σₖ λₖ (uₖ·q)² ∈ [0, λ_max] for unit q
  (shape (n,) for a batch of rows); :meth:`Density.bilinear` is ⟨a|ρ|b⟩.

Pure: no I/O, inputs never modified. Invalid input raises ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Density", "dense_reference", "from_gram", "from_vectors", "mix"]

FloatArray = NDArray[np.float64]
_EIG_FLOOR = 1e-15


@dataclass(frozen=True, slots=True)
class Density:
    """ρ = basis · diag(eigenvalues) · basisᵀ; trace 1, PSD (see the module doc)."""

    basis: FloatArray
    eigenvalues: FloatArray

    def __post_init__(self) -> None:
        basis = np.array(self.basis, dtype=np.float64, copy=True)
        eig = np.array(self.eigenvalues, dtype=np.float64, copy=True)
        if basis.ndim != 2 or eig.shape != (basis.shape[1],):
            raise ValueError(
                f"need basis (d, r) and eigenvalues (r,), got {basis.shape}, {eig.shape}"
            )
        if not (np.all(np.isfinite(basis)) and np.all(np.isfinite(eig))) or np.any(eig < 0.0):
            raise ValueError("basis and eigenvalues must be finite, eigenvalues >= 0")
        if eig.size and abs(float(eig.sum()) - 1.0) > 1e-9:
            raise ValueError(f"eigenvalues must sum to 1 (trace), got {eig.sum()}")
        basis.setflags(write=False)
        eig.setflags(write=False)
        object.__setattr__(self, "basis", basis)
        object.__setattr__(self, "eigenvalues", eig)

    @property
    def dim(self) -> int:
        return int(self.basis.shape[0])

    @property
    def rank(self) -> int:
        return int(self.eigenvalues.shape[0])

    def expectation(self, q: ArrayLike) -> FloatArray | float:
        """⟨q|ρ|q⟩ for q of shape (d,) (a float) or (n, d) (shape (n,))."""
        x = _rows("q", q, self.dim)
        proj = x @ self.basis
        out = (proj * proj) @ self.eigenvalues
        return float(out[0]) if np.ndim(q) == 1 else np.asarray(out, dtype=np.float64)

    def bilinear(self, a: ArrayLike, b: ArrayLike) -> FloatArray | float:
        """⟨a|ρ|b⟩ row by row (shapes (d,) or (n, d), broadcasting a single row)."""
        x, y = _rows("a", a, self.dim), _rows("b", b, self.dim)
        out = ((x @ self.basis) * self.eigenvalues * (y @ self.basis)).sum(axis=1)
        if np.ndim(a) == 1 and np.ndim(b) == 1:
            return float(out[0])
        return np.asarray(out, dtype=np.float64)

    def dense(self) -> FloatArray:
        """ρ as a (d, d) array (for tests and small d)."""
        return np.asarray((self.basis * self.eigenvalues) @ self.basis.T, dtype=np.float64)

    def purity(self) -> float:
        """Tr(ρ²) = Σ λ² ∈ [1/rank, 1]: 1 for a single direction, small for a spread."""
        return float(np.sum(self.eigenvalues**2))


def _rows(name: str, x: ArrayLike, dim: int) -> FloatArray:
    arr = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"{name} must have shape (..., {dim}), got {np.shape(x)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _weights(vectors: FloatArray, weights: ArrayLike | None) -> FloatArray:
    n = vectors.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0.0):
        raise ValueError(f"weights must be finite, >= 0, shape ({n},), got {w.shape}")
    return w


def _from_factor(factor: FloatArray, rank: int | None) -> Density:
    """ρ ∝ Fᵀ F for a factor F (k, d), via the thin SVD of F; truncated and trace-normalised."""
    if factor.shape[0] <= factor.shape[1]:
        _, s, vt = np.linalg.svd(factor, full_matrices=False)
        eig, basis = s * s, vt.T
    else:  # more rows than dimensions: the (d, d) Gram matrix is cheaper
        eig, basis = np.linalg.eigh(factor.T @ factor)
        order = np.argsort(eig)[::-1]
        eig, basis = np.clip(eig[order], 0.0, None), basis[:, order]
    keep = eig > _EIG_FLOOR * max(1.0, float(eig.max(initial=0.0)))
    if rank is not None:
        keep &= np.arange(eig.shape[0]) < rank
    eig, basis = eig[keep], basis[:, keep]
    total = float(eig.sum())
    if total <= 0.0:
        raise ValueError("the weighted vectors sum to the zero matrix: no density")
    return Density(basis, eig / total)


def from_vectors(
    vectors: ArrayLike, weights: ArrayLike | None = None, rank: int | None = None
) -> Density:
    """ρ = Σ wᵢ vᵢvᵢᵀ / Tr(·) from rows ``vectors`` (n >= 1, d); keeps at most ``rank`` directions.

    Raises ``ValueError`` for no rows, negative or non-finite weights, a zero sum,
    or ``rank`` < 1.
    """
    v = _rows("vectors", vectors, int(np.shape(vectors)[-1]))
    if v.shape[0] == 0:
        raise ValueError("need at least one vector")
    if rank is not None and (isinstance(rank, bool) or int(rank) < 1):
        raise ValueError(f"rank must be >= 1, got {rank!r}")
    w = _weights(v, weights)
    return _from_factor(np.sqrt(w)[:, None] * v, rank)


def mix(
    rho: Density,
    vectors: ArrayLike,
    weights: ArrayLike | None = None,
    eta: float = 0.1,
    rank: int | None = None,
) -> Density:
    """ρ' = (1 − η) ρ + η ρ_new with ρ_new = :func:`from_vectors` (``vectors``, ``weights``).

    ``eta`` in (0, 1]; ``rank`` caps the result (default: ``rho.rank`` + len(vectors)).
    Exact before truncation: with no truncation it equals the dense formula to ~1e-12.
    """
    x = float(eta)
    if not 0.0 < x <= 1.0:
        raise ValueError(f"eta must be in (0, 1], got {eta!r}")
    new = from_vectors(_rows("vectors", vectors, rho.dim), weights)
    factor = np.vstack(
        [
            (np.sqrt((1.0 - x) * rho.eigenvalues)[:, None] * rho.basis.T),
            (np.sqrt(x * new.eigenvalues)[:, None] * new.basis.T),
        ]
    )
    return _from_factor(factor, rank)


def from_gram(gram: ArrayLike, rank: int | None = None) -> Density:
    """ρ from an accumulated G = Σ wᵢ vᵢvᵢᵀ (d, d), symmetric PSD: eigen form, top ``rank``.

    Equal to :func:`from_vectors` of the same vectors and weights (to ~1e-12 relative).
    Raises ``ValueError`` for a non-square, non-finite or zero matrix.
    """
    g = np.asarray(gram, dtype=np.float64)
    if g.ndim != 2 or g.shape[0] != g.shape[1] or not np.all(np.isfinite(g)):
        raise ValueError(f"gram must be a finite square matrix, got shape {g.shape}")
    eig, basis = np.linalg.eigh(0.5 * (g + g.T))
    order = np.argsort(eig)[::-1]
    eig, basis = np.clip(eig[order], 0.0, None), basis[:, order]
    keep = eig > _EIG_FLOOR * max(1.0, float(eig.max(initial=0.0)))
    if rank is not None:
        keep &= np.arange(eig.shape[0]) < rank
    total = float(eig[keep].sum())
    if total <= 0.0:
        raise ValueError("the gram matrix is zero: no density")
    return Density(basis[:, keep], eig[keep] / total)


def dense_reference(vectors: ArrayLike, weights: ArrayLike | None = None) -> FloatArray:
    """The (d, d) matrix Σ wᵢ vᵢvᵢᵀ / Tr(·), computed densely (the tests' reference)."""
    v = _rows("vectors", vectors, int(np.shape(vectors)[-1]))
    w = _weights(v, weights)
    rho = (v * w[:, None]).T @ v
    return np.asarray(rho / np.trace(rho), dtype=np.float64)
