"""Holographic reduced representations (Plate, 1995): FFT bind/unbind on real vectors.

Vectors are float64 arrays whose last axis has length ``dim`` (default 8192);
leading axes broadcast, so a batch of shape (n, dim) binds row by row.

* :func:`random_vectors` draws i.i.d. N(0, 1/dim) entries and normalises each
  row to unit Euclidean norm (|‖x‖ − 1| < 1e-12).
* :func:`bind` is circular convolution (a ⊛ b)_j = Σ_k a_k b_{(j−k) mod d},
  computed as irfft(rfft(a)·rfft(b)) in O(d log d). Commutative, associative,
  linear. For random unit vectors ‖a ⊛ b‖ ≈ 1 (relative spread ~√(2/dim)); it is
  exactly 1 when one factor is unitary (see :func:`random_unitary`).
* :func:`unbind` is circular correlation (the approximate inverse): for random
  a, b the cosine of unbind(bind(a, b), a) with b is ≈ 1/√2 ≈ 0.71 (the spectrum
  |A_k|² is exponential with mean 1), while unrelated unit vectors have cosine
  ≈ 0 with standard deviation 1/√dim (the noise floor, ≈ 0.011 at dim 8192).
* :func:`unbind_wiener` divides by |A|² + noise instead, which undoes the
  spectral colouring of a ⊛ b: recovery is much closer to exact than plain
  correlation (cosine > 0.99 for one bound pair at noise 0.01). When unbinding
  from a superposition of K bindings, noise ≈ K − 1 (the interference power)
  still beats plain correlation, by a shrinking margin as K grows.
* :func:`superpose` is the normalised (weighted) sum; :func:`cosine` the
  cosine similarity.

All functions are pure and deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "DEFAULT_DIM",
    "bind",
    "cosine",
    "involution",
    "nearest",
    "random_unitary",
    "random_vectors",
    "superpose",
    "unbind",
    "unbind_wiener",
]

FloatArray = NDArray[np.float64]
DEFAULT_DIM = 8192
SeedLike = int | np.random.Generator | None


def _check_n_dim(n: int, dim: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 2:
        raise ValueError(f"dim must be an int >= 2, got {dim!r}")


def random_vectors(n: int, dim: int = DEFAULT_DIM, seed: SeedLike = None) -> FloatArray:
    """``n`` random unit vectors, shape (n, dim), float64, rows of Euclidean norm 1.

    Entries are N(0, 1/dim) before normalisation, so they are the standard HRR
    vectors. ``seed`` (int or Generator) makes the draw reproducible.
    """
    _check_n_dim(n, dim)
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0 / np.sqrt(dim), size=(int(n), int(dim)))
    return _unit_rows(x)


def random_unitary(n: int, dim: int = DEFAULT_DIM, seed: SeedLike = None) -> FloatArray:
    """``n`` unit vectors whose spectrum has modulus 1 everywhere, shape (n, dim).

    Binding with a unitary vector is an orthogonal map: it preserves norms and
    cosines exactly, and :func:`unbind` inverts it exactly (to ~1e-12).
    """
    _check_n_dim(n, dim)
    rng = np.random.default_rng(seed)
    n_freq = int(dim) // 2 + 1
    phase = rng.uniform(-np.pi, np.pi, size=(int(n), n_freq))
    spectrum = np.exp(1j * phase)
    # DC and (for even dim) Nyquist bins of a real signal are real: use ±1.
    spectrum[:, 0] = np.sign(np.cos(phase[:, 0])) + (np.cos(phase[:, 0]) == 0)
    if int(dim) % 2 == 0:
        spectrum[:, -1] = np.sign(np.cos(phase[:, -1])) + (np.cos(phase[:, -1]) == 0)
    return np.asarray(np.fft.irfft(spectrum, n=int(dim), axis=-1), dtype=np.float64)


def _as_vectors(name: str, x: ArrayLike) -> FloatArray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim < 1 or arr.shape[-1] < 2:
        raise ValueError(f"{name} must have shape (..., dim) with dim >= 2, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _pair(a: ArrayLike, b: ArrayLike) -> tuple[FloatArray, FloatArray, int]:
    x = _as_vectors("a", a)
    y = _as_vectors("b", b)
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(f"dimension mismatch: {x.shape[-1]} vs {y.shape[-1]}")
    try:
        np.broadcast_shapes(x.shape, y.shape)
    except ValueError as exc:
        raise ValueError(f"shapes {x.shape} and {y.shape} do not broadcast") from exc
    return x, y, int(x.shape[-1])


def _unit_rows(x: FloatArray) -> FloatArray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    if np.any(norms == 0.0):
        raise ValueError("cannot normalise a zero vector")
    return np.asarray(x / norms, dtype=np.float64)


def bind(a: ArrayLike, b: ArrayLike) -> FloatArray:
    """Circular convolution a ⊛ b along the last axis (shapes broadcast), O(d log d)."""
    x, y, d = _pair(a, b)
    return np.asarray(
        np.fft.irfft(np.fft.rfft(x, axis=-1) * np.fft.rfft(y, axis=-1), n=d, axis=-1),
        dtype=np.float64,
    )


def involution(a: ArrayLike) -> FloatArray:
    """The approximate inverse a*: a*_j = a_{(−j) mod d}. bind(a*, c) == unbind(c, a)."""
    x = _as_vectors("a", a)
    return np.asarray(np.roll(x[..., ::-1], 1, axis=-1), dtype=np.float64)


def unbind(c: ArrayLike, a: ArrayLike) -> FloatArray:
    """Circular correlation of ``c`` with ``a`` (approximate inverse of :func:`bind`).

    Returns irfft(rfft(c)·conj(rfft(a))); recovers b from c = a ⊛ b up to noise.
    """
    x, y, d = _pair(c, a)
    return np.asarray(
        np.fft.irfft(np.fft.rfft(x, axis=-1) * np.conj(np.fft.rfft(y, axis=-1)), n=d, axis=-1),
        dtype=np.float64,
    )


def unbind_wiener(c: ArrayLike, a: ArrayLike, noise: float) -> FloatArray:
    """Wiener-regularised deconvolution: irfft(C·conj(A) / (|A|² + noise)).

    ``noise`` >= 0 is the noise-to-signal power ratio per frequency, relative
    to the unit mean spectral power of a :func:`random_vectors` row: about
    0.01 for a single bound pair, about K − 1 when ``c`` superposes K
    bindings. ``noise`` = 0 is exact deconvolution; it raises ``ValueError`` when some |A_k| is 0.
    """
    lam = float(noise)
    if not np.isfinite(lam) or lam < 0.0:
        raise ValueError(f"noise must be finite and >= 0, got {noise!r}")
    x, y, d = _pair(c, a)
    spec_a = np.fft.rfft(y, axis=-1)
    denom = spec_a.real**2 + spec_a.imag**2 + lam
    if np.any(denom == 0.0):
        raise ValueError("a has a zero frequency component: use noise > 0")
    return np.asarray(
        np.fft.irfft(np.fft.rfft(x, axis=-1) * np.conj(spec_a) / denom, n=d, axis=-1),
        dtype=np.float64,
    )


def superpose(vectors: ArrayLike, weights: ArrayLike | None = None) -> FloatArray:
    """The unit-norm (weighted) sum of the rows of ``vectors`` (shape (n, dim)), shape (dim,).

    ``weights``: shape (n,), finite; default all 1. Raises ``ValueError`` for no
    rows or a zero sum.
    """
    v = _as_vectors("vectors", vectors)
    if v.ndim != 2 or v.shape[0] == 0:
        raise ValueError(f"vectors must have shape (n >= 1, dim), got {v.shape}")
    if weights is None:
        total = v.sum(axis=0)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (v.shape[0],) or not np.all(np.isfinite(w)):
            raise ValueError(f"weights must be finite with shape ({v.shape[0]},), got {w.shape}")
        total = w @ v
    return _unit_rows(total)


def cosine(a: ArrayLike, b: ArrayLike) -> FloatArray | float:
    """Cosine similarity along the last axis, in [−1, 1]; a float for 1-D inputs.

    Raises ``ValueError`` for a zero vector or mismatched dimensions.
    """
    x, y, _ = _pair(a, b)
    nx = np.linalg.norm(x, axis=-1)
    ny = np.linalg.norm(y, axis=-1)
    if np.any(nx == 0.0) or np.any(ny == 0.0):
        raise ValueError("cosine is undefined for a zero vector")
    sim = np.clip(np.sum(x * y, axis=-1) / (nx * ny), -1.0, 1.0)
    if np.ndim(sim) == 0:
        return float(sim)
    return np.asarray(sim, dtype=np.float64)


def nearest(query: ArrayLike, codebook: ArrayLike) -> tuple[int, float]:
    """Clean-up memory: the index and cosine of the ``codebook`` row most similar to ``query``.

    ``query``: shape (dim,); ``codebook``: shape (n >= 1, dim).
    """
    q = _as_vectors("query", query)
    book = _as_vectors("codebook", codebook)
    if q.ndim != 1 or book.ndim != 2 or book.shape[0] == 0 or book.shape[1] != q.shape[0]:
        raise ValueError(f"need query (dim,) and codebook (n, dim), got {q.shape}, {book.shape}")
    sims = np.asarray(cosine(book, q[None, :]), dtype=np.float64)
    best = int(np.argmax(sims))
    return best, float(sims[best])
