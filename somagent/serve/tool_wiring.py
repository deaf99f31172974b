"""The tool broker a process that runs tools gets (turn workers and jobs workers alike).

One place builds it, so both roles have the same tools, isolation and gates: ``calc``,
``python`` (in namespaces unless ``SOMAGENT_TOOL_SANDBOX=none``), ``memory.search``
through the Memory Gateway, ``sql`` through tenant-scoped analytics clients, the
entry-point plugins; Redis idempotency; the Redis gate with tenant plans from Postgres;
the session's constitution policy decided by OPA (``SOMAGENT_OPA_URL`` or the local server),
its denials appended with ``append``.
"""

from __future__ import annotations

import logging
from typing import Any

from somagent.config import Settings
from somagent.memory.client import MemoryGatewayClient
from somagent.policy.audit import Append
from somagent.policy.gate import PolicyGate
from somagent.policy.opa import OpaClient
from somagent.policy.sessions import SessionPolicies
from somagent.policy.tool_gate import OpaToolPolicy
from somagent.telemetry import collectors
from somagent.tools import breaker as cb
from somagent.tools.broker import ToolBroker
from somagent.tools.exceptions import SandboxUnavailable
from somagent.tools.gates import RedisGate
from somagent.tools.idempotency import RedisIdempotencyStore
from somagent.tools.isolation import Isolation
from somagent.tools.isolation import check as check_isolation
from somagent.tools.registry import ToolRegistry
from somagent.tools.sql_tool import analytics_connect
from somagent.tools.tenant_plans import TenantPlans

log = logging.getLogger(__name__)


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


def tool_registry(settings: Settings, memory: MemoryGatewayClient | None) -> ToolRegistry:
    """The built-in tools and the plugins (blocking: checks the sandbox once)."""
    sql = analytics_connect(settings)
    if sql is None:
        log.warning("no sql tool: SOMAGENT_CLICKHOUSE_URL names a ClickHouse server, and only "
                    "the analytics service scopes a query to one tenant")
    return ToolRegistry.with_builtins(
        recall=memory, sql=sql, python_isolation=sandbox_isolation(settings)
    )


def tool_broker(settings: Settings, redis: Any, registry: ToolRegistry, *, append: Append,
                producer: str = "worker") -> ToolBroker:
    """The broker over ``registry``: idempotency and gates in ``redis`` (an asyncio client);
    policy denials appended with ``append`` (an acking producer's)."""
    gate = RedisGate(redis, plans=TenantPlans(settings.postgres_dsn))
    decisions = PolicyGate(OpaClient(settings.opa_endpoint), ttl_s=settings.policy_cache_ttl_s)
    policy = OpaToolPolicy(decisions, SessionPolicies(redis), append, producer=producer)
    broker = ToolBroker(registry, idempotency=RedisIdempotencyStore(redis), gate=gate,
                        policy=policy)
    collectors.register(collectors.BreakerCollector(
        lambda: broker.breakers,
        lambda b: cb.state_at(b, broker.breaker_config, broker.clock_ms()).value,
    ))  # somagent_circuit_breakers{tool,state}
    return broker
