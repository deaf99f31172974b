"""Routing and conductance together: the Physarum shortest-path result.

With unit edge lengths, dC/dt = α|f| − βC on the electrical flow is the
Physarum polycephalum model of Tero, Kobayashi & Nakagaki (J. Theor. Biol. 244,
2007); Bonifaci, Mehlhorn & Varma (SODA 2012) proved that it converges to the
shortest source-sink path. The discrete loop route → update must do the same,
and settle at the analytic steady state C* = α·amount/β on that path.
"""

from __future__ import annotations

import numpy as np
import pytest

from somagent.math.conductance import ConductanceState, update
from somagent.math.routing import Graph, route


@pytest.mark.parametrize("amount", [1.0, 5.0])
def test_feedback_loop_concentrates_on_the_shortest_path(amount: float) -> None:
    # Source 0, sink 1. Short path 0-2-1 (2 hops); long paths 0-3-4-1 and 0-5-6-7-1.
    hops = [(0, 2), (2, 1), (0, 3), (3, 4), (4, 1), (0, 5), (5, 6), (6, 7), (7, 1)]
    graph = Graph.from_edges(8, [(u, v, 1.0) for u, v in hops])
    alpha, beta = 0.5, 1.0
    c = np.asarray(graph.conductances)
    state: ConductanceState | None = None
    for _ in range(600):
        r = route(graph.with_conductances(c), 0, 1, amount=amount)
        c, state = update(c, r.flows, 0.1, alpha, beta, 0.05, state, min_conductance=1e-12)
    assert r.flows[0] == pytest.approx(amount, rel=1e-6)
    assert r.flows[1] == pytest.approx(amount, rel=1e-6)
    assert np.all(np.abs(r.flows[2:]) < 1e-6 * amount)
    np.testing.assert_allclose(c[:2], alpha * amount / beta, rtol=1e-6)
