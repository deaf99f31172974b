"""EWMA rate and mean estimators and the brownout decision they feed."""

from __future__ import annotations

import math

import pytest

from somagent.api.admission import Admission, EwmaMean, EwmaRate


class Clock:
    """Deterministic time for pure arithmetic (seconds)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_ewma_rate_converges_to_a_steady_rate() -> None:
    clock = Clock()
    rate = EwmaRate(tau_s=10.0, clock=clock)
    for _ in range(2000):  # 5 per second for 400 s
        clock.now += 0.2
        rate.hit()
    assert rate.rate() == pytest.approx(5.0, rel=0.03)
    clock.now += 10.0
    assert rate.rate() == pytest.approx(5.0 * math.exp(-1), rel=0.03)


def test_ewma_mean_starts_at_first_observation_then_tracks() -> None:
    clock = Clock()
    mean = EwmaMean(tau_s=5.0, prior=100.0, clock=clock)
    assert mean.value == 100.0
    mean.observe(2.0)
    assert mean.value == 2.0
    for _ in range(200):
        clock.now += 1.0
        mean.observe(4.0)
    assert mean.value == pytest.approx(4.0, abs=1e-6)


def test_admission_admits_light_load_and_sheds_unstable_load() -> None:
    clock = Clock()
    adm = Admission(workers=4, slo_wait_p95_s=1.0, tau_s=10.0, service_time_prior_s=1.0,
                    clock=clock)
    assert adm.decide().admit and adm.decide().reason == "ok"
    for _ in range(100):  # 2 per second against k·μ = 4 per second: ρ = 0.5
        clock.now += 0.5
        adm.admitted()
    figures = adm.figures()
    assert figures["utilisation"] == pytest.approx(0.5, rel=0.05)
    assert 0 < figures["p_wait"] < 1 and figures["wait_p95_s"] >= 0
    assert adm.decide().admit
    for _ in range(400):  # 10 per second: unstable
        clock.now += 0.1
        adm.admitted()
    decision = adm.decide()
    assert not decision.admit and decision.retry_after_s >= 1
    assert adm.figures()["wait_p95_s"] == math.inf


def test_one_long_turn_cannot_set_the_service_time_alone() -> None:
    clock = Clock()
    mean = EwmaMean(tau_s=30.0, prior=2.0, clock=clock)
    mean.observe(2.0)
    clock.now += 120.0  # a long quiet spell, then a 56 s turn completes
    mean.observe(56.0)
    assert mean.current() <= 2.0 + 0.2 * 54.0 + 1e-9


def test_a_quiet_spell_relaxes_the_estimate_to_the_prior() -> None:
    clock = Clock()
    mean = EwmaMean(tau_s=30.0, prior=2.0, clock=clock, max_weight=1.0)
    mean.observe(60.0)
    assert mean.current() == 60.0
    clock.now += 10.0  # within tau/3: untouched
    assert mean.current() == pytest.approx(60.0)
    clock.now += 60.0  # six relaxation constants later: back near the prior
    assert mean.current() == pytest.approx(2.0, abs=0.2)


def test_shedding_stops_once_the_estimate_relaxes() -> None:
    clock = Clock()
    adm = Admission(workers=8, slo_wait_p95_s=2.0, tau_s=30.0, service_time_prior_s=2.0,
                    clock=clock)
    for _ in range(300):  # 5 turns/s admitted and served at 1 s each
        clock.now += 0.2
        adm.admitted()
        adm.served(1.0)
    for _ in range(40):  # an outage: every turn takes 120 s
        clock.now += 0.2
        adm.served(120.0)
    assert not adm.decide().admit
    clock.now += 60.0  # nothing admitted, nothing served for a minute
    assert adm.decide().admit
