"""Conductance autoscaling: edges that carry flow grow, idle edges decay.

One step of length Δt (``dt_s`` seconds) does, per edge e (all arrays shape (m,)):

    w      = 1 − exp(−Δt / τ)                   (exact EMA weight for time constant τ)
    ema_e ← ema_e + w · (|f_e| − ema_e)         (EMA_τ of the absolute flow)
    C_e   ← (1 − βΔt) · C_e + αΔt · ema_e       (decay plus reinforcement)

``alpha`` (α >= 0) is the growth per second per unit flow, ``beta`` (β >= 0) the
decay rate per second; β·Δt < 1 keeps the decay factor positive. Units: C in
conductance units, f in flow units (e.g. requests per second); α has units of
conductance per flow per second.

Steady state: under a constant flow f the EMA converges to |f| and C converges
to C* = α|f|/β (β > 0); once the EMA has converged, C_n − C* = (1 − βΔt)ⁿ
(C_0 − C*) exactly, so the step is a contraction towards C*. Both facts are
checked analytically in the tests. Pure: inputs are never modified.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["ConductanceState", "steady_state", "update"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ConductanceState:
    """Carried between :func:`update` calls: the EMA of |flow| per edge, shape (m,)."""

    ema_abs_flow: FloatArray

    def __post_init__(self) -> None:
        ema = np.array(self.ema_abs_flow, dtype=np.float64, copy=True)
        if ema.ndim != 1:
            raise ValueError(f"ema_abs_flow must be 1-D (m,), got shape {ema.shape}")
        if not np.all(np.isfinite(ema)) or np.any(ema < 0.0):
            raise ValueError("ema_abs_flow must be finite and >= 0")
        ema.setflags(write=False)
        object.__setattr__(self, "ema_abs_flow", ema)

    @classmethod
    def zeros(cls, n_edges: int) -> ConductanceState:
        """A cold start: the EMA begins at 0 and warms up over a few τ."""
        return cls(np.zeros(int(n_edges)))

    @classmethod
    def from_flows(cls, flows: ArrayLike) -> ConductanceState:
        """A warm start: the EMA begins at the observed |flows|."""
        return cls(np.abs(np.asarray(flows, dtype=np.float64)))


def _check_scalar(name: str, value: float, *, positive: bool) -> float:
    x = float(value)
    if not math.isfinite(x) or (x <= 0.0 if positive else x < 0.0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return x


def update(
    conductances: ArrayLike,
    flows: ArrayLike,
    dt_s: float,
    alpha: float,
    beta: float,
    tau_s: float,
    state: ConductanceState | None = None,
    *,
    min_conductance: float = 0.0,
) -> tuple[FloatArray, ConductanceState]:
    """One autoscaling step; returns ``(new_conductances, new_state)``.

    ``conductances`` (finite, >= 0) and ``flows`` (finite, any sign) must share
    shape (m,). ``dt_s`` > 0 and ``tau_s`` > 0 seconds, ``alpha`` >= 0,
    ``beta`` >= 0 with ``beta * dt_s`` < 1. ``state`` None starts the EMA at
    the current |flows| (no cold-start bias); pass ``ConductanceState.zeros(m)``
    for a cold start. ``min_conductance`` >= 0 floors the result so a routing
    graph built from it stays connected (a floor of 0 lets idle edges decay
    towards 0). Raises ``ValueError`` on any violation.
    """
    c = np.asarray(conductances, dtype=np.float64)
    f = np.asarray(flows, dtype=np.float64)
    if c.ndim != 1 or f.shape != c.shape:
        raise ValueError(
            f"conductances and flows must be 1-D of equal shape, got {c.shape} and {f.shape}"
        )
    if not np.all(np.isfinite(c)) or np.any(c < 0.0):
        raise ValueError("conductances must be finite and >= 0")
    if not np.all(np.isfinite(f)):
        raise ValueError("flows must be finite")
    dt = _check_scalar("dt_s", dt_s, positive=True)
    a = _check_scalar("alpha", alpha, positive=False)
    b = _check_scalar("beta", beta, positive=False)
    tau = _check_scalar("tau_s", tau_s, positive=True)
    floor = _check_scalar("min_conductance", min_conductance, positive=False)
    if b * dt >= 1.0:
        raise ValueError(f"beta * dt_s must be < 1 for a positive decay factor, got {b * dt}")
    abs_f = np.abs(f)
    if state is None:
        ema = abs_f.copy()
    else:
        if state.ema_abs_flow.shape != c.shape:
            raise ValueError(
                f"state has {state.ema_abs_flow.shape[0]} edges, conductances have {c.shape[0]}"
            )
        # Convex form keeps the EMA between its old value and |f| under rounding.
        keep = math.exp(-dt / tau)
        ema = keep * state.ema_abs_flow + (-math.expm1(-dt / tau)) * abs_f
    new_c = (1.0 - b * dt) * c + a * dt * ema
    if floor > 0.0:
        new_c = np.maximum(new_c, floor)
    return new_c, ConductanceState(ema)


def steady_state(flows: ArrayLike, alpha: float, beta: float) -> FloatArray:
    """C* = α|f|/β, shape of ``flows``: the fixed point of :func:`update` under constant flows.

    Requires ``beta`` > 0 (with β = 0 conductances grow without bound).
    """
    a = _check_scalar("alpha", alpha, positive=False)
    b = _check_scalar("beta", beta, positive=True)
    f = np.asarray(flows, dtype=np.float64)
    if not np.all(np.isfinite(f)):
        raise ValueError("flows must be finite")
    return np.asarray(a * np.abs(f) / b, dtype=np.float64)
