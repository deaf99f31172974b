"""Performance ranking of agent versions from their measured turns (pure).

Per agent version, over a window of turns (read from ClickHouse's
``agent_version_turns`` view, see ``infra/clickhouse/020_agents.sql``):

* ``turns`` n: turns of sessions minted for that version that completed in the window;
* ``succeeded``: those that did not fail (no ``TurnFailed``);
* ``sla_breaches``: those whose ``TurnCompleted.duration_ms`` exceeded the
  version's ``planner.sla_ms`` (10 s by default);
* ``good`` = succeeded and within the SLA;
* ``p95_latency_ms``: the 95th percentile of ``duration_ms`` (:func:`p95`);
* ``cost_per_turn_cents``: the priced usage of those turns (``UsageRecorded``) / n.

**Score** = the Wilson score interval's lower bound (z = 1.96, 95 %) of the
proportion of *good* turns::

    W(g, n) = (p + z²/2n − z·sqrt(p(1−p)/n + z²/4n²)) / (1 + z²/n),  p = g/n;  W(·, 0) = 0

It is small for small samples (1 good turn out of 1 scores 0.21; 95 of 100
score 0.89), so a version cannot top the ranking on a lucky few turns.
Versions are ordered by score (higher first), then P95 latency (lower), then
cost per turn (lower), then turns (more), then agent id and version.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

Z_95 = 1.959963984540054


def wilson_lower(successes: int, trials: int, z: float = Z_95) -> float:
    """Lower bound of the Wilson score interval for ``successes`` out of ``trials``."""
    if trials <= 0:
        return 0.0
    if not 0 <= successes <= trials:
        raise ValueError(f"successes {successes} outside 0..{trials}")
    p = successes / trials
    z2 = z * z
    centre = p + z2 / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, (centre - margin) / (1 + z2 / trials))


@dataclass(frozen=True, slots=True)
class VersionStats:
    """Measured figures of one agent version over the window."""

    agent_id: str
    version: str
    turns: int
    succeeded: int
    sla_breaches: int
    good: int
    p95_latency_ms: float
    cost_per_turn_cents: float

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.turns if self.turns else 0.0

    @property
    def score(self) -> float:
        return wilson_lower(self.good, self.turns)

    def as_dict(self) -> dict[str, object]:
        return {
            "agent_id": self.agent_id,
            "version": self.version,
            "turns": self.turns,
            "succeeded": self.succeeded,
            "success_rate": round(self.success_rate, 6),
            "sla_breaches": self.sla_breaches,
            "good_turns": self.good,
            "p95_latency_ms": round(self.p95_latency_ms, 3),
            "cost_per_turn_cents": round(self.cost_per_turn_cents, 6),
            "score": round(self.score, 6),
        }


def _key(s: VersionStats) -> tuple[float, float, float, int, str, str]:
    return (-s.score, s.p95_latency_ms, s.cost_per_turn_cents, -s.turns, s.agent_id, s.version)


def rank(stats: Iterable[VersionStats]) -> list[VersionStats]:
    """``stats`` best first (see the module doc for the order)."""
    return sorted(stats, key=_key)


@dataclass(frozen=True, slots=True)
class TurnSample:
    """One measured turn of an agent version (a row of ``agent_version_turns``)."""

    agent_id: str
    version: str
    duration_ms: int
    failed: bool
    cost_picocents: int


def p95(values: list[int]) -> float:
    """The 95th percentile as ClickHouse's ``quantileExact(0.95)`` takes it: the value at
    index ⌊0.95·n⌋ of the sorted values (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, math.floor(0.95 * len(ordered)))])


PICOCENTS_PER_CENT = 1_000_000_000_000


def summarise(samples: Iterable[TurnSample], sla_ms: dict[tuple[str, str], int],
              default_sla_ms: int) -> list[VersionStats]:
    """Per-version figures of ``samples``, best first, with each version's SLA
    (``default_sla_ms`` for versions not in ``sla_ms``)."""
    groups: dict[tuple[str, str], list[TurnSample]] = {}
    for sample in samples:
        groups.setdefault((sample.agent_id, sample.version), []).append(sample)
    out = []
    for (agent, version), turns in groups.items():
        sla = sla_ms.get((agent, version), default_sla_ms)
        breaches = sum(1 for t in turns if t.duration_ms > sla)
        good = sum(1 for t in turns if not t.failed and t.duration_ms <= sla)
        out.append(VersionStats(
            agent_id=agent,
            version=version,
            turns=len(turns),
            succeeded=sum(1 for t in turns if not t.failed),
            sla_breaches=breaches,
            good=good,
            p95_latency_ms=p95([t.duration_ms for t in turns]),
            cost_per_turn_cents=sum(t.cost_picocents for t in turns) / len(turns)
            / PICOCENTS_PER_CENT,
        ))
    return rank(out)
