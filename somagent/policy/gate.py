"""The decision point every gate calls: one OPA decision per (policy, input).

:meth:`PolicyGate.decide` asks OPA (``somagent/gate/decision``) and answers a
:class:`Verdict`: allowed, or the rules that refused, always naming the policy
hash. Decisions are cached per canonical input for ``ttl_s`` (default
``SOMAGENT_POLICY_CACHE_TTL_S`` = 2 s) so a busy gate asks OPA at most once per
distinct input per TTL; a revocation therefore reaches a gate within ``ttl_s``
(mint checks Postgres and is immediate). Only OPA's own evaluations appear in
its decision log; every outcome, cached or not, is counted in
``somagent_policy_decisions_total{point, outcome, rule}``.

A gate fails closed: OPA unreachable raises :class:`PolicyEngineUnavailable`
(callers refuse the action with 503, or a failed tool result ``policy-unavailable``).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from prometheus_client import REGISTRY, CollectorRegistry, Counter

from somagent.policy.opa import OpaClient

MAX_CACHED: Final = 4096


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    rules: tuple[str, ...]
    policy_hash: str

    @property
    def rule(self) -> str:
        """The first refusing rule (empty when allowed)."""
        return self.rules[0] if self.rules else ""

    def detail(self, action: str) -> str:
        return (f"policy {self.policy_hash} refuses {action}: "
                f"rule {', '.join(self.rules) or '-'}")


class PolicyMetrics:
    """``somagent_policy_decisions_total{point, outcome, rule}`` on ``registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.decisions = Counter(
            "somagent_policy_decisions",
            "Policy decisions at the gates (outcome accepted/denied; rule that denied, "
            "or 'none')", ["point", "outcome", "rule"], registry=registry or REGISTRY)

    def count(self, point: str, verdict: Verdict) -> None:
        if verdict.allowed:
            self.decisions.labels(point, "accepted", "none").inc()
        else:
            for rule in verdict.rules or ("unknown",):
                self.decisions.labels(point, "denied", rule).inc()


_SHARED: dict[int, PolicyMetrics] = {}


def metrics_for(registry: CollectorRegistry | None = None) -> PolicyMetrics:
    """One :class:`PolicyMetrics` per registry (a collector registers once)."""
    key = id(registry or REGISTRY)
    if key not in _SHARED:
        _SHARED[key] = PolicyMetrics(registry)
    return _SHARED[key]


class PolicyGate:
    """OPA decisions with a short per-input cache, counted per gate ``point``."""

    def __init__(self, opa: OpaClient, *, ttl_s: float = 2.0,
                 metrics: PolicyMetrics | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.opa = opa
        self.ttl_s = ttl_s
        self.metrics = metrics or metrics_for()
        self.clock = clock
        self._cache: OrderedDict[str, tuple[float, Verdict]] = OrderedDict()

    async def decide(self, point: str, input_: dict[str, Any]) -> Verdict:
        """The decision for ``input_`` (which names ``policy_hash`` and ``action``)."""
        key = json.dumps(input_, sort_keys=True, separators=(",", ":"), default=str)
        now = self.clock()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
            verdict = hit[1]
        else:
            result = await self.opa.decide(input_)
            verdict = Verdict(bool(result.get("allow")),
                              tuple(str(r) for r in result.get("rules") or ()),
                              str(input_.get("policy_hash") or ""))
            if not result:
                verdict = Verdict(False, ("policy-engine-no-decision",), verdict.policy_hash)
            if self.ttl_s > 0:
                self._cache[key] = (now, verdict)
                self._cache.move_to_end(key)
                while len(self._cache) > MAX_CACHED:
                    self._cache.popitem(last=False)
        self.metrics.count(point, verdict)
        return verdict
