"""Calibrated confidence: turn a relevance score into P(useful), fitted on held-out labels.

* :func:`fit_platt` fits P(y=1 | s) = σ(a·s + b) by Newton's method on the logistic
  log-loss with Platt's (1999) smoothed targets y₊ = (N₊ + 1)/(N₊ + 2),
  y₋ = 1/(N₋ + 2), so separable data still gives finite a, b. Monotone in s when a > 0.
* :func:`fit_isotonic` fits the non-decreasing step function that minimises squared
  error (pool-adjacent-violators, ``scipy.optimize.isotonic_regression``); predictions
  interpolate linearly between fitted points and clamp outside them.
* :func:`brier` and :func:`expected_calibration_error` measure the result.

Both calibrators map scores to probabilities in [0, 1] (Platt: open interval).
Pure: no I/O. Invalid input raises ``ValueError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import isotonic_regression

__all__ = [
    "Isotonic",
    "Platt",
    "brier",
    "expected_calibration_error",
    "fit_isotonic",
    "fit_platt",
]

FloatArray = NDArray[np.float64]


def _pairs(scores: ArrayLike, labels: ArrayLike) -> tuple[FloatArray, FloatArray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    if s.shape != y.shape or s.size == 0:
        raise ValueError(f"need as many scores as labels (>= 1), got {s.shape} and {y.shape}")
    if not np.all(np.isfinite(s)) or not np.all((y == 0.0) | (y == 1.0)):
        raise ValueError("scores must be finite and labels 0 or 1")
    return s, y


@dataclass(frozen=True, slots=True)
class Platt:
    """P(useful | s) = 1 / (1 + exp(−(a·s + b)))."""

    a: float
    b: float

    def __call__(self, scores: ArrayLike) -> FloatArray:
        z = self.a * np.asarray(scores, dtype=np.float64) + self.b
        return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)  # stable σ


def fit_platt(scores: ArrayLike, labels: ArrayLike, *, iterations: int = 100) -> Platt:
    """Platt scaling fitted by Newton's method (converges in a handful of steps)."""
    s, y = _pairs(scores, labels)
    n_pos = float(y.sum())
    n_neg = float(y.size) - n_pos
    target = np.where(y == 1.0, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    a, b = 0.0, math.log((n_pos + 1.0) / (n_neg + 1.0))
    for _ in range(iterations):
        p = Platt(a, b)(s)
        g = np.array([np.dot(p - target, s), np.sum(p - target)])
        w = p * (1.0 - p) + 1e-12
        h = np.array([[np.dot(w, s * s), np.dot(w, s)], [np.dot(w, s), np.sum(w)]])
        h += 1e-9 * np.eye(2)  # ridge: all scores equal would make H singular
        step = np.linalg.solve(h, g)
        a, b = a - float(step[0]), b - float(step[1])
        if float(np.abs(step).max()) < 1e-10:
            break
    return Platt(a, b)


@dataclass(frozen=True, slots=True)
class Isotonic:
    """A non-decreasing piecewise-linear map through (``x``, ``y``), clamped at the ends."""

    x: FloatArray
    y: FloatArray

    def __call__(self, scores: ArrayLike) -> FloatArray:
        return np.asarray(np.interp(np.asarray(scores, dtype=np.float64), self.x, self.y))


def fit_isotonic(scores: ArrayLike, labels: ArrayLike) -> Isotonic:
    """Isotonic regression of labels on scores (ties pooled by their mean label)."""
    s, y = _pairs(scores, labels)
    xs, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=y) / counts
    fitted = isotonic_regression(means, weights=counts.astype(np.float64), increasing=True).x
    return Isotonic(xs, np.clip(np.asarray(fitted, dtype=np.float64), 0.0, 1.0))


def brier(probabilities: ArrayLike, labels: ArrayLike) -> float:
    """Mean squared error of probabilities against 0/1 labels (lower is better)."""
    p, y = _pairs(probabilities, labels)
    return float(np.mean((p - y) ** 2))


def expected_calibration_error(
    probabilities: ArrayLike, labels: ArrayLike, bins: int = 10
) -> float:
    """Σ_bins (n_b / n) · |mean p − mean y| over ``bins`` equal-width bins of p in [0, 1]."""
    p, y = _pairs(probabilities, labels)
    edges = np.clip((p * bins).astype(int), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = edges == b
        if mask.any():
            total += float(mask.sum()) / p.size * abs(float(p[mask].mean() - y[mask].mean()))
    return total
