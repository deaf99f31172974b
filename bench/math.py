"""Scaling of the pure math routines: Erlang C, Laplacian potentials, assignment.

* ``erlang_c`` for k = 10 … 10 000 servers at ρ = 0.9, against a baseline
  measured in the same run: the textbook formula evaluated in log space with
  ``scipy.special`` (gammaln + logsumexp, vectorised). ``ratio`` is
  recurrence time / baseline time; ``rel_diff`` their relative disagreement.
* ``potentials`` on sparse small-world graphs (a ring plus random chords, mean
  degree ≈ 6, conductances U(0.5, 2)) of 10³ … 10⁶ nodes (10⁶ only without
  ``--quick``): solve time, peak traced memory (numpy/scipy arrays, via
  ``tracemalloc``, measured in a separate run so it does not slow the timing),
  and the Kirchhoff residual max|Lφ − b|, all with the CG solver (what
  ``method="auto"`` uses above 2 000 nodes) so the exponent describes one
  algorithm. Baselines at 10³ nodes: a dense ``numpy.linalg.solve`` of the
  grounded Laplacian, and the sparse-LU path (``method="direct"``).
* ``assign`` at 10² … 10³ tasks (n/10 instances, total capacity 2n) with the
  slot expansion, against the HiGHS MILP formulation in the same run.

Each figure is the best of ``--rounds`` rounds (fewer for the largest sizes);
the 1-minute load average before and after is reported because a busy machine
skews the timings. ``*_exponent`` is the least-squares slope of log(figure) against
log(size). Prints one JSON object; timings are never asserted anywhere.
"""

from __future__ import annotations

import os
import sys

# This file is called math.py: drop its folder from the import path so that
# ``import math`` (here and inside numpy/scipy) finds the standard library.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
from scipy.special import gammaln, logsumexp  # noqa: E402

from somagent.math.assignment import assign  # noqa: E402
from somagent.math.queueing import erlang_c  # noqa: E402
from somagent.math.routing import Graph, divergence, edge_flows, potentials  # noqa: E402


def _best(fn: Callable[[], object], rounds: int) -> float:
    best = math.inf
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _exponent(sizes: list[float], values: list[float]) -> float:
    slope = np.polyfit(np.log(sizes), np.log(values), 1)[0]
    return round(float(slope), 3)


def _logspace_erlang_c(load: float, k: int) -> float:
    n = np.arange(k)
    log_terms = n * math.log(load) - gammaln(n + 1)
    log_tail = k * math.log(load) - gammaln(k + 1) + math.log(k / (k - load))
    return float(math.exp(log_tail - logsumexp(np.append(log_terms, log_tail))))


def bench_erlang(ks: list[int], rounds: int) -> dict[str, Any]:
    points = []
    for k in ks:
        load = 0.9 * k
        reps = max(1, 20_000 // k)

        def ours_fn(a: float = load, k: int = k, reps: int = reps) -> None:
            for _ in range(reps):
                erlang_c(a, k)

        def base_fn(a: float = load, k: int = k, reps: int = reps) -> None:
            for _ in range(reps):
                _logspace_erlang_c(a, k)

        ours = _best(ours_fn, rounds) / reps
        base = _best(base_fn, rounds) / reps
        c, ref = erlang_c(load, k), _logspace_erlang_c(load, k)
        points.append(
            {
                "servers": k,
                "p_wait": c,
                "seconds": ours,
                "baseline_seconds": base,
                "ratio": round(ours / base, 3),
                "rel_diff": abs(c - ref) / ref,
            }
        )
    return {
        "load_per_server": 0.9,
        "baseline": "log-space textbook formula (scipy gammaln/logsumexp)",
        "points": points,
        "time_exponent": _exponent([float(k) for k in ks], [p["seconds"] for p in points]),
    }


def small_world(n: int, seed: int) -> Graph:
    rng = np.random.default_rng(seed)
    ring = np.stack([np.arange(n), (np.arange(n) + 1) % n], axis=1)
    u, v = rng.integers(0, n, 2 * n), rng.integers(0, n, 2 * n)
    chords = np.stack([u[u != v], v[u != v]], axis=1)
    edges = np.concatenate([ring, chords]).astype(np.int64)
    return Graph(n, edges, rng.uniform(0.5, 2.0, len(edges)))


def _dense_solve(graph: Graph, b: np.ndarray) -> np.ndarray:
    lap = graph.laplacian().toarray()[1:, 1:]
    return np.concatenate([[0.0], np.linalg.solve(lap, b[1:])])


def bench_potentials(sizes: list[int], rounds: int) -> dict[str, Any]:
    points = []
    for n in sizes:
        graph = small_world(n, seed=n)
        b = np.random.default_rng(n + 1).normal(size=n)
        b -= b.mean()
        reps = rounds if n <= 100_000 else 2
        seconds = _best(lambda g=graph, rhs=b: potentials(g, rhs, method="cg"), reps)
        tracemalloc.start()
        phi = potentials(graph, b, method="cg")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        residual = float(np.abs(divergence(graph, edge_flows(graph, phi)) - b).max())
        point: dict[str, Any] = {
            "nodes": n,
            "edges": graph.n_edges,
            "seconds": seconds,
            "peak_traced_bytes": peak,
            "kirchhoff_max_residual": residual,
        }
        if n <= 1000:
            lu = _best(lambda g=graph, rhs=b: potentials(g, rhs, method="direct"), rounds)
            point["direct_lu_seconds"] = lu
            dense = _best(lambda g=graph, rhs=b: _dense_solve(g, rhs), rounds)
            point["dense_baseline_seconds"] = dense
            point["ratio_vs_dense"] = round(seconds / dense, 3)
            point["max_abs_diff_vs_dense"] = float(np.abs(_dense_solve(graph, b) - phi).max())
        points.append(point)
    sizes_f = [float(p["nodes"]) for p in points]
    return {
        "graph": "ring + random chords, mean degree ~6, conductances U(0.5, 2)",
        "points": points,
        "time_exponent": _exponent(sizes_f, [p["seconds"] for p in points]),
        "memory_exponent": _exponent(sizes_f, [float(p["peak_traced_bytes"]) for p in points]),
    }


def bench_assign(sizes: list[int], rounds: int, milp_max: int) -> dict[str, Any]:
    points = []
    for n in sizes:
        rng = np.random.default_rng(n)
        n_inst = max(2, n // 10)
        costs = rng.uniform(0.0, 100.0, size=(n, n_inst))
        caps = np.full(n_inst, math.ceil(2 * n / n_inst), dtype=np.int64)
        reps = rounds if n <= 500 else 1
        seconds = _best(lambda c=costs, k=caps: assign(c, k, method="slots"), reps)
        point: dict[str, Any] = {
            "tasks": n,
            "instances": n_inst,
            "total_capacity": int(caps.sum()),
            "seconds": seconds,
        }
        if n <= milp_max:
            milp_s = _best(lambda c=costs, k=caps: assign(c, k, method="milp"), 1)
            ours = assign(costs, caps, method="slots").total_cost
            theirs = assign(costs, caps, method="milp").total_cost
            point["milp_baseline_seconds"] = milp_s
            point["ratio_vs_milp"] = round(seconds / milp_s, 3)
            point["cost_rel_diff_vs_milp"] = abs(ours - theirs) / abs(theirs)
        points.append(point)
    return {
        "costs": "U(0, 100), n/10 instances, capacity 2n/instances each",
        "points": points,
        "time_exponent": _exponent(
            [float(p["tasks"]) for p in points], [p["seconds"] for p in points]
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (no 10^6 graph)")
    parser.add_argument("--rounds", type=int, default=5, help="best of this many rounds")
    args = parser.parse_args(argv)
    rounds = max(1, args.rounds)
    started = time.perf_counter()
    graph_sizes = [1_000, 10_000, 100_000] + ([] if args.quick else [1_000_000])
    task_sizes = [100, 200, 500] + ([] if args.quick else [1_000])
    report = {
        "bench": "math",
        "quick": args.quick,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "cpus": os.cpu_count(),
        "load_average_1m_before": round(os.getloadavg()[0], 2),
        "erlang_c": bench_erlang([10, 100, 1_000, 10_000], rounds),
        "potentials": bench_potentials(graph_sizes, rounds),
        "assign": bench_assign(task_sizes, rounds, milp_max=500),
    }
    report["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    report["wall_seconds"] = round(time.perf_counter() - started, 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
