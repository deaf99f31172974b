"""Utility weights per (tenant, scope), learned online from feedback, with rollback.

Per scope (a capsule, or ``None`` for the tenant's own weights) the tuner keeps the
weights θ = (λ, μ, ν, α, β, γ, τ), the last good weights, a bounded set of held-out
examples and a Platt calibration. A feedback :class:`~somagent.math.utility.Example` is

* **trained on** (not held out): one projected gradient step
  (:func:`somagent.math.utility.step`); then the held-out MRR of the stepped weights is
  compared with the last good weights' on the same held-out set
  (:func:`~somagent.math.utility.decide_rollback`): a drop of more than the tolerance
  rolls back to the last good weights; as good or better makes them the last good;
* **held out**: added to the held-out set (and the calibration data); the current
  weights are then re-checked against the last good ones on the enlarged set, so a
  drift that only shows on new held-out data is rolled back as well.

Confidence: P(useful | u) by Platt scaling of the utility, fitted on the scope's
held-out (utility, useful) pairs once ``calibration_min_labels`` exist, a fixed
logistic before that. Deterministic: the same examples in the same order give the
same weights bit for bit (the replay of ``BrainFeedbackGiven`` relies on it).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from somagent.math.calibration import Platt, fit_platt
from somagent.math.utility import Example, decide_rollback, mean_reciprocal_rank, step, utilities
from somagent.memory.brain.config import BrainConfig

FloatArray = NDArray[np.float64]
Key = tuple[str, str | None]
DEFAULT_CONFIDENCE = Platt(8.0, -4.0)


@dataclass(frozen=True, slots=True)
class WeightsUpdate:
    """What one feedback did to a scope's weights (the ``BrainWeightsUpdated`` payload)."""

    before: FloatArray
    after: FloatArray
    last_good: FloatArray
    mrr_candidate: float
    mrr_good: float
    rolled_back: bool
    step: int


@dataclass
class _Scope:
    weights: FloatArray
    last_good: FloatArray
    held_out: deque[Example]
    scores: list[float] = field(default_factory=list)
    labels: list[float] = field(default_factory=list)
    platt: Platt | None = None
    steps: int = 0


class Tuner:
    """The weights of every scope; tenants and capsules never share weights."""

    def __init__(self, config: BrainConfig) -> None:
        self.config = config
        self.prior = np.asarray(config.initial_weights, dtype=np.float64)
        self._scopes: dict[Key, _Scope] = {}

    def _scope(self, key: Key) -> _Scope:
        found = self._scopes.get(key)
        if found is None:
            found = _Scope(
                self.prior.copy(), self.prior.copy(), deque(maxlen=self.config.held_out_kept)
            )
            self._scopes[key] = found
        return found

    def weights(self, key: Key) -> FloatArray:
        """The weights in force for ``key`` (a copy; the prior for a new scope)."""
        found = self._scopes.get(key)
        return (found.weights if found else self.prior).copy()

    def confidence(self, key: Key, utility: FloatArray) -> FloatArray:
        """P(useful) for utilities ``utility`` under ``key``'s calibration."""
        found = self._scopes.get(key)
        platt = found.platt if found and found.platt else DEFAULT_CONFIDENCE
        return platt(utility)

    def apply(self, key: Key, example: Example, held_out: bool) -> WeightsUpdate:
        """Learn from (or hold out) one example; see the module doc."""
        scope = self._scope(key)
        before = scope.weights.copy()
        if held_out:
            scope.held_out.append(example)
            self._calibrate(scope, example)
            candidate = scope.weights
        else:
            candidate = step(
                example,
                scope.weights,
                self.prior,
                self.config.bounds,
                learning_rate=self.config.learning_rate,
                ridge=self.config.ridge,
            )
        held = list(scope.held_out)
        mrr_candidate = mean_reciprocal_rank(held, candidate)
        mrr_good = mean_reciprocal_rank(held, scope.last_good)
        roll_back, promote = decide_rollback(
            mrr_candidate, mrr_good, self.config.rollback_tolerance
        )
        scope.weights = scope.last_good.copy() if roll_back else np.array(candidate)
        if promote:
            scope.last_good = scope.weights.copy()
        scope.steps += 1
        return WeightsUpdate(
            before,
            scope.weights.copy(),
            scope.last_good.copy(),
            mrr_candidate,
            mrr_good,
            roll_back,
            scope.steps,
        )

    def _calibrate(self, scope: _Scope, example: Example) -> None:
        u = utilities(example.features, scope.weights)
        scope.scores.extend(float(x) for x in u)
        scope.labels.extend(float(y) for y in example.useful)
        keep = self.config.held_out_kept * 10
        scope.scores, scope.labels = scope.scores[-keep:], scope.labels[-keep:]
        if sum(scope.labels) >= 1 and len(scope.labels) >= self.config.calibration_min_labels:
            fitted = fit_platt(scope.scores, scope.labels)
            if math.isfinite(fitted.a) and math.isfinite(fitted.b):
                scope.platt = fitted

    def set_weights(self, key: Key, weights: FloatArray) -> None:
        """Replace a scope's weights (and last good weights): the operator's reset."""
        scope = self._scope(key)
        scope.weights = np.array(weights, dtype=np.float64)
        scope.last_good = scope.weights.copy()
