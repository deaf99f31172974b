"""Growth of the turn's pure steps with hostile input size (issue 19, item 3).

For each hostile input family, the time of the deterministic planner's plan (all
built-in tools), PII redaction and citation reading at sizes n, 2n, 4n, 8n; the
``growth_8x`` figure is time(8n) / time(n): about 8 for linear work, about 64 for
quadratic. The baseline, measured in the same run, is the planner's bracket
trimming before the fix (quadratic) on the reported input at small sizes, next to
the current one. Best of ``--rounds``. Prints one JSON object; timings are never
asserted.
"""

from __future__ import annotations

import os
import sys

# bench/ holds scripts named like standard modules: keep it off sys.path.
# ruff: noqa: E402
_HERE = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != _HERE]

import argparse
import json
import platform
import time
from collections.abc import Callable
from typing import Any

from somagent.planners import make_planner
from somagent.tools.calc import MAX_LENGTH, tokenize
from somagent.tools.registry import ToolRegistry
from somagent.turns.pii import redact
from somagent.turns.planner import DeterministicPlanner, trim_brackets
from somagent.turns.verify import cited_ids

FAMILIES: dict[str, Callable[[int], str]] = {
    "open_brackets": lambda n: "(" * n + "1+1",  # the reported input at n = 32765
    "close_brackets": lambda n: "1+1" + ")" * n,
    "email_dots": lambda n: "a." * (n // 2),
    "email_domain": lambda n: "a@" + "b." * (n // 2),
    "citations": lambda n: "[mem:" * (n // 5),
    "fences": lambda n: "```a\n" * (n // 5),
    "phones": lambda n: "+1 " * (n // 3),
    "operators": lambda n: "1+" + "-" * n,
}


def _best(fn: Callable[[], Any], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def _trim_before_fix(expr: str) -> str:
    def balanced(e: str) -> bool:
        depth = 0
        for ch in e:
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth < 0:
                return False
        return depth == 0

    while expr and not balanced(expr) and expr[0] in "()":
        expr = expr[1:].strip()
    while expr and not balanced(expr) and expr[-1] in "()":
        expr = expr[:-1].strip()
    return expr


def families(base: int, rounds: int) -> dict[str, Any]:
    planner = make_planner()
    inner = getattr(planner, "inner", planner)
    assert isinstance(inner, DeterministicPlanner)
    specs = ToolRegistry.with_builtins(load_plugins=False).specs()
    out: dict[str, Any] = {}
    for name, make in FAMILIES.items():
        times = {}
        for k in (1, 2, 4, 8):
            text = make(base * k)

            def steps(text: str = text) -> None:
                inner.make_plan(text, specs)
                redact(text)
                cited_ids(text)

            times[base * k] = _best(steps, rounds)
        out[name] = {
            "ms_by_size": {str(n): round(t * 1000, 2) for n, t in times.items()},
            "growth_8x": round(times[base * 8] / times[base], 1),
        }
    return out


def baseline(rounds: int) -> dict[str, Any]:
    rows = {}
    for n in (1_000, 2_000, 4_000):
        text = "(" * n + "1+1"
        rows[str(n)] = {
            "before_fix_ms": round(_best(lambda t=text: _trim_before_fix(t), rounds) * 1000, 2),
            "now_ms": round(_best(lambda t=text: trim_brackets(t), rounds) * 1000, 3),
        }
    reported = "(" * 32_765 + "1+1"
    return {
        "bracket_trim": rows,
        "reported_input_now_ms": round(_best(lambda: trim_brackets(reported), rounds) * 1000, 2),
        "calc_tokenize_max_length_ms": round(
            _best(lambda: tokenize("1+" * (MAX_LENGTH // 2 - 1) + "1"), rounds) * 1000, 2
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=int, default=4096, help="smallest size (characters)")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many rounds")
    parser.add_argument("--quick", action="store_true", help="base 2048, 2 rounds")
    args = parser.parse_args(argv)
    base, rounds = (2048, 2) if args.quick else (args.base, max(1, args.rounds))
    started = time.perf_counter()
    report: dict[str, Any] = {
        "bench": "hostile_inputs",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1m_before": round(os.getloadavg()[0], 2),
        "families": families(base, rounds),
        "baseline": baseline(rounds),
    }
    report["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    report["wall_seconds"] = round(time.perf_counter() - started, 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
