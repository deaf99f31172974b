"""Utility weights: gradient against finite differences, convexity, projection, rollback."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from somagent.math.utility import (
    Bounds,
    Example,
    decide_rollback,
    loss_and_gradient,
    mean_reciprocal_rank,
    probabilities,
    reciprocal_rank,
    step,
)

BOUNDS = Bounds((0, 0, 0, 0, 0, 0, 0.02), (5, 5, 2, 2, 2, 5, 1.0))
PRIOR = np.array([1.0, 0, 0, 0, 0, 0, 0.1])


def example(seed: int, n: int = 8) -> Example:
    rng = np.random.default_rng(seed)
    useful = np.zeros(n, dtype=bool)
    useful[rng.integers(n)] = True
    return Example(rng.uniform(-1, 1, size=(n, 6)), useful)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_gradient_matches_finite_differences(seed: int) -> None:
    ex = example(seed)
    w = np.random.default_rng(seed).uniform(0.1, 1.0, size=7)
    w[6] = 0.3
    _, grad = loss_and_gradient(ex, w, PRIOR, 0.05)
    h = 1e-6
    for j in range(7):
        e = np.zeros(7)
        e[j] = h
        numeric = (
            loss_and_gradient(ex, w + e, PRIOR, 0.05)[0]
            - loss_and_gradient(ex, w - e, PRIOR, 0.05)[0]
        ) / (2 * h)
        assert grad[j] == pytest.approx(numeric, rel=1e-5, abs=1e-7)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), t=st.floats(0, 1))
def test_loss_is_convex_in_the_mixing_weights(seed: int, t: float) -> None:
    ex = example(seed)
    rng = np.random.default_rng(seed + 1)
    a, b = rng.uniform(0, 2, size=(2, 7))
    a[6] = b[6] = 0.2  # τ fixed
    f = lambda w: loss_and_gradient(ex, w, PRIOR, 0.0)[0]  # noqa: E731
    assert f(t * a + (1 - t) * b) <= t * f(a) + (1 - t) * f(b) + 1e-9


def test_steps_stay_in_bounds_and_learn_a_separable_rule() -> None:
    rng = np.random.default_rng(3)
    w = PRIOR.copy()
    train = []
    for _ in range(200):
        x = rng.uniform(-1, 1, size=(10, 6))
        useful = np.zeros(10, dtype=bool)
        useful[int(np.argmax(0.2 * x[:, 0] + x[:, 5]))] = True  # lexical matters most
        train.append(Example(x, useful))
    before = mean_reciprocal_rank(train[150:], w)
    for ex in train[:150]:
        w = step(ex, w, PRIOR, BOUNDS, learning_rate=0.05)
        assert BOUNDS.contains(w)
    after = mean_reciprocal_rank(train[150:], w)
    assert after > before + 0.2
    assert w[5] > w[0] * 0.5


def test_probabilities_and_reciprocal_rank() -> None:
    x = np.zeros((3, 6))
    x[:, 0] = [0.9, 0.5, 0.1]
    p = probabilities(x, PRIOR)
    assert p.sum() == pytest.approx(1.0) and p[0] > p[1] > p[2]
    assert reciprocal_rank(Example(x, np.array([False, True, False])), PRIOR) == 0.5
    assert math.isnan(mean_reciprocal_rank([], PRIOR))


def test_projection_and_bounds() -> None:
    assert not BOUNDS.contains([9, 0, 0, 0, 0, 0, 0.1])
    np.testing.assert_array_equal(BOUNDS.project([9, -1, 0, 0, 0, 0, 0.0])[[0, 1, 6]], [5, 0, 0.02])
    with pytest.raises(ValueError):
        Bounds((0,) * 7, (1,) * 7)  # τ low must be > 0


def test_rollback_rule() -> None:
    assert decide_rollback(0.5, 0.7, 0.05) == (True, False)
    assert decide_rollback(0.68, 0.7, 0.05) == (False, False)
    assert decide_rollback(0.75, 0.7, 0.05) == (False, True)
    assert decide_rollback(math.nan, 0.7, 0.05) == (False, False)
