"""Platt and isotonic calibration: recover a known link, stay monotone, improve Brier."""

from __future__ import annotations

import numpy as np
import pytest

from somagent.math.calibration import (
    brier,
    expected_calibration_error,
    fit_isotonic,
    fit_platt,
)


def synthetic(n: int, a: float, b: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = rng.uniform(-1, 1, size=n)
    p = 1 / (1 + np.exp(-(a * s + b)))
    return s, (rng.uniform(size=n) < p).astype(float)


def test_platt_recovers_the_logistic_link() -> None:
    s, y = synthetic(20_000, 4.0, -1.0, 0)
    fit = fit_platt(s, y)
    # Maximum likelihood on 20k samples: within a few standard errors of the truth.
    assert fit.a == pytest.approx(4.0, abs=0.25)
    assert fit.b == pytest.approx(-1.0, abs=0.1)
    assert expected_calibration_error(fit(s), y) < 0.02


def test_isotonic_is_monotone_and_calibrated() -> None:
    s, y = synthetic(5_000, 6.0, 0.5, 1)
    fit = fit_isotonic(s, y)
    grid = np.linspace(-1.5, 1.5, 301)
    p = fit(grid)
    assert np.all(np.diff(p) >= -1e-12) and p.min() >= 0 and p.max() <= 1
    assert expected_calibration_error(fit(s), y) < 0.02


def test_calibration_beats_raw_scores_on_brier() -> None:
    s, y = synthetic(5_000, 3.0, -2.0, 2)
    raw = np.clip((s + 1) / 2, 0, 1)  # a score read naively as a probability
    assert brier(fit_platt(s, y)(s), y) < brier(raw, y)


def test_separable_data_stays_finite() -> None:
    fit = fit_platt([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])
    assert np.isfinite(fit.a) and fit.a > 0
    p = fit([0.1, 0.9])
    assert 0 < p[0] < 0.5 < p[1] < 1


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        fit_platt([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError):
        fit_isotonic([], [])
