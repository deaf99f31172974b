"""Policy decision cost at a gate: the real OPA server vs the in-process check.

Starts only the OPA server the stack builds (``opa run --server`` on a free loopback
port, no decision-log upload target), gives it the gate rules and one active
policy the way the constitution service does (REST Policy and Data APIs), then
times ``--calls`` tool decisions, one at a time:

* ``opa_http``: :class:`PolicyGate` with the cache off (``ttl_s=0``): one
  ``POST /v1/data/somagent/gate/decision`` per call (httpx keep-alive);
* ``gate_cached``: the same gate with the default 2 s cache (what the broker runs);
* ``in_process`` (baseline): :func:`somagent.tools.policy.decide`, the pure
  allow-list check the turn engine ran before policies existed;

and whole ``calc`` calls through the tool broker (no Redis gates), without a policy
(baseline), with the policy check as the broker runs it (cached), and uncached.

Prints one JSON object: P50/P95 in microseconds per path and ratios to the baseline.
Timings are never asserted.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from somagent.policy.defaults import DEFAULT_POLICY, DEFAULT_POLICY_HASH  # noqa: E402
from somagent.policy.demo import demo_policy  # noqa: E402
from somagent.policy.document import policy_hash  # noqa: E402
from somagent.policy.gate import PolicyGate  # noqa: E402
from somagent.policy.opa import DATA_ROOT, GATE_POLICY_ID, OpaClient, gate_module  # noqa: E402
from somagent.policy.sessions import SessionPolicies  # noqa: E402
from somagent.policy.tool_gate import OpaToolPolicy  # noqa: E402
from somagent.stack.opa import Opa  # noqa: E402
from somagent.stack.testing import fresh_stack_settings  # noqa: E402
from somagent.tools.broker import ToolBroker  # noqa: E402
from somagent.tools.calc import calc_tool  # noqa: E402
from somagent.tools.policy import SessionPolicy, decide  # noqa: E402
from somagent.tools.registry import ToolRegistry  # noqa: E402
from somagent.turns.state import ToolCall  # noqa: E402


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(samples_s: list[float]) -> dict[str, float]:
    us = [s * 1e6 for s in samples_s]
    return {"p50_us": round(_pct(us, 0.50), 1), "p95_us": round(_pct(us, 0.95), 1)}


async def _timed(calls: int, one: Any) -> list[float]:
    out = []
    for i in range(calls):
        t0 = time.perf_counter()
        await one(i)
        out.append(time.perf_counter() - t0)
    return out


async def _run(url: str, calls: int) -> dict[str, Any]:
    document = demo_policy("bench", tools=["calc", "http_fetch"], hosts=["127.0.0.1"])
    hash_ = policy_hash(document)
    opa = OpaClient(url)
    await opa.put_module(GATE_POLICY_ID, gate_module())
    await opa.put_data(f"{DATA_ROOT}/{hash_}", document["data"])
    tool_input = {"policy_hash": hash_, "action": "tool", "tool": "http_fetch",
                  "arguments": {"url": "http://127.0.0.1/x"}, "egress_hosts": ["127.0.0.1"]}
    uncached, cached = PolicyGate(opa, ttl_s=0), PolicyGate(opa, ttl_s=2.0)
    verdict = await uncached.decide("bench", tool_input)
    assert verdict.allowed, verdict
    session = SessionPolicy(allowed_tools=frozenset({"calc", "http_fetch"}))

    async def local(_: int) -> None:
        decide(["http_fetch"], session, ["calc", "http_fetch", "python"])

    await _timed(200, lambda i: uncached.decide("bench", tool_input))  # warm-up
    results = {
        "in_process": _summary(await _timed(calls, local)),
        "opa_http": _summary(await _timed(calls, lambda i: uncached.decide("bench", tool_input))),
        "gate_cached": _summary(await _timed(calls, lambda i: cached.decide("bench", tool_input))),
    }
    results.update(await _broker(opa, calls))
    await opa.close()
    base = results["in_process"]
    for name in ("opa_http", "gate_cached"):
        results[name]["p50_ratio_to_in_process"] = round(
            results[name]["p50_us"] / max(base["p50_us"], 0.01), 1)
    plain = results["broker_calc_no_policy"]
    for name in ("broker_calc_policy_cached", "broker_calc_policy_uncached"):
        results[name]["p50_ratio_to_no_policy"] = round(
            results[name]["p50_us"] / max(plain["p50_us"], 0.01), 2)
    return results


async def _broker(opa: OpaClient, calls: int) -> dict[str, Any]:
    """``calc`` through the broker: no policy, cached policy, uncached policy (the
    default policy; no session, so no Redis lookup; denials never happen here)."""
    await opa.put_data(f"{DATA_ROOT}/{DEFAULT_POLICY_HASH}", DEFAULT_POLICY["data"])
    registry = ToolRegistry([calc_tool()])

    async def appended(event: Any) -> None:
        raise AssertionError(f"no call is denied in this benchmark: {event}")

    def broker(ttl_s: float | None) -> ToolBroker:
        if ttl_s is None:
            return ToolBroker(registry)
        policy = OpaToolPolicy(PolicyGate(opa, ttl_s=ttl_s), SessionPolicies(None), appended,
                               producer="bench")
        return ToolBroker(registry, policy=policy)

    out = {}
    for name, ttl in (("broker_calc_no_policy", None), ("broker_calc_policy_cached", 2.0),
                      ("broker_calc_policy_uncached", 0.0)):
        b = broker(ttl)

        async def one(i: int, b: ToolBroker = b) -> None:
            result = await b.invoke(ToolCall(0, "calc", {"expression": "2*21"}, call_id=str(i)),
                                    tenant="bench", idem_key=str(i), timeout_ms=5_000)
            assert result.ok, result

        await _timed(50, one)  # warm-up
        out[name] = _summary(await _timed(calls, one))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="somagent-bench-policy-") as home:
        settings = fresh_stack_settings(Path(home))
        opa = Opa(settings)
        opa.start()
        try:
            results = asyncio.run(_run(settings.opa_endpoint, args.calls))
        finally:
            opa.stop()
    print(json.dumps({"bench": "policy", "calls": args.calls, "opa": "1.22.3", **results},
                     indent=2))


if __name__ == "__main__":
    main()
