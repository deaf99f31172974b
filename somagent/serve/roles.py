"""The platform's roles and how many processes of each ``somagent up`` runs.

A *role* is one kind of process (``somagent serve <role>``); an *instance* is one
running process of it. The plan is pure: it depends only on the settings and the
counts asked for, so ``up``, the supervisor and ``status`` agree on it.

Start order is the list order; stop order is the reverse (the edge stops taking
requests before the engines it feeds stop, and the owners of the embedded engines
stop last).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from somagent.config import Settings

ANALYTICS = "analytics"
MEMORY = "memory"
WORKER = "worker"
BILLING = "billing"
PROJECTOR = "projector"
EDGE = "edge"
JOBS = "jobs"
POLICY = "policy"

# What each role does, for `somagent status` and the docs.
ROLE_SUMMARY = {
    ANALYTICS: "owns the chDB directory; serves ClickHouse's HTTP interface",
    MEMORY: "Memory Gateway: owns the vector store; recall/remember over HTTP; memory agent",
    WORKER: "turn engine (Faust `turns` agent); one consumer group across instances",
    BILLING: "Faust billing agent: billing.usage -> one-minute windows -> billing.ledger",
    PROJECTOR: "Postgres and ClickHouse read models from every topic",
    EDGE: "public HTTP API (SSE/WS); instances share one port (SO_REUSEPORT)",
    POLICY: "constitution: OPA decision log -> policy.decisions; OPA kept at active policies",
    JOBS: "Temporal worker: job workflows, tool and turn steps; instances share a task queue",
}


@dataclass(frozen=True, slots=True)
class Instance:
    """One process of a role: ``somagent serve <command>`` with ``index`` among its role."""

    role: str
    index: int
    command: tuple[str, ...]

    @property
    def name(self) -> str:
        """``worker-1``; roles with one instance are just their role name."""
        return f"{self.role}-{self.index}"


def default_workers() -> int:
    """One turn-engine process per core the scheduler gives this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def plan(
    settings: Settings,
    *,
    workers: int | None = None,
    edges: int = 1,
    platform: bool = True,
    jobs: int = 1,
) -> list[Instance]:
    """The instances to run, in start order.

    ``platform=False`` is the servers-only stack: only the owners of the embedded
    engines, which *are* the local servers: the analytics service (chDB served over
    ClickHouse's HTTP interface; not run when ``SOMAGENT_CLICKHOUSE_URL`` names a
    real server) and the Memory Gateway (the vector store served over HTTP); and the
    policy role, which ships OPA's decision log (OPA is a server of the stack).
    """
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if edges < 1:
        raise ValueError(f"--edges must be >= 1, got {edges}")
    if jobs < 0:
        raise ValueError(f"--jobs must be >= 0, got {jobs}")
    out: list[Instance] = []
    if not settings.clickhouse_url:
        out.append(Instance(ANALYTICS, 0, ("serve", "analytics")))
    out.append(Instance(MEMORY, 0, ("serve", "memory")))
    out.append(Instance(POLICY, 0, ("serve", "policy")))
    if not platform:
        return out
    for i in range(workers if workers is not None else default_workers()):
        out.append(Instance(WORKER, i, ("serve", "worker", "--instance", str(i))))
    out.append(Instance(BILLING, 0, ("serve", "billing")))
    out.append(Instance(PROJECTOR, 0, ("serve", "projector")))
    for i in range(jobs):
        out.append(Instance(JOBS, i, ("serve", "jobs")))
    for i in range(edges):
        out.append(Instance(EDGE, i, ("serve", "api", "--reuse-port")))
    return out
