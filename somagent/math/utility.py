"""Utility of recalled evidence, and its online tuning by projected gradient with rollback.

Each candidate c carries a feature row x_c = (semantic, rho, recency, importance,
conductance, lexical) (:data:`FEATURES`, each in [−1, 1]). The weights
θ = (λ, μ, ν, α, β, γ, τ) (:data:`WEIGHT_NAMES`) give the utility and the distribution
over a bundle of candidates

    u_c = λ·x_sem + μ·x_ρ + ν·x_rec + α·x_imp + β·x_cond + γ·x_lex,     p_c = softmax(u/τ)_c

Feedback marks the useful candidates U of one bundle. The loss is the mean
cross-entropy of the useful candidates plus a ridge pull towards the prior weights w₀:

    L(w, τ) = (1/|U|) Σ_{u∈U} [ log Σ_c exp(u_c/τ) − u_u/τ ] + (κ/2)‖w − w₀‖²

which is convex in w = (λ, μ, ν, α, β, γ) for fixed τ (log-sum-exp of linear
functions minus linear, plus a convex quadratic) and convex in 1/τ for fixed w.
:func:`step` takes one projected gradient step on w, then one on τ, each projected
onto the box ``bounds`` (clipping: the exact Euclidean projection onto a box).

:func:`reciprocal_rank` and :func:`mean_reciprocal_rank` are the held-out metric;
:func:`decide_rollback` keeps the last good weights when the metric drops.
Pure and deterministic: the same feedback sequence gives the same weights bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "FEATURES",
    "WEIGHT_NAMES",
    "Bounds",
    "Example",
    "decide_rollback",
    "loss_and_gradient",
    "mean_reciprocal_rank",
    "probabilities",
    "reciprocal_rank",
    "step",
    "utilities",
]

FloatArray = NDArray[np.float64]
FEATURES = ("semantic", "rho", "recency", "importance", "conductance", "lexical")
WEIGHT_NAMES = ("lambda", "mu", "nu", "alpha", "beta", "gamma", "tau")
N_MIX = len(FEATURES)


@dataclass(frozen=True, slots=True)
class Bounds:
    """Inclusive box [low, high] per weight, in :data:`WEIGHT_NAMES` order; τ's low > 0."""

    low: tuple[float, ...]
    high: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.low) != len(WEIGHT_NAMES) or len(self.high) != len(WEIGHT_NAMES):
            raise ValueError(f"bounds need {len(WEIGHT_NAMES)} values each")
        for name, lo, hi in zip(WEIGHT_NAMES, self.low, self.high, strict=True):
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
                raise ValueError(f"bound of {name} must be finite with low <= high")
        if self.low[-1] <= 0.0:
            raise ValueError("tau's lower bound must be > 0")

    def contains(self, weights: ArrayLike) -> bool:
        w = np.asarray(weights, dtype=np.float64)
        return bool(
            w.shape == (len(WEIGHT_NAMES),)
            and np.all(np.isfinite(w))
            and np.all(w >= np.asarray(self.low))
            and np.all(w <= np.asarray(self.high))
        )

    def project(self, weights: ArrayLike) -> FloatArray:
        """The nearest point of the box (Euclidean): coordinate-wise clipping."""
        return np.clip(np.asarray(weights, dtype=np.float64), self.low, self.high)


@dataclass(frozen=True, slots=True)
class Example:
    """One bundle's candidate features (n, 6) and which candidates were useful (n,) bools."""

    features: FloatArray
    useful: NDArray[np.bool_]

    def __post_init__(self) -> None:
        x = np.asarray(self.features, dtype=np.float64)
        y = np.asarray(self.useful, dtype=bool)
        if x.ndim != 2 or x.shape[1] != N_MIX or y.shape != (x.shape[0],) or not y.any():
            raise ValueError(
                f"need features (n, {N_MIX}) and useful (n,) with one True, "
                f"got {x.shape}, {y.shape}"
            )
        if not np.all(np.isfinite(x)):
            raise ValueError("features must be finite")
        object.__setattr__(self, "features", x)
        object.__setattr__(self, "useful", y)


def utilities(features: ArrayLike, weights: ArrayLike) -> FloatArray:
    """u = X·w for features (n, 6) and weights (7,) (τ is not used here)."""
    x = np.asarray(features, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    return np.asarray(x @ w[:N_MIX], dtype=np.float64)


def probabilities(features: ArrayLike, weights: ArrayLike) -> FloatArray:
    """softmax(u/τ) over the candidates (sums to 1)."""
    w = np.asarray(weights, dtype=np.float64)
    z = utilities(features, w) / w[N_MIX]
    z -= z.max(initial=0.0) if z.size else 0.0
    e = np.exp(z)
    return np.asarray(e / e.sum(), dtype=np.float64)


def loss_and_gradient(
    example: Example, weights: ArrayLike, prior: ArrayLike, ridge: float
) -> tuple[float, FloatArray]:
    """L and ∂L/∂θ (7,) at θ = ``weights`` (the module doc's loss; ∂/∂τ included)."""
    w = np.asarray(weights, dtype=np.float64)
    w0 = np.asarray(prior, dtype=np.float64)
    tau = float(w[N_MIX])
    x, y = example.features, example.useful
    u = x @ w[:N_MIX]
    z = u / tau
    top = float(z.max())
    lse = top + math.log(float(np.exp(z - top).sum()))
    p = np.exp(z - lse)
    loss = lse - float(z[y].mean()) + 0.5 * ridge * float(np.sum((w[:N_MIX] - w0[:N_MIX]) ** 2))
    grad = np.zeros(len(WEIGHT_NAMES))
    grad[:N_MIX] = (p @ x - x[y].mean(axis=0)) / tau + ridge * (w[:N_MIX] - w0[:N_MIX])
    grad[N_MIX] = -(float(p @ u) - float(u[y].mean())) / (tau * tau)
    return loss, grad


def step(
    example: Example,
    weights: ArrayLike,
    prior: ArrayLike,
    bounds: Bounds,
    *,
    learning_rate: float,
    ridge: float = 0.01,
) -> FloatArray:
    """One projected gradient step: w ← Π(w − η∇_w L), then τ ← Π(τ − η∇_τ L) at the new w."""
    if not math.isfinite(learning_rate) or learning_rate <= 0.0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    w = bounds.project(weights)
    _, grad = loss_and_gradient(example, w, prior, ridge)
    moved = w.copy()
    moved[:N_MIX] -= learning_rate * grad[:N_MIX]
    moved = bounds.project(moved)
    _, grad_tau = loss_and_gradient(example, moved, prior, ridge)
    moved[N_MIX] -= learning_rate * grad_tau[N_MIX]
    return bounds.project(moved)


def reciprocal_rank(example: Example, weights: ArrayLike) -> float:
    """1 / (rank of the best-ranked useful candidate) under ``weights`` (ties: worst rank)."""
    u = utilities(example.features, weights)
    best = float(u[example.useful].max())
    return 1.0 / float(np.sum(u >= best))


def mean_reciprocal_rank(examples: Sequence[Example], weights: ArrayLike) -> float:
    """Mean of :func:`reciprocal_rank` (NaN for no examples)."""
    if not examples:
        return math.nan
    return float(np.mean([reciprocal_rank(e, weights) for e in examples]))


def decide_rollback(
    candidate_metric: float, good_metric: float, tolerance: float
) -> tuple[bool, bool]:
    """``(roll_back, new_good)`` after an update, both metrics on the same held-out set.

    Roll back when the updated weights score more than ``tolerance`` below the last
    good ones; they become the new last good weights when they score at least as well.
    With no held-out examples yet (NaN) nothing is rolled back and nothing promoted.
    """
    if math.isnan(candidate_metric) or math.isnan(good_metric):
        return False, False
    if candidate_metric < good_metric - tolerance:
        return True, False
    return False, candidate_metric >= good_metric
