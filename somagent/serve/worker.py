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

from somagent.billing.pricebook_file import load_pricebook
from somagent.config import Settings
from somagent.engine.app import make_app
from somagent.engine.driver import TurnDeps, TurnDriver
from somagent.engine.faust_codec import install_faust_codec
from somagent.engine.turns import TableProgress, progress_table, register_turns
from somagent.events.catalog import CONVERSATION
from somagent.kafka.admin import GroupLag
from somagent.kafka.producer import EventProducer
from somagent.kafka.schema_log import kafka_codec
from somagent.memory.client import MemoryGatewayClient
from somagent.planners import make_planner
from somagent.serve.health import HealthServer, LoopHeartbeat
from somagent.tools.broker import ToolBroker
from somagent.tools.exceptions import SandboxUnavailable
from somagent.tools.gates import RedisGate
from somagent.tools.idempotency import RedisIdempotencyStore
from somagent.tools.isolation import Isolation
from somagent.tools.isolation import check as check_isolation
from somagent.tools.registry import ToolRegistry
from somagent.tools.sql_tool import analytics_connect
from somagent.tools.tenant_plans import TenantPlans
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


def usage_prices(plan: str | None = None) -> ev.UsagePrices:
    """The unit prices the engine stamps on ``UsageRecorded`` (the price book's ``plan``)."""
    p = load_pricebook().prices(plan)
    return ev.UsagePrices(
        token_picocents=p.token_picocents,
        tool_call_picocents=p.tool_call_picocents,
        storage_byte_picocents=p.storage_byte_picocents,
        egress_byte_picocents=p.egress_byte_picocents,
    )


def sandbox_isolation(settings: Settings) -> Isolation | None:
    """How the python tool isolates snippets (``SOMAGENT_TOOL_SANDBOX``): namespaces that
    hide the data and cache directories, checked once here so a host that forbids them
    is reported at start-up (each call then fails ``unavailable``), or none."""
    if settings.tool_sandbox == "none":
        log.warning("SOMAGENT_TOOL_SANDBOX=none: python snippets run with resource limits "
                    "only (network and the host's files are reachable)")
        return None
    writable = settings.tool_sandbox_writable
    isolation = Isolation(
        hidden=(str(settings.home_dir), str(settings.cache_path)),
        writable=() if writable is None else (str(writable.expanduser().resolve()),),
    )
    try:
        check_isolation(isolation)
    except SandboxUnavailable as exc:
        log.error("python tool: %s", exc)
    return isolation


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
    codec = kafka_codec(settings)
    # Every turn step waits for its events' acks, so lingering to fill batches only adds
    # latency; concurrent turns still share batches while requests are in flight.
    producer = EventProducer(settings, codec, config={"linger.ms": 0})
    install_faust_codec(codec, dead_letters=producer)
    app = make_app(settings, datadir=datadir)
    memory = MemoryGatewayClient.from_settings(settings)
    redis = aioredis.Redis.from_url(settings.redis_dsn)
    sql = analytics_connect(settings)
    if sql is None:
        log.warning("no sql tool: SOMAGENT_CLICKHOUSE_URL names a ClickHouse server, and only "
                    "the analytics service scopes a query to one tenant")
    registry = ToolRegistry.with_builtins(
        recall=memory, sql=sql, python_isolation=sandbox_isolation(settings)
    )
    gate = RedisGate(redis, plans=TenantPlans(settings.postgres_dsn))
    broker = ToolBroker(registry, idempotency=RedisIdempotencyStore(redis), gate=gate)
    deps = TurnDeps(planner=make_planner(), broker=broker, memory=memory, prices=usage_prices())
    progress = TableProgress(progress_table(app, settings.topic_partitions))
    driver = TurnDriver(deps, producer, progress)
    register_turns(app, driver, concurrency=concurrency)
    heartbeat = LoopHeartbeat()
    app.task(heartbeat.run)
    return Worker(app=app, driver=driver, memory=memory, producer=producer, heartbeat=heartbeat)


def run_faust(app: faust.App, *, loglevel: str = "info", services: Any = ()) -> None:
    """Run ``app`` in the foreground until SIGTERM/SIGINT (Faust handles the signals)."""
    worker = faust.Worker(app, *services, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


def run_worker(settings: Settings, *, loglevel: str = "info", instance: int = 0) -> None:
    """``somagent serve worker``: the turn engine, until SIGTERM/SIGINT."""
    worker = build_worker(settings, instance=instance)
    health = HealthServer.from_env("worker")
    health.add_check("event loop", worker.heartbeat.check)
    health.add_lag(GroupLag(settings, settings.worker_app_id, [CONVERSATION]))
    health.start()
    try:
        run_faust(worker.app, loglevel=loglevel)
    finally:
        health.close()
        worker.producer.close()
