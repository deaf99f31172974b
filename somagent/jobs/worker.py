"""``somagent serve jobs``: a Temporal worker running job workflows and their activities.

Workers of one installation poll one task queue (``SOMAGENT_TEMPORAL_TASK_QUEUE``), so
more processes share the work; any of them can resume any job after a crash (the
workflow's state is its Temporal history). It wires real clients: the Kafka producer
(job events, turn requests, usage), Redis (tool idempotency, gates, turn-step records,
job budgets), the tool broker with the built-in tools (the Memory Gateway for
``memory.search``, the analytics service for ``sql``), and a reader of
``conversation.events`` for the turns its turn steps wait for.

Health (``/healthz`` on ``SOMAGENT_HEALTH_PORT``): the event loop turns and the
Temporal worker is running.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis
from temporalio.worker import Worker

from somagent.billing.pricebook_file import load_pricebook
from somagent.config import Settings
from somagent.events.catalog import CONVERSATION
from somagent.jobs.activities import JobActivities
from somagent.jobs.keylog import KeyedLog
from somagent.jobs.temporal import connect
from somagent.jobs.tool_step import ToolSteps
from somagent.jobs.turn_step import TurnSteps
from somagent.jobs.workflow import JobWorkflow
from somagent.kafka.producer import EventProducer
from somagent.kafka.schema_log import kafka_codec
from somagent.limits.budget import RedisTokenBudget
from somagent.memory.client import MemoryGatewayClient
from somagent.serve.health import HealthServer, LoopHeartbeat
from somagent.serve.tool_wiring import tool_broker, tool_registry
from somagent.telemetry.tracing import configure_role
from somagent.turns.events import UsagePrices

log = logging.getLogger(__name__)


def usage_prices(plan: str | None = None) -> UsagePrices:
    p = load_pricebook().prices(plan)
    return UsagePrices(p.token_picocents, p.tool_call_picocents, p.storage_byte_picocents,
                       p.egress_byte_picocents)


@dataclass
class JobsWorker:
    worker: Worker
    producer: EventProducer
    redis: Any
    memory: MemoryGatewayClient
    log: KeyedLog

    async def close(self) -> None:
        await asyncio.to_thread(self.producer.close, 5.0)
        await asyncio.to_thread(self.log.close)
        await self.memory.aclose()
        await self.redis.aclose()


async def build_jobs_worker(
    settings: Settings,
    *,
    max_activities: int = 64,
    extra_workflows: Sequence[type] = (),
    extra_activities: Sequence[Callable[..., Any]] = (),
) -> JobsWorker:
    """Wire the worker for ``settings`` (raises ``JobsUnavailable`` without Temporal).

    ``extra_*``: more workflows and activities on the same worker (the benchmark's
    baseline)."""
    codec = await asyncio.to_thread(kafka_codec, settings)
    producer = EventProducer(settings, codec, config={"linger.ms": 0})
    redis = aioredis.Redis.from_url(settings.redis_dsn)
    memory = MemoryGatewayClient.from_settings(settings)
    registry = await asyncio.to_thread(tool_registry, settings, memory)
    broker = tool_broker(settings, redis, registry, append=producer.append, producer="jobs")
    keylog = await asyncio.to_thread(KeyedLog, settings, codec, CONVERSATION)
    activities = JobActivities(
        producer,
        ToolSteps(broker, producer, usage_prices()),
        TurnSteps(producer, keylog, redis, RedisTokenBudget(redis)),
    )
    client = await connect(settings, role="jobs-worker")
    worker = Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=[JobWorkflow, *extra_workflows],
        activities=[*activities.activities(), *extra_activities],
        max_concurrent_activities=max_activities,
        graceful_shutdown_timeout=timedelta(seconds=5),
    )
    return JobsWorker(worker, producer, redis, memory, keylog)


async def serve(settings: Settings, heartbeat: LoopHeartbeat, running: dict[str, bool]) -> None:
    """Run the worker until SIGTERM/SIGINT."""
    jobs = await build_jobs_worker(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    beat = asyncio.create_task(heartbeat.run())
    task = asyncio.create_task(jobs.worker.run())
    running["worker"] = True
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([task, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        running["worker"] = False
        stopping.cancel()
        if not task.done():
            await jobs.worker.shutdown()
        beat.cancel()
        await jobs.close()
    await task  # re-raises what ended the worker, if it failed


def run_jobs_worker(settings: Settings) -> None:
    """``somagent serve jobs``: the job workflows and activities, until SIGTERM/SIGINT."""
    configure_role("jobs")
    heartbeat = LoopHeartbeat()
    running = {"worker": False}
    health = HealthServer.from_env("jobs")
    health.add_check("event loop", heartbeat.check)
    health.add_check("temporal worker", lambda: (running["worker"], "" if running["worker"]
                                                 else "the Temporal worker is not running"))
    health.start()
    try:
        asyncio.run(serve(settings, heartbeat, running))
    finally:
        health.close()
