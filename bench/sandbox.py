"""Start-up cost of the tool sandbox's namespaces (bubblewrap) against the plain sandbox.

In one run, alternating, ``--runs`` times each:

* ``plain``: ``run_sandboxed`` as before namespaces (resource limits, scratch dir,
  its own session): the baseline;
* ``isolated``: the same with :mod:`somagent.tools.isolation` (no network, read-only
  system view, own scratch dir, own pid/ipc/uts/user/cgroup namespaces);

each running the real interpreter ``-I -S -u -c pass`` (the python tool's start-up
without a snippet), and ``print(sum(range(10**6)))`` for a small real snippet.
Reports median and p95 wall time per side, the isolated - plain difference of
medians (the namespaces' start-up overhead) and the ratio. Prints one JSON
object; timings are never asserted.
"""

from __future__ import annotations

import os
import sys

# bench/ holds scripts named like standard modules: keep it off sys.path.
# ruff: noqa: E402
_HERE = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != _HERE]

import argparse
import asyncio
import json
import platform
import statistics
import subprocess
import time
from typing import Any

from somagent.tools.isolation import Isolation, interpreter_paths
from somagent.tools.sandbox import run_sandboxed

SNIPPETS = {"start": "pass", "small": "print(sum(range(10**6)))"}


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _one(argv: list[str], isolation: Isolation | None) -> float:
    started = time.perf_counter()
    result = await run_sandboxed(argv, isolation=isolation)
    elapsed = time.perf_counter() - started
    if not result.ok:
        raise RuntimeError(f"sandbox run failed: {result.describe()}")
    return elapsed


async def measure(runs: int) -> dict[str, Any]:
    real, roots = interpreter_paths(sys.executable)
    isolation = Isolation(read_only=roots)
    out: dict[str, Any] = {}
    for name, code in SNIPPETS.items():
        argv = [real, "-I", "-S", "-u", "-c", code]
        times: dict[str, list[float]] = {"plain": [], "isolated": []}
        for _ in range(2):  # warm the page cache on both sides
            await _one(argv, None)
            await _one(argv, isolation)
        for _ in range(runs):
            times["plain"].append(await _one(argv, None))
            times["isolated"].append(await _one(argv, isolation))
        row: dict[str, Any] = {}
        for side, values in times.items():
            row[f"{side}_median_ms"] = round(statistics.median(values) * 1000, 2)
            row[f"{side}_p95_ms"] = round(_quantile(values, 0.95) * 1000, 2)
        plain, isolated = row["plain_median_ms"], row["isolated_median_ms"]
        row["overhead_median_ms"] = round(isolated - plain, 2)
        row["ratio_isolated_vs_plain"] = round(isolated / plain, 3)
        out[name] = row
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60, help="runs per side and snippet")
    parser.add_argument("--quick", action="store_true", help="20 runs per side")
    args = parser.parse_args(argv)
    runs = 20 if args.quick else max(5, args.runs)
    bwrap = subprocess.run(["bwrap", "--version"], capture_output=True, text=True).stdout.strip()
    started = time.perf_counter()
    report: dict[str, Any] = {
        "bench": "sandbox",
        "runs_per_side": runs,
        "bwrap": bwrap,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1m_before": round(os.getloadavg()[0], 2),
    }
    report.update(asyncio.run(measure(runs)))
    report["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    report["wall_seconds"] = round(time.perf_counter() - started, 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
