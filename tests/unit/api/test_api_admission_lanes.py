"""QoS lanes: as load rises the edge sheds ``batch`` first, then ``interactive``."""

from __future__ import annotations

from somagent.api.admission import Admission


class Clock:
    """Deterministic time for pure arithmetic (seconds)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _lanes_admitted(adm: Admission) -> tuple[bool, bool]:
    decision = adm.decide()
    return decision.admits("interactive"), decision.admits("batch")


def test_rising_load_sheds_batch_before_interactive_and_falling_load_readmits_in_reverse() -> None:
    clock = Clock()
    # k = 4 workers, 1 s per turn: kμ = 4/s. Arrivals step up 1/s at a time.
    adm = Admission(workers=4, slo_wait_p95_s=1.0, tau_s=5.0, service_time_prior_s=1.0,
                    clock=clock)
    seen: list[tuple[float, tuple[bool, bool]]] = []
    for per_s in (1, 2, 3, 3.5, 3.9, 4.5, 6):
        for _ in range(int(per_s * 60)):  # 60 s at this rate: the EWMA settles
            clock.now += 1.0 / per_s
            adm.admitted()
        seen.append((per_s, _lanes_admitted(adm)))
    states = [s for _, s in seen]
    # Never interactive shed while batch admitted, and the order of states is monotone.
    assert (False, True) not in states
    assert states[0] == (True, True) and states[-1] == (False, False)
    assert (True, False) in states, seen
    first_batch_shed = states.index((True, False))
    first_all_shed = states.index((False, False))
    assert first_batch_shed < first_all_shed
    assert all(s == (True, True) for s in states[:first_batch_shed])
    # Quiet: the arrival rate decays; interactive comes back before batch.
    back: list[tuple[bool, bool]] = []
    for _ in range(120):
        clock.now += 0.5
        back.append(_lanes_admitted(adm))
    assert (False, True) not in back
    assert back[-1] == (True, True)
    assert back.index((True, False)) < back.index((True, True))


def test_the_shed_decision_carries_a_retry_after_for_each_shed_lane() -> None:
    clock = Clock()
    adm = Admission(workers=1, slo_wait_p95_s=300.0, tau_s=60.0, service_time_prior_s=51.0,
                    clock=clock)
    adm.admitted()  # λ = 1/60 per s, μ = 1/51: ρ = 0.85 > 0.7, P95 wait below 4 x SLO
    decision = adm.decide()
    assert decision.shed_lanes == ("batch",) and decision.admit
    assert decision.admits("interactive") and not decision.admits("batch")
    assert 1 <= decision.retry_after_s <= 60
    adm.admitted()  # ρ = 1.7: unstable, every lane shed
    decision = adm.decide()
    assert decision.shed_lanes == ("batch", "interactive") and not decision.admit
    assert decision.retry_after_s == 60


def test_admit_counts_each_admitted_turn_at_once_so_a_burst_cannot_slip_through() -> None:
    clock = Clock()
    adm = Admission(workers=1, slo_wait_p95_s=300.0, tau_s=60.0, service_time_prior_s=51.0,
                    clock=clock)
    # A burst at one instant: the first batch turn is admitted (and counted), which
    # pushes ρ to 0.85 so the rest of the batch burst is shed; interactive still enters.
    burst = [adm.admit("batch").admits("batch") for _ in range(10)]
    assert burst == [True] + [False] * 9
    assert adm.admit("interactive").admits("interactive")
    assert not adm.admit("interactive").admits("interactive")  # ρ = 1.7 now


def test_a_withdrawn_arrival_no_longer_counts_so_bad_requests_cannot_shed_good_ones() -> None:
    clock = Clock()
    adm = Admission(workers=1, slo_wait_p95_s=300.0, tau_s=60.0, service_time_prior_s=51.0,
                    clock=clock)
    # A thousand requests admitted then refused by a later guard (bad body, budget...).
    for _ in range(1000):
        assert adm.admit("batch").admits("batch")
        adm.withdraw()
    assert adm.figures()["arrival_rate"] == 0.0
    assert adm.admit("batch").admits("batch")
    adm.withdraw()
    adm.withdraw()  # more withdrawals than arrivals never make the rate negative
    assert adm.figures()["arrival_rate"] == 0.0
