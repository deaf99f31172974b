"""Conductance update against its analytic solution.

Under a constant flow f the step is the linear recurrence
C_{n+1} = r·C_n + αΔt·e_{n+1}, r = 1 − βΔt, with the exponential moving
average e_n = |f| + (e_0 − |f|)·exp(−nΔt/τ). Solving it by hand:

* warm EMA (e_n = |f|): C_n = C* + (C_0 − C*)·rⁿ with C* = α|f|/β;
* cold EMA (e_0 = 0): C_n = rⁿC_0 + αΔt Σ_{j=1..n} r^{n−j} |f|(1 − exp(−jΔt/τ)).

The tests compare the implementation with these closed forms, evaluated
independently of the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from somagent.math.conductance import ConductanceState, steady_state, update


def test_warm_steady_state_is_a_geometric_contraction() -> None:
    flows = np.array([2.0, -3.0, 0.0, 0.5])
    c0 = np.array([1.0, 10.0, 4.0, 0.0])
    alpha, beta, dt, tau = 0.8, 0.2, 0.5, 3.0
    c_star = alpha * np.abs(flows) / beta
    np.testing.assert_allclose(steady_state(flows, alpha, beta), c_star, rtol=1e-15)
    c, state = c0, ConductanceState.from_flows(flows)
    r = 1.0 - beta * dt
    for n in range(1, 60):
        c, state = update(c, flows, dt, alpha, beta, tau, state)
        np.testing.assert_allclose(c, c_star + (c0 - c_star) * r**n, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(state.ema_abs_flow, np.abs(flows), rtol=1e-15)


def test_cold_start_follows_the_closed_form() -> None:
    flows = np.array([1.5, -4.0, 0.25])
    c0 = np.array([0.3, 2.0, 7.0])
    alpha, beta, dt, tau = 1.3, 0.05, 0.4, 2.5
    r = 1.0 - beta * dt
    c, state = c0, ConductanceState.zeros(3)
    for n in range(1, 80):
        c, state = update(c, flows, dt, alpha, beta, tau, state)
        ema_n = np.abs(flows) * (1.0 - math.exp(-n * dt / tau))
        np.testing.assert_allclose(state.ema_abs_flow, ema_n, rtol=1e-12)
        expected = r**n * c0 + alpha * dt * sum(
            r ** (n - j) * np.abs(flows) * (1.0 - math.exp(-j * dt / tau)) for j in range(1, n + 1)
        )
        np.testing.assert_allclose(c, expected, rtol=1e-11)


def test_converges_to_alpha_flow_over_beta() -> None:
    flows = np.array([3.0, 0.1, -2.0])
    c, state = np.ones(3), ConductanceState.zeros(3)
    for _ in range(3000):
        c, state = update(c, flows, 0.1, 0.5, 0.25, 1.0, state)
    np.testing.assert_allclose(c, 0.5 * np.abs(flows) / 0.25, rtol=1e-9)


def test_ema_is_consistent_across_step_sizes() -> None:
    # exp(−Δt/τ) weights compose: two half steps equal one full step.
    flows = np.array([5.0, -1.0])
    start = ConductanceState(np.array([1.0, 3.0]))
    _, one = update(np.ones(2), flows, 1.0, 0.0, 0.0, 2.0, start)
    _, half = update(np.ones(2), flows, 0.5, 0.0, 0.0, 2.0, start)
    _, two = update(np.ones(2), flows, 0.5, 0.0, 0.0, 2.0, half)
    np.testing.assert_allclose(two.ema_abs_flow, one.ema_abs_flow, rtol=1e-14)


finite = st.floats(-1e6, 1e6, allow_nan=False)
nonneg = st.floats(0.0, 1e6, allow_nan=False)


@given(
    c=arrays(np.float64, 6, elements=nonneg),
    f=arrays(np.float64, 6, elements=finite),
    ema=arrays(np.float64, 6, elements=nonneg),
    dt=st.floats(1e-3, 10.0),
    alpha=st.floats(0.0, 10.0),
    beta_dt=st.floats(0.0, 0.999),
    tau=st.floats(1e-3, 100.0),
)
@settings(max_examples=150, deadline=None)
def test_update_properties(
    c: np.ndarray,
    f: np.ndarray,
    ema: np.ndarray,
    dt: float,
    alpha: float,
    beta_dt: float,
    tau: float,
) -> None:
    beta = beta_dt / dt
    c_before, f_before = c.copy(), f.copy()
    state = ConductanceState(ema)
    new_c, new_state = update(c, f, dt, alpha, beta, tau, state)
    assert np.array_equal(c, c_before) and np.array_equal(f, f_before)
    assert np.all(new_c >= 0.0) and np.all(new_state.ema_abs_flow >= 0.0)
    # The EMA moves towards |f| without overshooting.
    lo = np.minimum(ema, np.abs(f))
    hi = np.maximum(ema, np.abs(f))
    assert np.all(new_state.ema_abs_flow >= lo * (1 - 1e-12))
    assert np.all(new_state.ema_abs_flow <= hi * (1 + 1e-12))
    # The direction of flow does not matter.
    flipped, _ = update(c, -f, dt, alpha, beta, tau, state)
    np.testing.assert_array_equal(flipped, new_c)
    floored, _ = update(c, f, dt, alpha, beta, tau, state, min_conductance=1.0)
    assert np.all(floored >= 1.0)


def test_no_growth_and_no_decay_leaves_conductances_unchanged() -> None:
    c = np.array([1.0, 2.0])
    new_c, _ = update(c, np.array([9.0, 9.0]), 1.0, 0.0, 0.0, 1.0)
    np.testing.assert_array_equal(new_c, c)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dt_s": 0.0}, "dt_s"),
        ({"dt_s": -1.0}, "dt_s"),
        ({"alpha": -0.1}, "alpha"),
        ({"beta": -0.1}, "beta"),
        ({"beta": 2.0}, "beta \\* dt_s"),
        ({"tau_s": 0.0}, "tau_s"),
        ({"tau_s": math.inf}, "tau_s"),
        ({"flows": np.ones(3)}, "equal shape"),
        ({"conductances": np.array([-1.0, 1.0])}, "conductances"),
        ({"flows": np.array([np.nan, 1.0])}, "flows"),
        ({"state": ConductanceState.zeros(3)}, "state"),
        ({"min_conductance": -1.0}, "min_conductance"),
    ],
)
def test_invalid_input_is_rejected(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "conductances": np.ones(2),
        "flows": np.ones(2),
        "dt_s": 1.0,
        "alpha": 0.1,
        "beta": 0.1,
        "tau_s": 1.0,
        "state": None,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        update(**args)  # type: ignore[arg-type]


def test_invalid_state_and_steady_state_inputs() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        ConductanceState(np.array([-1.0]))
    with pytest.raises(ValueError, match="1-D"):
        ConductanceState(np.ones((2, 2)))
    with pytest.raises(ValueError, match="beta"):
        steady_state(np.ones(2), 1.0, 0.0)
