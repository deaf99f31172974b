"""The brain's tunables: default weights, their bounds, learning and rollback settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from somagent.math.utility import Bounds


def _bounds() -> Bounds:
    #          λ    μ    ν    α    β    γ    τ
    return Bounds((0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.02), (5.0, 5.0, 2.0, 2.0, 2.0, 5.0, 1.0))


@dataclass(frozen=True, slots=True)
class BrainConfig:
    """Settings of :class:`~somagent.memory.brain.service.Brain` (units in names).

    ``initial_weights`` (λ, μ, ν, α, β, γ, τ): semantic similarity only at the start,
    so an untuned brain ranks exactly as plain recall does. ``learning_rate`` and
    ``ridge`` drive :func:`somagent.math.utility.step`; every ``held_out_every``-th
    feedback of a scope is held out (not trained on) and guards updates: a step whose
    held-out MRR falls more than ``rollback_tolerance`` below the last good weights' is
    rolled back. ``pool`` candidates are fetched and re-ranked for a bundle.
    """

    initial_weights: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1)
    bounds: Bounds = field(default_factory=_bounds)
    learning_rate: float = 0.05
    ridge: float = 0.01
    held_out_every: int = 4
    held_out_kept: int = 200
    rollback_tolerance: float = 0.02
    pool: int = 30
    rho_rank: int = 32
    rho_feedback_weight: float = 5.0
    rho_refresh_s: float = 1.0
    recency_scale_s: float = 7 * 24 * 3600.0
    importance_scale: float = 2.0
    hrr_dim: int = 8192
    hrr_omega: float = 1.0
    graph_alpha: float = 0.5
    graph_beta: float = 0.05
    graph_tau_steps: float = 4.0
    graph_min_conductance: float = 1e-3
    bundles_kept: int = 10_000
    calibration_min_labels: int = 40
