"""Admission control: Erlang-C brownout on measured, exponentially weighted rates.

The edge measures the turn arrival rate λ (admitted ``POST /v1/turn`` per second,
counted when admission admits them, see :meth:`Admission.admit`) and the service rate
μ (1 / mean turn duration, from ``TurnCompleted.duration_ms`` of the turns it
streams), both exponentially weighted with time constant ``tau_s``, and asks
:func:`somagent.math.queueing.brownout_for` about an M/M/k queue with k = the
configured worker count. Each turn has a QoS lane (from its session token): ``batch``
turns are refused first (ρ > 0.7 or the P95 wait above the SLO), ``interactive`` turns
only when every lane is shed (``Decision.admit`` False) → 503 with ``Retry-After``.
Until a duration has been measured, μ is ``1 / service_time_prior_s``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from somagent.math.queueing import SLO, Decision, brownout_for, mmk_metrics


class EwmaRate:
    """Events per second, exponentially weighted: λ(t) = Σ exp(−(t − tᵢ)/τ) / τ."""

    def __init__(self, tau_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.tau_s = tau_s
        self._clock = clock
        self._value = 0.0
        self._at = clock()

    def _decay(self, now: float) -> None:
        self._value *= math.exp(-max(0.0, now - self._at) / self.tau_s)
        self._at = now

    def hit(self, count: float = 1.0) -> None:
        now = self._clock()
        self._decay(now)
        self._value += count / self.tau_s

    def clamp(self) -> None:
        """Never below zero (a withdrawal of an arrival that has decayed meanwhile)."""
        self._value = max(0.0, self._value)

    def rate(self) -> float:
        now = self._clock()
        self._decay(now)
        return self._value


class EwmaMean:
    """Mean of observations, exponentially weighted by the time between them.

    Robust to the two ways a service-time estimate gets stuck (a brownout admits no
    turn, so nothing new is observed to correct it):

    * one observation moves the mean at most ``max_weight`` of the way (a single
      very long turn cannot set the estimate alone);
    * after ``tau_s / 3`` without observations the mean relaxes toward ``prior``
      with time constant ``tau_s / 3``. Observations closer together than that (a
      working platform) are not affected.
    """

    def __init__(
        self,
        tau_s: float,
        prior: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_weight: float = 0.2,
    ) -> None:
        self.tau_s = tau_s
        self.prior = prior
        self.max_weight = max_weight
        self._clock = clock
        self.value = prior
        self._at: float | None = None

    def current(self) -> float:
        """The estimate now: the last mean, relaxed toward the prior after a quiet spell."""
        if self._at is None:
            return self.value
        relax_s = self.tau_s / 3
        quiet_s = max(0.0, self._clock() - self._at - relax_s)
        return self.prior + (self.value - self.prior) * math.exp(-quiet_s / relax_s)

    def observe(self, x: float) -> None:
        now = self._clock()
        if self._at is None:
            self.value = x
        else:
            base = self.current()
            weight = min(self.max_weight, 1.0 - math.exp(-max(1e-3, now - self._at) / self.tau_s))
            self.value = base + weight * (x - base)
        self._at = now


class Admission:
    """Thread-safe brownout decisions for one edge process."""

    def __init__(
        self,
        *,
        workers: int,
        slo_wait_p95_s: float,
        tau_s: float,
        service_time_prior_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.workers = workers
        self.slo = SLO(wait_p95_s=slo_wait_p95_s)
        self.arrivals = EwmaRate(tau_s, clock)
        self.service_time = EwmaMean(tau_s, service_time_prior_s, clock)
        self._lock = threading.Lock()

    def decide(self) -> Decision:
        """The brownout decision on the current estimates (nothing recorded)."""
        with self._lock:
            lam = self.arrivals.rate()
            mu = 1.0 / max(1e-6, self.service_time.current())
        return brownout_for(lam, mu, self.workers, self.slo)

    def admitted(self) -> None:
        with self._lock:
            self.arrivals.hit()

    def admit(self, lane: str) -> Decision:
        """Decide for one turn in ``lane`` and, when it is admitted, count its arrival in
        the same step (under the lock).

        Counting at the decision rather than after the turn is appended means a burst
        of concurrent requests cannot all pass on the same stale estimate: each one
        admitted raises λ for the next. A request refused later by another guard (body,
        budget, rate) is taken back with :meth:`withdraw`.
        """
        with self._lock:
            lam = self.arrivals.rate()
            mu = 1.0 / max(1e-6, self.service_time.current())
            decision = brownout_for(lam, mu, self.workers, self.slo)
            if decision.admits(lane):
                self.arrivals.hit()
        return decision

    def withdraw(self) -> None:
        """Take back the arrival :meth:`admit` counted for a request that started no
        turn after all (refused by a later guard, or a replay of an earlier turn), so a
        flood of bad requests cannot make the edge shed good ones."""
        with self._lock:
            self.arrivals.hit(-1.0)
            self.arrivals.clamp()

    def served(self, duration_s: float) -> None:
        if duration_s >= 0 and math.isfinite(duration_s):
            with self._lock:
                self.service_time.observe(duration_s)

    def figures(self) -> dict[str, float]:
        """ρ, P(wait) and the P95 wait bound (s) on the current estimates (inf if unstable)."""
        with self._lock:
            lam = self.arrivals.rate()
            mu = 1.0 / max(1e-6, self.service_time.current())
        rho = lam / (self.workers * mu)
        if rho >= 1.0:
            return {"utilisation": rho, "p_wait": 1.0, "wait_p95_s": math.inf,
                    "arrival_rate": lam, "service_rate": mu}
        metrics = mmk_metrics(lam, mu, self.workers)
        return {
            "utilisation": metrics.utilisation,
            "p_wait": metrics.p_wait,
            "wait_p95_s": metrics.wait_p95_s,
            "arrival_rate": lam,
            "service_rate": mu,
        }
