"""Everything one edge app holds: clients, guards, the tailer, keys, metrics.

One :class:`EdgeContext` per app (no module-level state), opened in the app's
lifespan and closed on shutdown. Memory goes through the Memory Gateway (the one
owner of the vector store) with the service credential; ClickHouse through the
analytics service.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import asyncpg
from redis.asyncio import BlockingConnectionPool, Redis

from somagent.api.admission import Admission
from somagent.api.history import HistoryReader
from somagent.api.keys import KeyRing, keys_dir
from somagent.api.metrics import EdgeMetrics
from somagent.api.records import TurnRecords
from somagent.api.session_tokens import VerifiedTokens
from somagent.api.settings import EdgeSettings
from somagent.api.tailer import Tailer
from somagent.config import Settings
from somagent.erasure.sealer import sealer_for
from somagent.events.codec import EventCodec
from somagent.events.registry import SchemaRegistry
from somagent.kafka.producer import EventProducer
from somagent.kafka.schema_log import KafkaSchemaLog
from somagent.limits.budget import RedisTokenBudget
from somagent.limits.concurrency import RedisConcurrency
from somagent.limits.idempotency import RedisIdempotency
from somagent.limits.ratelimit import RedisSlidingWindow
from somagent.limits.tenant_tokens import RedisTenantTokens
from somagent.memory.client import MemoryGatewayClient
from somagent.policy import constitution
from somagent.policy.gate import PolicyGate, metrics_for
from somagent.policy.opa import OpaClient
from somagent.policy.service import PolicyService
from somagent.serve.health import LoopHeartbeat

log = logging.getLogger(__name__)


class EdgeContext:
    def __init__(
        self,
        settings: Settings,
        edge: EdgeSettings,
    ) -> None:
        self.settings = settings
        self.edge = edge
        self.keyring = KeyRing(keys_dir(settings.home_dir))
        self.tokens = VerifiedTokens(self.keyring)
        self.admission = Admission(
            workers=edge.workers,
            slo_wait_p95_s=edge.slo_wait_p95_s,
            tau_s=edge.ewma_tau_s,
            service_time_prior_s=edge.service_time_prior_s,
        )
        self._audit_failures = 0
        self.metrics = EdgeMetrics(self.admission, lambda: float(self.audit_failures))
        self.heartbeat = LoopHeartbeat()
        self.started = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._heartbeat_task: asyncio.Task[None] | None = None
        # Opened in start():
        self.schema_log: KafkaSchemaLog
        self.codec: EventCodec
        self.appender: EventProducer
        self.tailer: Tailer
        self.history: HistoryReader
        self.redis: Redis[bytes]
        self.pg: asyncpg.Pool
        self.limiter: RedisSlidingWindow
        self.budget: RedisTokenBudget
        self.idempotency: RedisIdempotency
        self.tenant_tokens: RedisTenantTokens
        self.concurrency: RedisConcurrency
        self.records: TurnRecords
        self.memory: MemoryGatewayClient
        self.policies: PolicyService
        self.policy_gate: PolicyGate

    @property
    def audit_failures(self) -> int:
        appender = getattr(self, "appender", None)
        return self._audit_failures + (appender.nowait_failures if appender else 0)

    async def start(self) -> None:
        s = self.settings
        self.schema_log = KafkaSchemaLog(s)
        registry = SchemaRegistry(self.schema_log)
        await asyncio.to_thread(registry.refresh)
        self.codec = await asyncio.to_thread(
            EventCodec, registry, sealer=sealer_for(s, open_fields=True))
        # linger 1 ms: the edge appends single requests and waits for them.
        self.appender = EventProducer(
            s, self.codec, config={"linger.ms": 1}, ack_timeout_s=self.edge.append_timeout_s
        )
        self.tailer = Tailer(s, self.codec)
        await asyncio.to_thread(self.tailer.start)
        self.history = HistoryReader(s, self.codec, size=self.edge.history_readers)
        # Blocking pool: a burst of requests waits for a connection instead of failing.
        self.redis = Redis(
            connection_pool=BlockingConnectionPool.from_url(
                s.redis_dsn, max_connections=64, timeout=20.0,
                socket_timeout=5.0, socket_connect_timeout=2.0,
            )
        )
        self.pg = await asyncpg.create_pool(s.postgres_dsn, min_size=1, max_size=10, timeout=10)
        self.limiter = RedisSlidingWindow(self.redis)
        self.budget = RedisTokenBudget(self.redis)
        self.idempotency = RedisIdempotency(self.redis)
        self.tenant_tokens = RedisTenantTokens(self.redis)
        self.concurrency = RedisConcurrency(self.redis)
        self.records = TurnRecords(self.redis, self.edge.turn_record_ttl_s)
        self.memory = MemoryGatewayClient.from_settings(s)
        opa = OpaClient(s.opa_endpoint)
        self.policies = PolicyService(self.pg, self.appender.append, opa,
                                      constitution.load(s), producer="edge")
        self.policy_gate = PolicyGate(opa, ttl_s=s.policy_cache_ttl_s,
                                      metrics=metrics_for(self.metrics.registry))
        self._heartbeat_task = asyncio.create_task(self.heartbeat.run(), name="edge-heartbeat")
        self.started = True

    def background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``work`` after the response (kept referenced until done; failures logged)."""

        def finished(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            if not task.cancelled() and task.exception() is not None:
                log.error("%s failed: %r", name, task.exception())

        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(finished)

    def tailer_lag(self) -> dict[str, int]:
        return self.tailer.lag() if self.started else {}

    def health(self) -> tuple[bool, str]:
        """Liveness for the supervisor: started, event loop turning, tailer thread alive."""
        if not self.started:
            return False, "starting"
        ok, detail = self.heartbeat.check()
        if ok and not self.tailer.alive():
            return False, "the conversation.events tailer thread died"
        return ok, detail

    async def close(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
        for task in list(self._tasks):
            task.cancel()
        for name, closer in (
            ("tailer", lambda: self.tailer.close()),
            ("history", lambda: self.history.close()),
            ("appender", lambda: self.appender.close(5.0)),
            ("schema log", lambda: self.schema_log.close()),
        ):
            try:
                await asyncio.to_thread(closer)
            except Exception as exc:
                log.warning("closing edge %s: %s", name, exc)
        for aclose in (self.redis.aclose, self.pg.close, self.memory.aclose,  # type: ignore[attr-defined]
                       self.policies.opa.close):
            try:
                await asyncio.wait_for(aclose(), 10)
            except Exception as exc:
                log.warning("closing edge client: %s", exc)
