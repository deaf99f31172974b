"""Jobs in the read models: Postgres jobs/job_steps (and GET /v1/jobs?status=), ClickHouse
events, usage in usage_ledger, replay --verify, audit --job."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import asyncpg
import pytest
from jobs_helpers import Caller

from somagent.billing.state import BillingConfig
from somagent.billing.worker import BillingThread
from somagent.jobs.events import job_session
from somagent.projections.audit import trail
from somagent.projections.replay import replay_clickhouse, replay_postgres
from somagent.projections.run import ProjectorThreads
from somagent.stack.stack import RunningStack
from somagent.wait import until_async

pytestmark = pytest.mark.integration
PREFIX = "jobs-it-"


@pytest.fixture(scope="module")
def read_models(stack: RunningStack) -> Iterator[None]:
    billing = BillingThread(stack.settings, BillingConfig(
        grace_s=1.0, group=f"jobs-it-billing-{uuid.uuid4().hex[:6]}", batch=2000))
    projectors = ProjectorThreads(stack.settings, prefix=PREFIX)
    yield
    projectors.stop()
    billing.stop()


async def _rows(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def test_jobs_reach_every_read_model(stack: RunningStack, caller: Caller,
                                           read_models: None) -> None:
    dsn = stack.settings.postgres_dsn
    job_id = await caller.start({"name": "projected", "steps": [
        {"name": "add", "tool": {"name": "calc", "arguments": {"expression": "20 + 22"}}},
        {"name": "ask", "turn": {"text": "What is 6 * 7?", "allow": {"tools": ["calc"]}},
         "depends_on": ["add"]},
        {"name": "gate", "approval": {"timeout_s": 0.2, "on_timeout": "approve"},
         "depends_on": ["ask"]},
    ]})
    assert (await caller.wait(job_id))["status"] == "completed"

    async def projected() -> list[asyncpg.Record]:
        rows = await _rows(dsn, "SELECT * FROM jobs WHERE job_id = $1", uuid.UUID(job_id))
        return rows if rows and rows[0]["status"] == "completed" else []

    job = (await until_async(projected, timeout_s=60, what="the jobs row"))[0]
    assert (job["name"], job["steps_total"], job["steps_completed"]) == ("projected", 3, 3)
    assert str(job["tenant_id"]) == caller.tenant and str(job["session_id"]) == job_session(job_id)
    steps = await _rows(dsn, "SELECT * FROM job_steps WHERE job_id = $1 ORDER BY position",
                        uuid.UUID(job_id))
    assert [(s["step"], s["kind"], s["status"]) for s in steps] == [
        ("add", "tool", "completed"), ("ask", "turn", "completed"),
        ("gate", "approval", "completed")]
    assert steps[2]["approval_decision"] == "approved" and steps[2]["approved_by"] == "timeout"

    listed = await caller.http.get("/v1/jobs?status=completed", headers=caller.auth)
    assert [j["job_id"] for j in listed.json()["jobs"]] == [job_id]
    running = await caller.http.get("/v1/jobs?status=running", headers=caller.auth)
    assert job_id not in [j["job_id"] for j in running.json()["jobs"]]
    assert (await caller.http.get("/v1/jobs?status=odd", headers=caller.auth)).status_code == 400

    async def billed() -> list[asyncpg.Record]:
        rows = await _rows(dsn, "SELECT agent, sum(tool_calls) AS calls, sum(tokens) AS tokens "
                           "FROM usage_ledger WHERE session_id = $1 GROUP BY agent",
                           uuid.UUID(job_session(job_id)))
        agents = {r["agent"]: r for r in rows}
        return rows if "tool:calc" in agents and agents["tool:calc"]["calls"] == 2 else []

    usage = {r["agent"]: r for r in await until_async(billed, timeout_s=150,
                                                       what="the job's usage in usage_ledger")}
    assert usage["tool:calc"]["calls"] == 2  # the tool step and the turn's own calc call

    pg = await replay_postgres(stack.settings, verify=True, live_name=f"{PREFIX}postgres")
    assert pg.equal, [(t.table, t.missing[:3], t.extra[:3], t.different[:3]) for t in pg.tables]
    assert {"jobs", "job_steps"} <= {t.table for t in pg.tables if t.live_rows > 0}
    ch = await asyncio.to_thread(replay_clickhouse, stack.settings, verify=True,
                                 live_name=f"{PREFIX}clickhouse")
    assert ch.equal, [(t.table, t.missing[:3], t.different[:3]) for t in ch.tables]

    rows = await asyncio.to_thread(trail, stack.settings, job=job_id)
    types = [r["type"] for r in rows]
    assert types[0] == "JobSubmitted" and "JobCompleted" in types
    assert {"TurnRequested", "TurnAnswered", "TurnCompleted", "UsageRecorded"} <= set(types)
