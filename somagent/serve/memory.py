"""``somagent serve memory``: the Memory Gateway process (assembly and run).

The one process that opens the vector store (:func:`~somagent.memory.store.open_store`:
Qdrant Edge by default). It runs, until SIGTERM/SIGINT:

* the Faust ``memory`` agent (remember-guard + vector projector over
  ``memory.events``) on its own Faust app and consumer group
  ``<SOMAGENT_WORKER_APP_ID>-memory``, so it scales on ``memory.events`` partitions
  apart from the turn workers; Faust owns the main thread's event loop and signals;
* the HTTP API (:mod:`somagent.memory.gateway`) under uvicorn on
  ``127.0.0.1:SOMAGENT_MEMORY_PORT``, in a thread with its own event loop;
* the indexer (:mod:`somagent.memory.indexer`) for Qdrant Edge.

The PII key (``pii_key(home)``) is read here and nowhere else: recall redacts the
query with it, remember redacts the text before it is appended.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from somagent.config import Settings
from somagent.credentials import service_token
from somagent.events.catalog import MEMORY
from somagent.kafka.admin import GroupLag, partitions_of
from somagent.kafka.reader import LogReader
from somagent.memory.gateway import GatewayDeps, create_gateway_app
from somagent.memory.indexer import Indexer
from somagent.memory.metrics import GatewayMetrics
from somagent.memory.runtime import MemoryRuntime
from somagent.memory.store import engine_name

log = logging.getLogger(__name__)


GROUP_SESSION_TIMEOUT_S = 30.0


def gateway_app_id(settings: Settings) -> str:
    """The gateway's Faust app id and consumer group on ``memory.events``."""
    return f"{settings.worker_app_id}-memory"


class LagProbe:
    """Consumer lag on ``memory.events``: high watermark minus the next offset to apply,
    for each partition the projector has applied something on; cached for ``ttl_s``."""

    def __init__(self, settings: Settings, *, ttl_s: float = 2.0, timeout_s: float = 1.0):
        parts = partitions_of(settings, [MEMORY])
        self._reader = LogReader(settings, parts, None, name=f"lag-{uuid.uuid4().hex[:8]}",
                                 config={})
        self._ttl_s, self._timeout_s = ttl_s, timeout_s
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[int, int]] = (-math.inf, {})

    def __call__(self, applied: dict[int, int]) -> dict[int, int]:
        with self._lock:
            at, lag = self._cached
            if time.monotonic() - at < self._ttl_s and set(lag) == set(applied):
                return lag
            highs = self._reader.watermarks(self._timeout_s)
            lag = {
                partition: max(0, highs.get((MEMORY, partition), (0, 0))[1] - (offset + 1))
                for partition, offset in applied.items()
            }
            self._cached = (time.monotonic(), lag)
            return lag

    def close(self) -> None:
        self._reader.close()


class HttpThread:
    """uvicorn serving ``app`` in a background thread (no signal handlers)."""

    def __init__(self, app: Any, port: int, host: str = "127.0.0.1") -> None:
        import uvicorn

        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="memory-http", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)


def _safe(fn: Callable[[], float]) -> Callable[[], float]:
    def read() -> float:
        try:
            return fn()
        except Exception:
            return math.nan

    return read


@dataclass
class Gateway:
    """A wired gateway: ``app`` is the Faust app to run; ``close`` releases the rest."""

    app: Any
    memory: MemoryRuntime
    http: HttpThread
    indexer: Indexer | None
    closers: list[tuple[str, Callable[[], None]]]
    metrics: GatewayMetrics | None = None

    def close(self) -> None:
        """Stop serving and release everything, in order; failures are logged."""
        for name, closer in self.closers:
            try:
                closer()
            except Exception:
                log.exception("memory gateway: closing %s failed", name)


def _memory_policy(settings: Settings, producer: Any, metrics: GatewayMetrics) -> Any:
    """The constitution's write check: sessions' policies from Redis, decisions by OPA."""
    from redis import asyncio as aioredis

    from somagent.policy.gate import PolicyGate, metrics_for
    from somagent.policy.memory_gate import OpaMemoryPolicy
    from somagent.policy.opa import OpaClient
    from somagent.policy.sessions import SessionPolicies

    gate = PolicyGate(OpaClient(settings.opa_endpoint), ttl_s=settings.policy_cache_ttl_s,
                      metrics=metrics_for(metrics.registry))
    sessions = SessionPolicies(aioredis.Redis.from_url(settings.redis_dsn))
    return OpaMemoryPolicy(gate, sessions, producer.append, producer="memory-gateway")


def build_gateway(settings: Settings, *, index_interval_s: float = 10.0) -> Gateway:
    """Open the store and wire the agent, the HTTP API and the indexer (nothing runs yet)."""
    from somagent.engine.app import make_app
    from somagent.engine.faust_codec import install_faust_codec
    from somagent.engine.memory import register_memory
    from somagent.kafka.producer import EventProducer
    from somagent.kafka.schema_log import kafka_codec

    memory = MemoryRuntime.open(settings)
    store = memory.store
    codec = kafka_codec(settings, open_fields=True)
    producer = EventProducer(settings, codec, config={"linger.ms": 0})
    install_faust_codec(codec, dead_letters=producer)
    app = make_app(settings, app_id=gateway_app_id(settings))
    # An index build holds the GIL (no heartbeats) for up to ~15 s: stay in the group.
    app.conf.broker_session_timeout = GROUP_SESSION_TIMEOUT_S
    register_memory(app, memory, producer)
    lag = LagProbe(settings)
    metrics = GatewayMetrics(
        _safe(lambda: float(store.stats().points)),
        _safe(lambda: float(store.stats().indexed_points)),
    )
    deps = GatewayDeps(
        recaller=memory.recaller, guard=memory.guard, projector=memory.projector, store=store,
        append=producer.append, token=service_token(settings.home_dir),
        engine=engine_name(settings), collection=memory.collection, metrics=metrics, lag=lag,
        brain=memory.brain, policy=_memory_policy(settings, producer, metrics),
    )
    http = HttpThread(create_gateway_app(deps), settings.memory_port, settings.memory_host)
    optimize = getattr(store, "optimize", None)
    indexer = (
        Indexer(optimize, interval_s=index_interval_s, observe=metrics.optimize.observe)
        if optimize is not None
        else None
    )
    closers: list[tuple[str, Callable[[], None]]] = [
        ("http", http.stop),
        ("indexer", indexer.stop if indexer else lambda: None),
        ("producer", producer.close),
        ("lag probe", lag.close),
        ("store", memory.close),
    ]
    return Gateway(app=app, memory=memory, http=http, indexer=indexer, closers=closers,
                   metrics=metrics)


def run_gateway(settings: Settings, *, loglevel: str = "info") -> None:
    """``somagent serve memory``: serve until SIGTERM/SIGINT (see the module doc)."""
    from somagent.memory.rebuild import replay_before_commits
    from somagent.serve.health import HealthServer, http_check
    from somagent.serve.worker import run_faust
    from somagent.telemetry import tracing

    tracing.configure_role("memory")
    gateway = build_gateway(settings)
    health = HealthServer.from_env("memory")
    health.add_check("http", http_check(f"{settings.memory_url}/healthz"))
    health.add_lag(GroupLag(settings, gateway_app_id(settings), [MEMORY]))
    if gateway.metrics is not None:
        health.add_registry(gateway.metrics.registry)
    health.start()
    try:
        # A new collection is rebuilt, and the brain's state replayed, from the log
        # before the group's commits; the Faust agent continues from them.
        replay_before_commits(settings, gateway_app_id(settings), gateway.memory)
        if gateway.indexer is not None:
            gateway.indexer.run_once()  # index what a previous run left before serving
            gateway.indexer.start()
        gateway.http.start()
        log.info("memory gateway on %s (engine %s)", settings.memory_url, engine_name(settings))
        run_faust(gateway.app, loglevel=loglevel)
    finally:
        health.close()
        gateway.close()
