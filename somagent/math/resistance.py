"""Effective resistance between two nodes of a conductance graph.

R_eff(u, v) = (e_u − e_v)ᵀ L⁺ (e_u − e_v): the voltage between u and v when one unit
of current enters at u and leaves at v (Kirchhoff). Computed on the connected
component holding u with :func:`somagent.math.routing.potentials` (sparse LU or CG);
``inf`` when u and v are not connected, 0 when u == v. Lower means better connected:
parallel paths and higher conductances both lower it (series resistances add,
parallel conductances add). Pure; invalid input raises ``ValueError``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse.csgraph import connected_components

from somagent.math.routing import Graph, potentials

__all__ = ["effective_resistance"]


def effective_resistance(graph: Graph, u: int, v: int) -> float:
    """R_eff between nodes ``u`` and ``v`` (see the module doc)."""
    n = graph.n_nodes
    for name, node in (("u", u), ("v", v)):
        if isinstance(node, bool) or not 0 <= int(node) < n:
            raise ValueError(f"{name} must be a node id in [0, {n}), got {node!r}")
    if u == v:
        return 0.0
    _, labels = connected_components(graph.laplacian(), directed=False)
    if labels[u] != labels[v]:
        return math.inf
    nodes = np.flatnonzero(labels == labels[u])
    index = {int(node): i for i, node in enumerate(nodes)}
    keep = labels[graph.edges[:, 0]] == labels[u]
    edges = np.array([[index[int(a)], index[int(b)]] for a, b in graph.edges[keep]], dtype=np.int64)
    sub = Graph(len(nodes), edges.reshape(-1, 2), graph.conductances[keep])
    injections = np.zeros(len(nodes))
    injections[index[u]], injections[index[v]] = 1.0, -1.0
    phi = potentials(sub, injections, ground=index[v])
    return float(phi[index[u]])
