"""The ranking formula: Wilson lower bound against published values and brute force,
percentiles as ClickHouse's quantileExact, and the ordering rules."""

from __future__ import annotations

import math

import pytest
from scipy.stats import norm

from somagent.artifacts.ranking import (
    TurnSample,
    VersionStats,
    p95,
    rank,
    summarise,
    wilson_lower,
)


def _wilson_reference(k: int, n: int, z: float) -> float:
    # Wilson (1927) as usually written: centre ± half-width over (1 + z²/n).
    p = k / n
    denominator = 1 + z**2 / n
    centre = p + z**2 / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return (centre - half) / denominator


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (3, 3), (5, 10), (95, 100), (1, 1000)])
def test_wilson_lower_matches_the_reference(k: int, n: int) -> None:
    z = norm.ppf(0.975)
    assert wilson_lower(k, n) == pytest.approx(max(0.0, _wilson_reference(k, n, z)), abs=1e-12)


def test_published_values_and_small_sample_robustness() -> None:
    # 1/1 is worth much less than 95/100; 0 turns score 0.
    assert wilson_lower(1, 1) == pytest.approx(0.2065, abs=1e-4)
    assert wilson_lower(95, 100) == pytest.approx(0.8882, abs=1e-4)
    assert wilson_lower(0, 0) == 0.0
    with pytest.raises(ValueError):
        wilson_lower(3, 2)


def test_p95_is_quantile_exact() -> None:
    assert p95([]) == 0.0
    assert p95(list(range(1, 21))) == 20.0  # index floor(0.95 * 20) = 19
    assert p95(list(range(1, 101))) == 96.0  # index 95
    assert p95([7]) == 7.0


def test_summarise_counts_and_orders() -> None:
    samples = [TurnSample("a", "1", 100, False, 2 * 10**12)] * 3 + [
        TurnSample("b", "1", 100, True, 0), TurnSample("b", "1", 100, False, 0),
        TurnSample("c", "1", 5000, False, 0)]
    out = summarise(samples, {("c", "1"): 1000}, 10_000)
    by = {s.agent_id: s for s in out}
    assert (by["a"].turns, by["a"].good, by["a"].cost_per_turn_cents) == (3, 3, 2.0)
    assert (by["b"].succeeded, by["b"].good) == (1, 1)
    assert (by["c"].sla_breaches, by["c"].good) == (1, 0)
    assert [s.agent_id for s in out] == ["a", "b", "c"]


def test_ties_break_on_latency_then_cost() -> None:
    fast = VersionStats("x", "1", 10, 10, 0, 10, 50.0, 1.0)
    slow = VersionStats("y", "1", 10, 10, 0, 10, 80.0, 0.5)
    cheap = VersionStats("z", "1", 10, 10, 0, 10, 50.0, 0.5)
    assert [s.agent_id for s in rank([slow, fast, cheap])] == ["z", "x", "y"]
