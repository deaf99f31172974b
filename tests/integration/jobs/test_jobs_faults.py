"""Faults: the jobs worker SIGKILLed mid-step, the Temporal server restarted mid-job."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from jobs_helpers import Caller, Role, python_effect, step_events

from somagent.contract import names
from somagent.events.catalog import CONVERSATION
from somagent.jobs.events import job_session
from somagent.jobs.keylog import KeyedLog
from somagent.kafka.schema_log import kafka_codec
from somagent.stack.stack import RunningStack
from somagent.stack.temporal import Temporal
from somagent.wait import until_async

pytestmark = pytest.mark.integration


def _turn_requests(stack: RunningStack, job_id: str) -> list[str]:
    """Turn ids of every TurnRequested record in the job's session (copies included)."""
    log = KeyedLog(stack.settings, kafka_codec(stack.settings), CONVERSATION, readers=1)
    try:
        session = job_session(job_id)
        partition = log.partition_of(session)
        got = log.read(partition, 0, session, end=log.end_offset(partition))
    finally:
        log.close()
    return [str(r.event["turn"]) for r in got.records
            if r.event["type"] == names.TURN_REQUESTED]


async def test_sigkill_mid_step_resumes_with_side_effects_once(
    stack: RunningStack, caller: Caller, jobs_worker: Role, turns: Role, effects_dir: Path
) -> None:
    effects = effects_dir / "effects.log"
    turns.stop()  # the turn step will wait: no engine answers until it is back
    job_id = await caller.start({"steps": [
        {"name": "before", "tool": python_effect(effects, "before")},
        {"name": "think", "turn": {"text": "What is 12 * 12?", "allow": {"tools": ["calc"]}},
         "depends_on": ["before"]},
        {"name": "gate", "approval": {}, "depends_on": ["think"]},
        {"name": "after", "tool": python_effect(effects, "after"), "depends_on": ["gate"]},
    ]})
    try:
        await caller.wait_step(job_id, "think", "running")
        await until_async(lambda: asyncio.to_thread(_turn_requests, stack, job_id),
                          timeout_s=30, what="the turn step's TurnRequested")
        jobs_worker.kill()  # mid-step: the turn is requested, its answer not yet read
        jobs_worker.start()
    finally:
        turns.start()
    job = await caller.wait_step(job_id, "gate", "waiting", timeout_s=120)
    jobs_worker.kill()  # mid-step again: waiting for the approval
    jobs_worker.start()

    async def approved() -> bool:
        r = await caller.decide(job_id, "gate", "approve")
        return r.status_code == 200

    await until_async(approved, timeout_s=60, what="the restarted worker to take the approval")
    job = await caller.wait(job_id, timeout_s=120)
    assert job["status"] == "completed", job
    assert effects.read_text() == "before\nafter\n"  # each side effect ran once
    think = next(s for s in job["steps"] if s["name"] == "think")
    assert "144" in think["output"]["text"]
    assert _turn_requests(stack, job_id) == [think["output"]["turn_id"]]  # requested once
    log = await caller.log(job_id)
    for step in ("before", "think", "gate", "after"):
        assert len(step_events(log, names.JOB_STEP_COMPLETED, step)) == 1, step
    assert len({m["data"]["event_id"] for m in log}) == len(log)


async def test_temporal_restart_mid_job_continues(
    stack: RunningStack, caller: Caller, effects_dir: Path
) -> None:
    effects = effects_dir / "effects.log"
    job_id = await caller.start({"steps": [
        {"name": "one", "tool": python_effect(effects, "one")},
        {"name": "gate", "approval": {}, "depends_on": ["one"]},
        {"name": "two", "tool": python_effect(effects, "two"), "depends_on": ["gate"]},
    ]})
    await caller.wait_step(job_id, "gate", "waiting")
    server = Temporal(stack.settings)
    assert server.stop()
    r = await caller.decide(job_id, "gate", "approve")
    assert r.status_code == 503 and r.json()["type"].endswith("/jobs-unavailable")
    await asyncio.to_thread(server.start)  # same SQLite file, same port

    async def approved() -> bool:
        try:
            return (await caller.decide(job_id, "gate", "approve")).status_code == 200
        except httpx.HTTPError:
            return False

    await until_async(approved, timeout_s=90, what="the approval after the restart")
    job = await caller.wait(job_id, timeout_s=120)
    assert job["status"] == "completed", job
    assert effects.read_text() == "one\ntwo\n"
