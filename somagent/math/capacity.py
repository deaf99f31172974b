"""One JSON-able capacity report combining queue sizing, routing and autoscaling.

Used by ``somagent capacity``: given the demand (requests per second), the
per-server service rate and the SLO, it sizes the pool with
:func:`~somagent.math.queueing.servers_for_slo`, reports the M/M/k figures and
the admission decision at that size, routes the demand over a small named
worker graph (:func:`~somagent.math.routing.route`) and shows one conductance
autoscaling step (:func:`~somagent.math.conductance.update`) and its steady state.

A graph spec is a mapping (JSON object)::

    {"nodes": ["ingress", "region-a", ...],
     "edges": [["ingress", "region-a", 2.0], ...],   # [from, to, conductance > 0]
     "source": "ingress", "sink": "egress",
     "conductance": {"dt_s": 1.0, "alpha": 0.5, "beta": 0.1, "tau_s": 10.0}}

``conductance`` is optional (those defaults apply). :data:`DEFAULT_GRAPH_SPEC`
is a two-region, three-worker example.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from somagent.math.conductance import steady_state, update
from somagent.math.queueing import SLO, brownout, mmk_metrics, servers_for_slo
from somagent.math.routing import Graph, divergence, route

__all__ = ["DEFAULT_GRAPH_SPEC", "capacity_report"]

DEFAULT_GRAPH_SPEC: Mapping[str, Any] = {
    "nodes": ["ingress", "region-a", "region-b", "worker-a1", "worker-a2", "worker-b1", "egress"],
    "edges": [
        ["ingress", "region-a", 2.0],
        ["ingress", "region-b", 1.0],
        ["region-a", "region-b", 0.5],
        ["region-a", "worker-a1", 1.0],
        ["region-a", "worker-a2", 1.0],
        ["region-b", "worker-b1", 2.0],
        ["worker-a1", "egress", 1.0],
        ["worker-a2", "egress", 1.0],
        ["worker-b1", "egress", 1.0],
    ],
    "source": "ingress",
    "sink": "egress",
    "conductance": {"dt_s": 1.0, "alpha": 0.5, "beta": 0.1, "tau_s": 10.0},
}

_CONDUCTANCE_DEFAULTS = {"dt_s": 1.0, "alpha": 0.5, "beta": 0.1, "tau_s": 10.0}


def _parse_graph(spec: Mapping[str, Any]) -> tuple[list[str], Graph, int, int]:
    nodes = spec.get("nodes")
    if not isinstance(nodes, Sequence) or isinstance(nodes, str) or len(nodes) < 2:
        raise ValueError("graph_spec 'nodes' must be a list of at least 2 node names")
    names = [str(n) for n in nodes]
    if len(set(names)) != len(names):
        raise ValueError("graph_spec 'nodes' must be unique")
    index = {name: i for i, name in enumerate(names)}
    raw_edges = spec.get("edges")
    if not isinstance(raw_edges, Sequence) or isinstance(raw_edges, str) or not raw_edges:
        raise ValueError("graph_spec 'edges' must be a non-empty list of [from, to, conductance]")
    triples: list[tuple[int, int, float]] = []
    for pos, edge in enumerate(raw_edges):
        if not isinstance(edge, Sequence) or isinstance(edge, str) or len(edge) != 3:
            raise ValueError(f"graph_spec edge {pos} must be [from, to, conductance]")
        u, v, c = edge
        for end in (u, v):
            if str(end) not in index:
                raise ValueError(f"graph_spec edge {pos} names unknown node {end!r}")
        triples.append((index[str(u)], index[str(v)], float(c)))
    graph = Graph.from_edges(len(names), triples)
    ends = []
    for key in ("source", "sink"):
        name = spec.get(key)
        if str(name) not in index:
            raise ValueError(f"graph_spec '{key}' must be one of the nodes, got {name!r}")
        ends.append(index[str(name)])
    return names, graph, ends[0], ends[1]


def _conductance_params(spec: Mapping[str, Any]) -> dict[str, float]:
    given = spec.get("conductance") or {}
    if not isinstance(given, Mapping):
        raise ValueError("graph_spec 'conductance' must be an object")
    unknown = set(given) - set(_CONDUCTANCE_DEFAULTS)
    if unknown:
        raise ValueError(f"graph_spec 'conductance' has unknown keys {sorted(unknown)}")
    return {k: float(given.get(k, v)) for k, v in _CONDUCTANCE_DEFAULTS.items()}


def capacity_report(
    arrival_rate: float,
    service_rate: float,
    wait_p95_s: float,
    max_utilisation: float = 0.7,
    graph_spec: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Size, admit, route and autoscale for one demand level; a JSON-able dict.

    ``arrival_rate`` λ >= 0 and ``service_rate`` μ > 0 per second; ``wait_p95_s``
    >= 0 seconds; ``max_utilisation`` in (0, 1); ``graph_spec`` as in the module
    docstring (default :data:`DEFAULT_GRAPH_SPEC`). The demand λ is routed from
    source to sink (flows in requests per second). Raises ``ValueError`` for any
    invalid input, including a disconnected graph. Keys: ``inputs``,
    ``servers``, ``metrics``, ``admission``, ``routing``, ``conductance``.
    """
    spec = DEFAULT_GRAPH_SPEC if graph_spec is None else graph_spec
    servers = servers_for_slo(arrival_rate, service_rate, wait_p95_s, max_utilisation)
    metrics = mmk_metrics(arrival_rate, service_rate, servers)
    decision = brownout(metrics, SLO(wait_p95_s=wait_p95_s, max_utilisation=max_utilisation))
    names, graph, source, sink = _parse_graph(spec)
    params = _conductance_params(spec)
    if graph.n_components() != 1:
        raise ValueError(f"graph_spec graph is disconnected ({graph.n_components()} components)")
    lam = float(arrival_rate)
    if lam > 0.0:
        routed = route(graph, source, sink, amount=lam)
        phi, flows, r_eff = routed.potentials, routed.flows, routed.effective_resistance
    else:
        phi, flows = np.zeros(graph.n_nodes), np.zeros(graph.n_edges)
        r_eff = route(graph, source, sink).effective_resistance
    b = np.zeros(graph.n_nodes)
    b[source], b[sink] = lam, -lam
    residual = float(np.abs(divergence(graph, flows) - b).max())
    new_c, _ = update(
        graph.conductances,
        flows,
        dt_s=params["dt_s"],
        alpha=params["alpha"],
        beta=params["beta"],
        tau_s=params["tau_s"],
    )
    steady = steady_state(flows, params["alpha"], params["beta"]) if params["beta"] > 0 else None
    return {
        "inputs": {
            "arrival_rate": lam,
            "service_rate": float(service_rate),
            "wait_p95_s": float(wait_p95_s),
            "max_utilisation": float(max_utilisation),
        },
        "servers": servers,
        "metrics": metrics.to_dict(),
        "admission": decision.to_dict(),
        "routing": {
            "source": names[source],
            "sink": names[sink],
            "amount_per_s": lam,
            "effective_resistance": r_eff,
            "kirchhoff_max_residual": residual,
            "potentials": {name: float(p) for name, p in zip(names, phi, strict=True)},
            "edges": [
                {
                    "from": names[int(u)],
                    "to": names[int(v)],
                    "conductance": float(c),
                    "flow_per_s": float(f),
                }
                for (u, v), c, f in zip(graph.edges, graph.conductances, flows, strict=True)
            ],
        },
        "conductance": {
            **params,
            "updated": [float(x) for x in new_c],
            "steady_state": None if steady is None else [float(x) for x in steady],
        },
    }
