"""Effective resistance against circuit laws and the dense pseudo-inverse."""

from __future__ import annotations

import math

import numpy as np
import pytest

from somagent.math.resistance import effective_resistance
from somagent.math.routing import Graph


def test_series_and_parallel() -> None:
    series = Graph.from_edges(3, [(0, 1, 2.0), (1, 2, 4.0)])
    assert effective_resistance(series, 0, 2) == pytest.approx(0.5 + 0.25)
    parallel = Graph.from_edges(2, [(0, 1, 2.0), (0, 1, 3.0)])
    assert effective_resistance(parallel, 0, 1) == pytest.approx(1 / 5)


def test_matches_the_pseudo_inverse() -> None:
    rng = np.random.default_rng(0)
    edges = [
        (i, j, float(rng.uniform(0.5, 3)))
        for i in range(8)
        for j in range(i + 1, 8)
        if rng.uniform() < 0.5
    ]
    edges += [(i, i + 1, 1.0) for i in range(7)]
    g = Graph.from_edges(8, edges)
    lplus = np.linalg.pinv(g.laplacian().toarray())
    for u, v in [(0, 7), (2, 5), (1, 3)]:
        e = np.zeros(8)
        e[u], e[v] = 1, -1
        assert effective_resistance(g, u, v) == pytest.approx(e @ lplus @ e, rel=1e-9)


def test_disconnected_and_same_node() -> None:
    g = Graph.from_edges(4, [(0, 1, 1.0), (2, 3, 1.0)])
    assert effective_resistance(g, 0, 3) == math.inf
    assert effective_resistance(g, 2, 2) == 0.0
    assert effective_resistance(g, 2, 3) == pytest.approx(1.0)
