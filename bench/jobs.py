"""Job step overhead next to a bare Temporal activity, and job throughput, on the real stack.

Needs a running platform (``somagent up``: Temporal, the edge, the jobs workers, the
turn engine); addresses come from the ``SOMAGENT_*`` settings.

1. **Step overhead.** This process runs its own Temporal worker on a scratch task queue
   with the real job workflow and activities (Kafka producer, Redis, the tool broker)
   and, on the same worker, a bare workflow whose steps are activities that do nothing
   (:mod:`somagent.jobs.baseline`). A job of ``n`` sequential no-op steps (``calc`` of
   ``"0"``: the cheapest tool) and a bare workflow of ``n`` no-op activities each run
   ``n = 1`` and ``n = N``; the marginal time of one step is ``(t(N) - t(1)) / (N - 1)``
   (fixed costs such as starting the workflow cancel out), median over the repetitions,
   taken alternately in the same run. A job step's marginal cost includes what the
   job adds around its activity: ``JobStepStarted`` and ``JobStepCompleted`` appended to
   Kafka with acks (a local activity each), the broker's rate gate (a Redis script) and
   the step's ``UsageRecorded``. ``ratio = job step / bare activity``.
2. **Jobs/s.** Closed-loop lanes through the platform's edge at concurrency 1 and 16:
   each lane (its own session) submits a two-step job (``calc`` then ``calc``) with
   ``POST /v1/jobs`` and follows ``/v1/jobs/{id}/logs`` to its end, then submits the
   next; a lane moves to a fresh tenant every 25 jobs, so the tool broker's default
   window (60 calls per tenant and tool per minute) does not throttle the figure.
   ``jobs_per_s`` = completed jobs / the level's wall time; ``job_ms`` is the client's
   submit → ``completed`` event time.

Prints one JSON object; nothing is asserted. Run with ``-P``::

    .venv/bin/python -P bench/jobs.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
import uuid
from typing import Any

import asyncpg
import httpx

from somagent.api.tenants import create_tenant
from somagent.config import Settings, load_settings
from somagent.contract import names
from somagent.events.envelope import now_us
from somagent.jobs import events as ev
from somagent.jobs import messages as msg
from somagent.jobs.baseline import BARE_WORKFLOW, BareSteps, noop
from somagent.jobs.worker import build_jobs_worker
from somagent.policy.defaults import DEFAULT_POLICY_HASH

NOOP = {"name": "calc", "arguments": {"expression": "0"}}


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    s = sorted(values)

    def q(p: float) -> float:
        return round(s[min(len(s) - 1, max(0, round(p * len(s)) - 1))], 3)

    return {"p50": q(0.5), "p95": q(0.95), "max": round(s[-1], 3), "n": len(s)}


def chain(n: int) -> dict[str, Any]:
    steps = [{"name": f"s{i}", "tool": NOOP, **({"depends_on": [f"s{i - 1}"]} if i else {})}
             for i in range(n)]
    return {"name": f"bench chain of {n}", "steps": steps}


async def run_job(settings: Settings, client: Any, producer: Any, queue: str, n: int) -> float:
    """Seconds from submitting a job of ``n`` no-op steps to its end (as the edge does it)."""
    spec = chain(n)
    job_id, tenant = str(uuid.uuid4()), str(uuid.uuid4())
    ref = ev.JobRef(job_id, tenant, uuid.uuid4().hex)
    spec_json = ev.canonical_json(spec)
    started = time.perf_counter()
    submitted_us = now_us()
    await producer.append(ev.job_event(
        ref, names.JOB_SUBMITTED, 0, submitted_us, name=spec["name"], spec_json=spec_json,
        spec_sha256=ev.spec_digest(spec_json), session_id=ref.session, submitted_by="bench",
        steps=[s["name"] for s in spec["steps"]], budget_tokens=0, idempotency_key=None,
        parent_job_id=None, parent_step=None, workflow_id=msg.workflow_id(job_id)))
    result = await client.execute_workflow(
        msg.WORKFLOW, msg.JobInput(job_id, tenant, ref.trace_id, spec, submitted_us, "bench"),
        id=msg.workflow_id(job_id), task_queue=queue, result_type=dict)
    if result["status"] != "completed":
        raise RuntimeError(f"bench job {job_id} ended {result}")
    return time.perf_counter() - started


async def run_bare(client: Any, queue: str, n: int) -> float:
    started = time.perf_counter()
    await client.execute_workflow(BARE_WORKFLOW, n, id=f"bench-bare-{uuid.uuid4()}",
                                  task_queue=queue, result_type=int)
    return time.perf_counter() - started


async def step_overhead(settings: Settings, n: int, repeats: int) -> dict[str, Any]:
    queue = f"bench-jobs-{uuid.uuid4().hex[:8]}"
    local = settings.model_copy(update={"temporal_task_queue": queue})
    jobs = await build_jobs_worker(local, extra_workflows=[BareSteps], extra_activities=[noop])
    worker = asyncio.create_task(jobs.worker.run())
    client = jobs.worker.client
    job_ms: list[float] = []
    bare_ms: list[float] = []
    try:
        await run_job(settings, client, jobs.producer, queue, 1)  # warm up both paths
        await run_bare(client, queue, 1)
        for _ in range(repeats):
            one = await run_job(settings, client, jobs.producer, queue, 1)
            many = await run_job(settings, client, jobs.producer, queue, n)
            job_ms.append((many - one) / (n - 1) * 1000)
            b_one, b_many = await run_bare(client, queue, 1), await run_bare(client, queue, n)
            bare_ms.append((b_many - b_one) / (n - 1) * 1000)
    finally:
        await jobs.worker.shutdown()
        await asyncio.gather(worker, return_exceptions=True)
        await jobs.close()
    job, bare = statistics.median(job_ms), statistics.median(bare_ms)
    return {"steps": n, "repeats": repeats, "job_step_ms": round(job, 3),
            "bare_activity_ms": round(bare, 3), "ratio": round(job / bare, 3) if bare else None,
            "job_step_ms_samples": [round(x, 3) for x in job_ms],
            "bare_activity_ms_samples": [round(x, 3) for x in bare_ms]}


async def session(settings: Settings, http: httpx.AsyncClient) -> dict[str, str]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        tenant, key = await create_tenant(conn, f"bench-jobs-{uuid.uuid4().hex[:6]}", "pro",
                                          "eu")
    finally:
        await conn.close()
    r = await http.post("/v1/session/mint", headers={"Authorization": f"Bearer {key}"}, json={
        "tenant": tenant.tenant_id, "persona_hash": "sha256-" + "a" * 64,
        "policy_hash": DEFAULT_POLICY_HASH,
        "budgets": {"tokens": 10**9, "tools_per_min": 100_000}})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['jwt']}"}


async def one_job(http: httpx.AsyncClient, auth: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    r = await http.post("/v1/jobs", json={"spec": chain(2)}, headers=auth)
    r.raise_for_status()
    job_id, end = r.json()["job_id"], ""
    async with http.stream("GET", f"/v1/jobs/{job_id}/logs", headers=auth) as log:
        async for line in log.aiter_lines():
            if line.startswith("event: ") and line[7:] in ("completed", "failed", "cancelled"):
                end = line[7:]
    return (time.perf_counter() - started) * 1000, end


#: Jobs per tenant before a lane moves to a fresh one: 2 calc calls a job stay under the
#: broker's default window of 60 calls per tenant and tool per minute.
JOBS_PER_TENANT = 25


async def throughput(settings: Settings, lanes: int, limit_s: float,
                     per_lane: int) -> dict[str, Any]:
    times: list[float] = []
    outcomes: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=settings.api_url, timeout=120,
                                 limits=httpx.Limits(max_connections=4 * lanes + 8)) as http:
        first = [await session(settings, http) for _ in range(lanes)]
        deadline = time.monotonic() + limit_s

        async def lane(auth: dict[str, str]) -> None:
            for n in range(per_lane):
                if time.monotonic() > deadline:
                    return
                if n and n % JOBS_PER_TENANT == 0:
                    auth = await session(settings, http)
                ms, end = await one_job(http, auth)
                outcomes[end or "unfinished"] = outcomes.get(end or "unfinished", 0) + 1
                if end == "completed":
                    times.append(ms)

        started = time.monotonic()
        await asyncio.gather(*(lane(a) for a in first))
        wall = time.monotonic() - started
    done = outcomes.get("completed", 0)
    return {"concurrency": lanes, "completed": done, "outcomes": outcomes,
            "wall_s": round(wall, 3), "jobs_per_s": round(done / wall, 3) if wall else 0,
            "job_ms": percentiles(times)}


async def main(quick: bool) -> dict[str, Any]:
    settings = load_settings()
    out: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "step_overhead": await step_overhead(settings, 5 if quick else 10, 3 if quick else 7),
        "throughput": {},
    }
    for lanes in (1, 16):
        out["throughput"][f"c{lanes}"] = await throughput(
            settings, lanes, 30.0 if quick else 90.0, 10 if quick else 40)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    json.dump(asyncio.run(main(args.quick)), sys.stdout, indent=2)
    sys.stdout.write("\n")
