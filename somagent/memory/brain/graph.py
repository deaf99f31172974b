"""FRGO: the memory co-use graph of one tenant, with conductances that follow use.

Nodes are memory ids; an edge joins two memories that were *cited together* (both
marked useful for one answer: flow 1) or *recalled together* (one useful, the other
returned beside it in the same bundle: flow ``co_recall_flow``). After every
feedback all of the tenant's edges take one step of the conductance rule
(:func:`somagent.math.conductance.update`, Δt = 1 feedback):

    C ← (1 − βΔt)·C + αΔt·EMA_τ(|f|)

so edges in use grow towards α|f|/β and idle ones decay; edges below
``min_conductance`` are pruned (the graph stays sparse). The candidate feature is
g/(1 + g) with g = Σ of C over edges to the bundle's other candidates.
:meth:`MemoryGraph.resistance` measures the effective resistance between two
memories (lower: more strongly co-used).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from somagent.math.conductance import ConductanceState, update
from somagent.math.resistance import effective_resistance
from somagent.math.routing import Graph


@dataclass(frozen=True, slots=True)
class GraphRule:
    alpha: float = 0.5
    beta: float = 0.05
    tau_steps: float = 4.0
    min_conductance: float = 1e-3
    co_recall_flow: float = 0.25


class MemoryGraph:
    """One tenant's sparse co-use graph (not thread-safe: the brain serialises feedback)."""

    def __init__(self, rule: GraphRule) -> None:
        self.rule = rule
        self._index: dict[tuple[str, str], int] = {}
        self._edges: list[tuple[str, str]] = []
        self._c = np.zeros(0)
        self._ema = np.zeros(0)

    @property
    def n_edges(self) -> int:
        return len(self._edges)

    def _edge(self, a: str, b: str) -> int:
        key = (a, b) if a < b else (b, a)
        found = self._index.get(key)
        if found is None:
            found = len(self._edges)
            self._index[key] = found
            self._edges.append(key)
            self._c = np.append(self._c, 0.0)
            self._ema = np.append(self._ema, 0.0)
        return found

    def observe(self, useful: Sequence[str], returned: Sequence[str]) -> None:
        """One feedback: flows on citation and co-recall edges, then one conductance step."""
        flows: dict[int, float] = {}
        for i, a in enumerate(useful):
            for b in useful[i + 1 :]:
                if a != b:
                    flows[self._edge(a, b)] = 1.0
        for a in useful:
            for b in returned:
                if b not in useful and a != b:
                    e = self._edge(a, b)
                    flows[e] = max(flows.get(e, 0.0), self.rule.co_recall_flow)
        if not self._edges:
            return
        f = np.zeros(len(self._edges))
        for e, flow in flows.items():
            f[e] = flow
        r = self.rule
        self._c, state = update(
            self._c, f, 1.0, r.alpha, r.beta, r.tau_steps, ConductanceState(self._ema)
        )
        self._ema = np.array(state.ema_abs_flow)
        self._prune()

    def _prune(self) -> None:
        keep = (self._c >= self.rule.min_conductance) | (self._ema >= self.rule.min_conductance)
        if keep.all():
            return
        self._edges = [e for e, k in zip(self._edges, keep, strict=True) if k]
        self._c, self._ema = self._c[keep], self._ema[keep]
        self._index = {e: i for i, e in enumerate(self._edges)}

    def conductance(self, a: str, b: str) -> float:
        found = self._index.get((a, b) if a < b else (b, a))
        return 0.0 if found is None else float(self._c[found])

    def feature(self, candidates: Sequence[str]) -> NDArray[np.float64]:
        """g/(1 + g) per candidate, g = Σ C to the other candidates."""
        g = np.zeros(len(candidates))
        if self._edges:
            for i, a in enumerate(candidates):
                g[i] = sum(self.conductance(a, b) for b in candidates if b != a)
        return g / (1.0 + g)

    def resistance(self, a: str, b: str) -> float:
        """Effective resistance between memories ``a`` and ``b`` (inf: not connected)."""
        nodes = sorted({n for e in self._edges for n in e})
        if a not in nodes or b not in nodes:
            return math.inf
        at = {n: i for i, n in enumerate(nodes)}
        live = [
            (at[x], at[y], float(c))
            for (x, y), c in zip(self._edges, self._c, strict=True)
            if c > 0.0
        ]
        if not live:
            return math.inf
        return effective_resistance(Graph.from_edges(len(nodes), live), at[a], at[b])
