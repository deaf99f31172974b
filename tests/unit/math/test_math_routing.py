"""Potential routing against independent references.

* A dense solve: ``numpy.linalg.lstsq`` on the full (singular) Laplacian built
  entry by entry from the edge list, shifted so φ[ground] = 0.
* Circuit-theory closed forms: resistors in series add, in parallel their
  conductances add; the effective resistance between two nodes of the complete
  graph K_n with unit conductances is 2/n; on the path P_n it is n − 1.
* Kirchhoff's current law checked edge by edge in plain Python.
* Thomson's principle: the electrical flow has less energy Σ f²/C than any
  other flow with the same injections (flow + any cycle flow).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from somagent.math.routing import (
    KIRCHHOFF_TOL,
    Graph,
    divergence,
    edge_flows,
    potentials,
    route,
)


def random_connected_graph(n: int, extra: int, seed: int) -> Graph:
    rng = np.random.default_rng(seed)
    # A random spanning tree keeps it connected; extra edges add cycles.
    tree = [(int(rng.integers(0, i)), i) for i in range(1, n)]
    more = []
    for _ in range(extra):
        u, v = rng.integers(0, n, 2)
        if u != v:
            more.append((int(u), int(v)))
    edges = np.array(tree + more, dtype=np.int64).reshape(-1, 2)
    return Graph(n, edges, rng.uniform(0.1, 10.0, len(edges)))


def dense_reference(graph: Graph, b: np.ndarray, ground: int) -> np.ndarray:
    n = graph.n_nodes
    lap = np.zeros((n, n))
    for (u, v), c in zip(graph.edges, graph.conductances, strict=True):
        lap[u, u] += c
        lap[v, v] += c
        lap[u, v] -= c
        lap[v, u] -= c
    phi = np.linalg.lstsq(lap, b, rcond=None)[0]
    return np.asarray(phi - phi[ground], dtype=np.float64)


def balanced(n: int, seed: int) -> np.ndarray:
    b = np.random.default_rng(seed).normal(size=n)
    return np.asarray(b - b.mean(), dtype=np.float64)


@given(
    n=st.integers(2, 40),
    extra=st.integers(0, 60),
    seed=st.integers(0, 10_000),
    ground_frac=st.floats(0.0, 0.999),
)
@settings(max_examples=60, deadline=None)
def test_potentials_match_dense_solve(n: int, extra: int, seed: int, ground_frac: float) -> None:
    graph = random_connected_graph(n, extra, seed)
    b = balanced(n, seed + 1)
    ground = int(ground_frac * n)
    for method in ("direct", "cg"):
        phi = potentials(graph, b, ground=ground, method=method)
        ref = dense_reference(graph, b, ground)
        scale = max(1.0, float(np.abs(ref).max()))
        assert phi[ground] == 0.0
        np.testing.assert_allclose(phi, ref, rtol=0, atol=1e-8 * scale)


@given(n=st.integers(2, 60), extra=st.integers(0, 80), seed=st.integers(0, 10_000))
@settings(max_examples=60, deadline=None)
def test_flows_conserve_at_every_node(n: int, extra: int, seed: int) -> None:
    graph = random_connected_graph(n, extra, seed)
    b = 100.0 * balanced(n, seed + 7)
    flows = edge_flows(graph, potentials(graph, b))
    net = [0.0] * n
    for (u, v), f in zip(graph.edges.tolist(), flows.tolist(), strict=True):
        net[u] += f
        net[v] -= f
    tol = KIRCHHOFF_TOL * max(1.0, float(np.abs(b).max()))
    assert max(abs(x - y) for x, y in zip(net, b.tolist(), strict=True)) <= tol
    np.testing.assert_allclose(divergence(graph, flows), net, rtol=0, atol=1e-12 * 100)


def test_cg_path_conserves_on_a_large_sparse_graph() -> None:
    graph = random_connected_graph(20_000, 40_000, seed=3)
    b = balanced(20_000, 4)
    phi = potentials(graph, b)  # auto picks CG above DIRECT_MAX_NODES
    residual = np.abs(divergence(graph, edge_flows(graph, phi)) - b).max()
    assert residual <= KIRCHHOFF_TOL * max(1.0, float(np.abs(b).max()))


def test_series_and_parallel_resistors() -> None:
    # 0 -(2)- 1 -(3)- 2 in series with a parallel pair 2 =(1, 4)= 3.
    g = Graph.from_edges(4, [(0, 1, 2.0), (1, 2, 3.0), (2, 3, 1.0), (2, 3, 4.0)])
    r = route(g, 0, 3, amount=2.0)
    assert r.effective_resistance == pytest.approx(1 / 2 + 1 / 3 + 1 / 5, rel=1e-12)
    assert r.potentials[3] == 0.0
    np.testing.assert_allclose(r.flows, [2.0, 2.0, 2.0 / 5, 8.0 / 5], rtol=1e-12)


@pytest.mark.parametrize("n", [3, 5, 12])
def test_complete_and_path_graph_resistances(n: int) -> None:
    complete = Graph.from_edges(n, [(i, j, 1.0) for i in range(n) for j in range(i + 1, n)])
    assert route(complete, 0, n - 1).effective_resistance == pytest.approx(2 / n, rel=1e-12)
    path = Graph.from_edges(n, [(i, i + 1, 1.0) for i in range(n - 1)])
    assert route(path, 0, n - 1).effective_resistance == pytest.approx(n - 1, rel=1e-12)


@given(n=st.integers(3, 25), extra=st.integers(1, 40), seed=st.integers(0, 10_000))
@settings(max_examples=40, deadline=None)
def test_route_flows_downhill_with_least_energy(n: int, extra: int, seed: int) -> None:
    graph = random_connected_graph(n, extra, seed)
    r = route(graph, 0, n - 1, amount=3.0)
    u, v = graph.edges[:, 0], graph.edges[:, 1]
    # Flow runs along −∇φ: from the higher to the lower potential.
    drop = r.potentials[u] - r.potentials[v]
    assert np.all(r.flows * drop >= 0.0)
    assert r.potentials.max() == pytest.approx(r.potentials[0])
    assert r.potentials.min() == pytest.approx(0.0, abs=1e-12)
    # Thomson: adding any circulation (divergence-free flow) raises the energy.
    energy = float(np.sum(r.flows**2 / graph.conductances))
    rng = np.random.default_rng(seed)
    inc = graph.incidence().toarray()
    null = np.linalg.svd(inc.T)[2][np.linalg.matrix_rank(inc) :]
    for _ in range(3):
        if null.shape[0] == 0:
            break
        cycle = rng.normal(size=null.shape[0]) @ null
        other = r.flows + cycle
        assert float(np.sum(other**2 / graph.conductances)) >= energy - 1e-9
    split = r.split(graph, 0)
    assert sum(split.values()) == pytest.approx(1.0)
    assert r.split(graph, n - 1) == {}


def test_route_effective_resistance_matches_energy() -> None:
    graph = random_connected_graph(30, 50, seed=11)
    r = route(graph, 4, 17, amount=1.0)
    energy = float(np.sum(r.flows**2 / graph.conductances))
    assert r.effective_resistance == pytest.approx(energy, rel=1e-9)


def test_single_node_and_zero_injection() -> None:
    lone = Graph(1, np.zeros((0, 2), dtype=np.int64), np.zeros(0))
    assert potentials(lone, [0.0]).tolist() == [0.0]
    g = Graph.from_edges(3, [(0, 1, 1.0), (1, 2, 1.0)])
    assert potentials(g, np.zeros(3)).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Graph(0, np.zeros((0, 2), dtype=np.int64), np.zeros(0)), "n_nodes"),
        (lambda: Graph(3, np.array([[0, 1, 2]]), np.ones(1)), "shape"),
        (lambda: Graph(3, np.array([[0, 1]]), np.ones(2)), "conductances"),
        (lambda: Graph(3, np.array([[0, 3]]), np.ones(1)), "endpoints"),
        (lambda: Graph(3, np.array([[1, 1]]), np.ones(1)), "self-loop"),
        (lambda: Graph(3, np.array([[0, 1]]), np.array([-1.0])), "> 0"),
        (lambda: Graph(3, np.array([[0, 1]]), np.array([np.nan])), "finite"),
    ],
)
def test_invalid_graphs_are_rejected(make: object, message: str) -> None:
    assert callable(make)
    with pytest.raises(ValueError, match=message):
        make()


def test_invalid_solves_are_rejected() -> None:
    disconnected = Graph.from_edges(4, [(0, 1, 1.0), (2, 3, 1.0)])
    with pytest.raises(ValueError, match="disconnected"):
        potentials(disconnected, [1.0, -1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="disconnected"):
        route(disconnected, 0, 1)
    g = Graph.from_edges(3, [(0, 1, 1.0), (1, 2, 1.0)])
    with pytest.raises(ValueError, match="sum to 0"):
        potentials(g, [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="shape"):
        potentials(g, [1.0, -1.0])
    with pytest.raises(ValueError, match="finite"):
        potentials(g, [np.inf, -np.inf, 0.0])
    with pytest.raises(ValueError, match="ground"):
        potentials(g, [0.0, 0.0, 0.0], ground=3)
    with pytest.raises(ValueError, match="method"):
        potentials(g, [0.0, 0.0, 0.0], method="magic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="differ"):
        route(g, 1, 1)
    with pytest.raises(ValueError, match="amount"):
        route(g, 0, 2, amount=-1.0)
    with pytest.raises(ValueError, match="source"):
        route(g, 5, 2)
    with pytest.raises(ValueError, match="shape"):
        edge_flows(g, [0.0])
    with pytest.raises(ValueError, match="shape"):
        divergence(g, [0.0])


def test_graph_arrays_are_read_only_copies() -> None:
    edges = np.array([[0, 1]])
    g = Graph(2, edges, np.ones(1))
    edges[0, 1] = 0
    assert g.edges.tolist() == [[0, 1]]
    with pytest.raises(ValueError):
        g.conductances[0] = 5.0
    assert g.with_conductances([2.0]).conductances.tolist() == [2.0]
