"""HRR primitives against their definitions and the known similarity statistics.

References:

* Circular convolution / correlation by their O(d²) definitions
  (Plate, *Holographic Reduced Representations*, IEEE TNN 6(3), 1995):
  (a ⊛ b)_j = Σ_k a_k b_{(j−k) mod d},  (a # c)_j = Σ_k a_k c_{(j+k) mod d}.
* Statistics: for independent random unit vectors in d dimensions the cosine
  has mean 0 and standard deviation 1/√d (the noise floor); for random
  N(0, 1/d) vectors the cosine of a # (a ⊛ b) with b tends to
  E|A|²/√E|A|⁴ = 1/√2 because |A_k|² is exponentially distributed with mean 1.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from somagent.math.hrr import (
    DEFAULT_DIM,
    bind,
    cosine,
    involution,
    nearest,
    random_unitary,
    random_vectors,
    superpose,
    unbind,
    unbind_wiener,
)


def direct_convolution(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = len(a)
    return np.array([sum(a[k] * b[(j - k) % d] for k in range(d)) for j in range(d)])


def direct_correlation(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    d = len(a)
    return np.array([sum(a[k] * c[(j + k) % d] for k in range(d)) for j in range(d)])


@given(dim=st.integers(2, 40), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_bind_and_unbind_match_their_definitions(dim: int, seed: int) -> None:
    a, b = random_vectors(2, dim, seed=seed)
    np.testing.assert_allclose(bind(a, b), direct_convolution(a, b), atol=1e-12)
    np.testing.assert_allclose(unbind(b, a), direct_correlation(a, b), atol=1e-12)
    np.testing.assert_allclose(bind(involution(a), b), unbind(b, a), atol=1e-12)


@given(
    n=st.integers(0, 8),
    dim=st.integers(2, 300),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=60, deadline=None)
def test_random_vectors_are_unit_norm_and_reproducible(n: int, dim: int, seed: int) -> None:
    v = random_vectors(n, dim, seed=seed)
    assert v.shape == (n, dim) and v.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(v, random_vectors(n, dim, seed=seed))
    u = random_unitary(n, dim, seed=seed)
    np.testing.assert_allclose(np.abs(np.fft.rfft(u, axis=-1)), 1.0 / 1.0, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, atol=1e-12)


@given(dim=st.integers(2, 256), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_algebraic_laws(dim: int, seed: int) -> None:
    a, b, c = random_vectors(3, dim, seed=seed)
    np.testing.assert_allclose(bind(a, b), bind(b, a), atol=1e-12)
    np.testing.assert_allclose(bind(bind(a, b), c), bind(a, bind(b, c)), atol=1e-12)
    np.testing.assert_allclose(bind(a, b + 2 * c), bind(a, b) + 2 * bind(a, c), atol=1e-12)
    u = random_unitary(1, dim, seed=seed)[0]
    bound = bind(u, b)
    assert np.linalg.norm(bound) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(unbind(bound, u), b, atol=1e-10)
    np.testing.assert_allclose(
        superpose(np.stack([a, b, c])), (a + b + c) / np.linalg.norm(a + b + c)
    )
    assert -1.0 <= float(cosine(a, b)) <= 1.0
    assert float(cosine(a, a)) == pytest.approx(1.0)


def test_noise_floor_is_one_over_sqrt_dim() -> None:
    v = random_vectors(800, DEFAULT_DIM, seed=1)
    sims = v[:400] @ v[400:].T
    sigma = 1 / math.sqrt(DEFAULT_DIM)
    # 160 000 samples: the sample std is within ~0.5 % of σ, the mean within ~σ/400.
    assert float(sims.std()) == pytest.approx(sigma, rel=0.03)
    assert abs(float(sims.mean())) < 5 * sigma / 400


def test_bound_pairs_are_recovered_far_above_chance() -> None:
    a = random_vectors(40, DEFAULT_DIM, seed=2)
    b = random_vectors(40, DEFAULT_DIM, seed=3)
    recovered = unbind(bind(a, b), a)
    sims = np.asarray(cosine(recovered, b))
    assert float(sims.mean()) == pytest.approx(1 / math.sqrt(2), abs=0.01)
    assert float(sims.min()) > 0.6
    # Against the wrong items the same vectors sit at the noise floor.
    wrong = np.asarray(cosine(recovered, np.roll(b, 1, axis=0)))
    assert float(np.abs(wrong).max()) < 5 / math.sqrt(DEFAULT_DIM)


def test_superposed_record_cleans_up_to_the_right_filler() -> None:
    roles = random_vectors(5, DEFAULT_DIM, seed=4)
    codebook = random_vectors(1000, DEFAULT_DIM, seed=5)
    fillers = [17, 404, 9, 733, 250]
    record = superpose(bind(roles, codebook[fillers]))
    for role, filler in zip(roles, fillers, strict=True):
        index, sim = nearest(unbind(record, role), codebook)
        assert index == filler
        assert sim > 10 / math.sqrt(DEFAULT_DIM)


def test_wiener_unbinding_beats_plain_correlation() -> None:
    a = random_vectors(20, DEFAULT_DIM, seed=6)
    b = random_vectors(20, DEFAULT_DIM, seed=7)
    c = bind(a, b)
    plain = np.asarray(cosine(unbind(c, a), b))
    wiener = np.asarray(cosine(unbind_wiener(c, a, 0.01), b))
    assert np.all(wiener > plain)
    assert float(wiener.min()) > 0.99
    # On a two-binding superposition, noise ≈ the interference power (1) still wins.
    x = random_vectors(20, DEFAULT_DIM, seed=8)
    y = random_vectors(20, DEFAULT_DIM, seed=9)
    two = bind(a, b) + bind(x, y)
    plain2 = np.asarray(cosine(unbind(two, a), b))
    wiener2 = np.asarray(cosine(unbind_wiener(two, a, 1.0), b))
    assert float(wiener2.mean()) > float(plain2.mean()) + 0.02
    # Exact deconvolution when there is no noise at all.
    np.testing.assert_allclose(unbind_wiener(c[0], a[0], 0.0), b[0], atol=1e-8)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: random_vectors(-1, 8, seed=0), "n must"),
        (lambda: random_vectors(2, 1, seed=0), "dim must"),
        (lambda: bind(np.ones(4), np.ones(5)), "dimension mismatch"),
        (lambda: bind(np.ones((2, 4)), np.ones((3, 4))), "broadcast"),
        (lambda: bind(np.array([np.nan, 1.0]), np.ones(2)), "finite"),
        (lambda: unbind_wiener(np.ones(4), np.ones(4), -1.0), "noise"),
        (lambda: unbind_wiener(np.ones(4), np.zeros(4), 0.0), "zero frequency"),
        (lambda: superpose(np.zeros((2, 4))), "zero"),
        (lambda: superpose(np.zeros((0, 4))), "n >= 1"),
        (lambda: superpose(np.ones((2, 4)), [1.0]), "weights"),
        (lambda: cosine(np.zeros(4), np.ones(4)), "zero vector"),
        (lambda: nearest(np.ones(4), np.ones((2, 5))), "codebook"),
    ],
)
def test_invalid_input_is_rejected(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=message):
        call()
