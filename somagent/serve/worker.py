"""Assembling a turn-worker process: the Faust app with the ``turns`` agent.

``build_worker`` wires real adapters (Kafka producer and codec, Redis for tool
idempotency and gates, the Memory Gateway for recall and remember, tenant-scoped
clients of the analytics service for the ``sql`` tool) into the pure turn machine.
``run_worker`` runs it in the foreground under Faust's worker (SIGTERM/SIGINT stop
it cleanly), with the health endpoint the supervisor polls. Several worker processes
share one Faust app id, so they are one consumer group over ``conversation.events``;
each has its own data directory (``faust/<app id>/<instance>``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import faust
import redis.asyncio as aioredis

from somagent import logs
from somagent.api.settings import EdgeSettings
from somagent.billing.pricebook_file import load_pricebook
from somagent.config import Settings
from somagent.engine.app import make_app
from somagent.engine.driver import TurnDeps, TurnDriver
from somagent.engine.faust_codec import install_faust_codec
from somagent.engine.turns import ReadCount, TableProgress, progress_table, register_turns
from somagent.events.catalog import CONVERSATION
from somagent.kafka.admin import GroupLag
from somagent.kafka.producer import EventProducer
from somagent.kafka.schema_log import kafka_codec
from somagent.limits.idempotency import TurnRequestClaims
from somagent.memory.client import MemoryGatewayClient
from somagent.planners import make_planner
from somagent.serve.health import HealthServer, LoopHeartbeat, StallCheck
from somagent.serve.tool_wiring import tool_broker, tool_registry
from somagent.telemetry import tracing
from somagent.turns import events as ev

log = logging.getLogger(__name__)


@dataclass
class Worker:
    """A wired worker; ``app`` is the Faust app to run."""

    app: faust.App
    driver: TurnDriver
    memory: MemoryGatewayClient
    producer: EventProducer
    heartbeat: LoopHeartbeat
    read: ReadCount


def usage_prices(plan: str | None = None) -> ev.UsagePrices:
    """The unit prices the engine stamps on ``UsageRecorded`` (the price book's ``plan``)."""
    p = load_pricebook().prices(plan)
    return ev.UsagePrices(
        token_picocents=p.token_picocents,
        tool_call_picocents=p.tool_call_picocents,
        storage_byte_picocents=p.storage_byte_picocents,
        egress_byte_picocents=p.egress_byte_picocents,
    )


def build_worker(
    settings: Settings,
    *,
    concurrency: int = 16,
    instance: int = 0,
) -> Worker:
    """Wire the engine for ``settings`` (``instance``: this process's index among the
    turn workers of one installation; it only separates their data directories)."""
    datadir = settings.home_dir / "faust" / settings.worker_app_id / str(instance)
    datadir.mkdir(parents=True, exist_ok=True)
    codec = kafka_codec(settings, open_fields=True)
    # Every turn step waits for its events' acks, so lingering to fill batches only adds
    # latency; concurrent turns still share batches while requests are in flight.
    producer = EventProducer(settings, codec, config={"linger.ms": 0})
    install_faust_codec(codec, dead_letters=producer)
    app = make_app(settings, datadir=datadir)
    memory = MemoryGatewayClient.from_settings(settings)
    redis = aioredis.Redis.from_url(settings.redis_dsn)
    broker = tool_broker(settings, redis, tool_registry(settings, memory),
                         append=producer.append)
    deps = TurnDeps(planner=make_planner(), broker=broker, memory=memory, prices=usage_prices(),
                    requests=TurnRequestClaims(redis))
    progress = TableProgress(progress_table(app, settings.topic_partitions))
    driver = TurnDriver(deps, producer, progress)
    read = ReadCount()
    register_turns(app, driver, concurrency=concurrency, read=read)
    heartbeat = LoopHeartbeat()
    app.task(heartbeat.run)
    return Worker(app=app, driver=driver, memory=memory, producer=producer, heartbeat=heartbeat,
                  read=read)


def run_faust(app: faust.App, *, loglevel: str = "info", services: Any = ()) -> None:
    """Run ``app`` in the foreground until SIGTERM/SIGINT (Faust handles the signals).

    Faust sets up its own log handlers when it starts; the repeat filter
    (:mod:`somagent.logs`) is added to them by a task that runs first thing.
    """

    async def filter_repeats() -> None:
        logs.install_filter()

    app.task(filter_repeats)
    worker = faust.Worker(app, *services, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


def run_worker(settings: Settings, *, loglevel: str = "info", instance: int = 0) -> None:
    """``somagent serve worker``: the turn engine, until SIGTERM/SIGINT."""
    tracing.configure_role("worker")
    worker = build_worker(settings, instance=instance)
    health = HealthServer.from_env("worker")
    health.add_check("event loop", worker.heartbeat.check)
    lag = GroupLag(settings, settings.worker_app_id, [CONVERSATION])
    health.add_lag(lag)
    # A turn holds its offset until it ends (at most its deadline), so the group may lag
    # without anything wrong for that long; beyond it, waiting records nobody reads are.
    stall_s = EdgeSettings().turn_deadline_ms / 1000 + 30
    stall_lag = GroupLag(settings, settings.worker_app_id, [CONVERSATION])  # its own client
    health.add_check("consumer", StallCheck(
        lambda: sum(stall_lag().values()), lambda: worker.read.value, stall_s=stall_s
    ))
    health.start()
    try:
        run_faust(worker.app, loglevel=loglevel)
    finally:
        health.close()
        worker.producer.close()
