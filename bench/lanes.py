"""QoS lanes under overload: interactive turn latency while batch is shed, against a baseline.

Starts a private real platform (Kafka, Postgres, Redis, the turn worker, projector,
billing, Memory Gateway, analytics; no jobs role) on free loopback ports in a
temporary directory, and for each phase a fresh in-process edge (the real
``create_app`` under uvicorn) whose admission settings are the bench's
(``--edge-workers`` k, ``--slo-wait-p95-s``, ``--ewma-tau-s``), so every phase
starts from the same admission estimates. Turns are real (the deterministic
planner, no tools, memory ``none``) and are measured by the client: ``POST /v1/turn``
sent → ``event: done`` read (``perf_counter``).

Phases (same run, same platform, each ``--phase-s`` seconds). Interactive clients
run a closed loop (each starts its next turn when the last one ended; a refused one
waits ``--retry-s`` and tries again). The overload is open loop: turn requests
arrive at ``--flood-per-s`` (Poisson, fixed seed) whatever happens to earlier ones
(a refused request is dropped and counted), at most ``--flood-in-flight`` at once
(more are counted as ``client_dropped``), so both overload phases offer the same load:

1. ``baseline``: ``--interactive`` interactive clients alone;
2. ``lanes``: the same interactive clients plus the flood in the ``batch`` lane;
3. ``control``: the same, but the flood's sessions are interactive (no lane
   separation): what interactive clients get without lanes.

Per phase and lane: turns completed, refusals (503 ``overloaded``) and P50/P95
latency of completed turns. Ratios: ``lanes_interactive_p95_ratio`` = lanes P95 /
baseline P95 and ``control_interactive_p95_ratio`` = control P95 / baseline P95.
Prints one JSON object; timings are never asserted anywhere. Run with ``-P``
(``bench/math.py`` would shadow the standard library)::

    .venv/bin/python -P bench/lanes.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn

from somagent.api.app import create_app
from somagent.api.http_protocol import HeaderTimeoutProtocol
from somagent.api.settings import EdgeSettings
from somagent.api.tenants import create_tenant
from somagent.config import Settings
from somagent.policy.defaults import DEFAULT_POLICY_HASH
from somagent.stack.platform import Layout
from somagent.stack.process import free_port
from somagent.stack.stack import Stack
from somagent.stack.testing import fresh_stack_settings
from somagent.wait import until

_HASH = "sha256-" + "0" * 64


@dataclass
class LaneStats:
    latencies_s: list[float] = field(default_factory=list)
    refused: int = 0
    errors: int = 0
    client_dropped: int = 0

    def figures(self) -> dict[str, Any]:
        lat = sorted(self.latencies_s)
        return {
            "turns_completed": len(lat),
            "refused": self.refused,
            "errors": self.errors,
            "client_dropped": self.client_dropped,
            "p50_ms": round(statistics.median(lat) * 1000, 1) if lat else None,
            "p95_ms": round(_quantile(lat, 0.95) * 1000, 1) if lat else None,
        }


def _quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of a sorted, non-empty list."""
    rank = max(1, -(-len(sorted_values) * q // 1))
    return sorted_values[int(rank) - 1]


class Edge:
    """The real edge app under uvicorn in a thread, on a free loopback port."""

    def __init__(self, settings: Settings, edge: EdgeSettings) -> None:
        port = free_port()
        config = uvicorn.Config(create_app(settings, edge), host="127.0.0.1", port=port,
                                log_level="warning", timeout_graceful_shutdown=2,
                                http=HeaderTimeoutProtocol)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{port}"
        until(lambda: httpx.get(self.url + "/readyz", timeout=2.0).status_code == 200,
              timeout_s=120, what=f"bench edge on {self.url}")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


async def _tenant(settings: Settings) -> tuple[str, str]:
    conn = await asyncpg.connect(settings.postgres_dsn, timeout=10)
    try:
        tenant, key = await create_tenant(conn, f"bench-lanes-{uuid.uuid4().hex[:6]}",
                                          "enterprise", "eu")
    finally:
        await conn.close()
    return tenant.tenant_id, key


async def _mint(http: httpx.AsyncClient, tenant: str, key: str, lane: str) -> dict[str, str]:
    r = await http.post("/v1/session/mint", headers={"Authorization": f"Bearer {key}"}, json={
        "tenant": tenant, "persona_hash": _HASH, "policy_hash": DEFAULT_POLICY_HASH, "lane": lane,
        "budgets": {"tokens": 10**11, "tools_per_min": 0}})
    r.raise_for_status()
    return {"session": r.json()["session_id"], "jwt": r.json()["jwt"]}


async def _turn(http: httpx.AsyncClient, session: dict[str, str], stats: LaneStats) -> bool:
    """One turn, start to ``done``; False when the edge refused it (429/503)."""
    body = {"session_id": session["session"], "inputs": {"text": "What is 2 + 2?"},
            "allow": {"tools": [], "memory": "none"}}
    headers = {"Authorization": f"Bearer {session['jwt']}"}
    sent = time.perf_counter()
    try:
        async with http.stream("POST", "/v1/turn", json=body, headers=headers) as r:
            if r.status_code in (429, 503):
                await r.aread()
                stats.refused += 1
                return False
            if r.status_code != 200:
                stats.errors += 1
                return False
            async for line in r.aiter_lines():
                if line.strip() == "event: done":
                    stats.latencies_s.append(time.perf_counter() - sent)
                    break
    except httpx.HTTPError:
        stats.errors += 1
    return True


async def _client(http: httpx.AsyncClient, session: dict[str, str], stats: LaneStats,
                  deadline: float, retry_s: float) -> None:
    while time.monotonic() < deadline:
        if not await _turn(http, session, stats):
            await asyncio.sleep(retry_s)


async def _open_loop(http: httpx.AsyncClient, sessions: list[dict[str, str]], stats: LaneStats,
                     deadline: float, per_s: float, in_flight_max: int) -> None:
    """Poisson arrivals at ``per_s`` until ``deadline``, regardless of outcomes."""
    rng = random.Random(16)
    running: set[asyncio.Task[bool]] = set()
    i = 0
    while (now := time.monotonic()) < deadline:
        await asyncio.sleep(min(rng.expovariate(per_s), deadline - now))
        if len(running) >= in_flight_max:
            stats.client_dropped += 1
            continue
        task = asyncio.create_task(_turn(http, sessions[i % len(sessions)], stats))
        running.add(task)
        task.add_done_callback(running.discard)
        i += 1
    if running:
        await asyncio.gather(*running)


async def _phase(settings: Settings, edge_settings: EdgeSettings, tenant: str, key: str,
                 flood_lane: str | None, args: argparse.Namespace) -> dict[str, Any]:
    edge = await asyncio.to_thread(Edge, settings, edge_settings)
    try:
        limits = httpx.Limits(max_connections=args.interactive + args.flood_in_flight + 8)
        async with httpx.AsyncClient(base_url=edge.url, timeout=120.0, limits=limits) as http:
            interactive = [await _mint(http, tenant, key, "interactive")
                           for _ in range(args.interactive)]
            flood = [await _mint(http, tenant, key, flood_lane)
                     for _ in range(8 if flood_lane else 0)]
            stats = {"interactive": LaneStats(), "flood": LaneStats()}
            deadline = time.monotonic() + args.phase_s
            await asyncio.gather(
                *(_client(http, s, stats["interactive"], deadline, args.retry_s)
                  for s in interactive),
                *([_open_loop(http, flood, stats["flood"], deadline, args.flood_per_s,
                              args.flood_in_flight)] if flood else []))
            metrics = (await http.get("/metrics")).text
    finally:
        await asyncio.to_thread(edge.stop)
    shed = {line.split('"')[1]: float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
            if line.startswith("somagent_edge_admission_shed_total{")}
    out = {"interactive": stats["interactive"].figures(), "edge_shed_by_lane": shed}
    if flood_lane:
        out["flood"] = {"lane": flood_lane, **stats["flood"].figures()}
    return out


def _ratio(a: Any, b: Any) -> float | None:
    return round(a / b, 3) if isinstance(a, float) and isinstance(b, float) and b else None


async def _run(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    tenant, key = await _tenant(settings)
    edge = EdgeSettings(workers=args.edge_workers, slo_wait_p95_s=args.slo_wait_p95_s,
                        ewma_tau_s=args.ewma_tau_s, service_time_prior_s=args.service_prior_s)
    phases = {}
    for name, flood_lane in (("baseline", None), ("lanes", "batch"), ("control", "interactive")):
        print(f"bench/lanes: phase {name} ({args.phase_s} s)", file=sys.stderr)
        phases[name] = await _phase(settings, edge, tenant, key, flood_lane, args)
    base = phases["baseline"]["interactive"]["p95_ms"]
    return {
        "bench": "lanes",
        "python": platform.python_version(),
        "settings": {k: v for k, v in vars(args).items() if k != "quick"},
        "phases": phases,
        "lanes_interactive_p95_ratio": _ratio(phases["lanes"]["interactive"]["p95_ms"], base),
        "control_interactive_p95_ratio": _ratio(phases["control"]["interactive"]["p95_ms"],
                                                base),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 s phases")
    parser.add_argument("--phase-s", type=float, default=45.0)
    parser.add_argument("--interactive", type=int, default=2, help="interactive clients")
    parser.add_argument("--flood-per-s", type=float, default=60.0,
                        help="open-loop overload, turn requests per second")
    parser.add_argument("--flood-in-flight", type=int, default=64)
    parser.add_argument("--retry-s", type=float, default=0.05,
                        help="interactive clients' wait after a refusal")
    parser.add_argument("--edge-workers", type=int, default=2,
                        help="admission's k (2: one turn worker on this 2-core machine)")
    parser.add_argument("--slo-wait-p95-s", type=float, default=0.5)
    parser.add_argument("--ewma-tau-s", type=float, default=5.0)
    parser.add_argument("--service-prior-s", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=1, help="turn worker processes")
    args = parser.parse_args(argv)
    if args.quick:
        args.phase_s = min(args.phase_s, 20.0)
    with tempfile.TemporaryDirectory(prefix="somagent-bench-lanes-") as home:
        stack = Stack(fresh_stack_settings(Path(home)))
        try:
            settings = stack.up(Layout(workers=args.workers, edges=1, jobs=0)).settings
            print(json.dumps(asyncio.run(_run(settings, args)), indent=2))
        finally:
            stack.down()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
