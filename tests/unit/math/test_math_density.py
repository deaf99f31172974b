"""Low-rank density matrices against the dense reference and the PSD / trace invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from somagent.math.density import Density, dense_reference, from_gram, from_vectors, mix


def unit_rows(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 12), d=st.integers(2, 16), seed=st.integers(0, 10_000))
def test_exact_rank_equals_the_dense_reference(n: int, d: int, seed: int) -> None:
    v = unit_rows(n, d, seed)
    w = np.random.default_rng(seed + 1).uniform(0.1, 3.0, size=n)
    rho = from_vectors(v, w)
    ref = dense_reference(v, w)
    np.testing.assert_allclose(rho.dense(), ref, atol=1e-12)
    assert abs(np.trace(rho.dense()) - 1.0) < 1e-12
    assert np.linalg.eigvalsh(rho.dense()).min() > -1e-12  # PSD
    q = unit_rows(3, d, seed + 2)
    np.testing.assert_allclose(rho.expectation(q), np.einsum("ij,jk,ik->i", q, ref, q), atol=1e-12)
    np.testing.assert_allclose(rho.bilinear(q, v[0]), q @ ref @ v[0], atol=1e-12)


def test_expectation_is_a_probability_for_unit_queries() -> None:
    rho = from_vectors(unit_rows(50, 24, 1), rank=8)
    scores = rho.expectation(unit_rows(200, 24, 2))
    assert np.all(scores >= 0.0)
    assert np.all(scores <= rho.eigenvalues.max() + 1e-12)
    assert 1 / rho.rank - 1e-12 <= rho.purity() <= 1.0


def test_truncation_keeps_the_largest_directions_and_trace_one() -> None:
    v = unit_rows(40, 20, 3)
    full = from_vectors(v)
    low = from_vectors(v, rank=5)
    assert low.rank == 5
    assert abs(low.eigenvalues.sum() - 1.0) < 1e-12
    eig = np.sort(np.linalg.eigvalsh(dense_reference(v)))[::-1]
    np.testing.assert_allclose(low.eigenvalues, eig[:5] / eig[:5].sum(), atol=1e-12)
    # The rank-5 ρ is the best rank-5 approximation (Eckart–Young), renormalised.
    best = (full.basis[:, :5] * full.eigenvalues[:5]) @ full.basis[:, :5].T
    np.testing.assert_allclose(low.dense(), best / np.trace(best), atol=1e-12)


def test_a_single_vector_is_a_pure_state() -> None:
    v = unit_rows(1, 10, 4)
    rho = from_vectors(v)
    assert rho.rank == 1 and rho.purity() == pytest.approx(1.0)
    assert rho.expectation(v[0]) == pytest.approx(1.0)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 6), m=st.integers(1, 6), eta=st.floats(0.01, 1.0), seed=st.integers(0, 999))
def test_mix_equals_the_dense_convex_combination(n: int, m: int, eta: float, seed: int) -> None:
    d = 8
    old, new = unit_rows(n, d, seed), unit_rows(m, d, seed + 7)
    w_new = np.random.default_rng(seed).uniform(0.5, 2.0, size=m)
    mixed = mix(from_vectors(old), new, w_new, eta=eta)
    expected = (1 - eta) * dense_reference(old) + eta * dense_reference(new, w_new)
    np.testing.assert_allclose(mixed.dense(), expected, atol=1e-11)
    assert abs(np.trace(mixed.dense()) - 1.0) < 1e-12


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        from_vectors(np.zeros((0, 4)))
    with pytest.raises(ValueError):
        from_vectors(unit_rows(2, 4, 0), [1.0, -1.0])
    with pytest.raises(ValueError):
        from_vectors(unit_rows(2, 4, 0), [0.0, 0.0])
    with pytest.raises(ValueError):
        Density(np.eye(3), np.array([0.5, 0.2, 0.2]))
    with pytest.raises(ValueError):
        mix(from_vectors(unit_rows(2, 4, 0)), unit_rows(1, 4, 1), eta=0.0)


def test_from_gram_equals_from_vectors() -> None:
    v = unit_rows(30, 12, 9)
    w = np.random.default_rng(9).uniform(0.5, 2, size=30)
    gram = (v * w[:, None]).T @ v
    np.testing.assert_allclose(from_gram(gram).dense(), from_vectors(v, w).dense(), atol=1e-12)
    np.testing.assert_allclose(
        from_gram(gram, 4).dense(), from_vectors(v, w, 4).dense(), atol=1e-12
    )
