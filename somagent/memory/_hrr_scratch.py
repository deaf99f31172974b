"""TEMPORARY stand-in for somagent.math.hrr while the math team writes it; to be deleted."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def random_vectors(n: int, dim: int, seed: int) -> NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    v = rng.normal(0.0, 1.0 / np.sqrt(dim), size=(n, dim))
    return np.asarray(v / np.linalg.norm(v, axis=-1, keepdims=True), dtype=np.float64)


def bind(a: NDArray[np.floating], b: NDArray[np.floating]) -> NDArray[np.float64]:
    dim = a.shape[-1]
    return np.fft.irfft(np.fft.rfft(a, axis=-1) * np.fft.rfft(b, axis=-1), n=dim, axis=-1)
