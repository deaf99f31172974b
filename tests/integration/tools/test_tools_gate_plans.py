"""The tool gate on the stack's Redis with plans from its Postgres (#19 item 8)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from somagent.api.tenants import create_tenant
from somagent.config import Settings
from somagent.stack.process import free_port
from somagent.tools.gates import RedisGate
from somagent.tools.quotas import DEFAULT_TOOLS_PER_MIN, PLAN_TOOLS_PER_MIN
from somagent.tools.tenant_plans import TenantPlans

pytestmark = pytest.mark.integration


async def _tenant(settings: Settings, plan: str) -> str:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        tenant, _ = await create_tenant(conn, f"gate-{plan}-{uuid.uuid4().hex[:6]}", plan)
        return tenant.tenant_id
    finally:
        await conn.close()


def with_gate(settings: Settings, scenario: Callable[[RedisGate], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        client = aioredis.Redis.from_url(settings.redis_dsn)
        try:
            return await scenario(RedisGate(client, plans=TenantPlans(settings.postgres_dsn)))
        finally:
            await client.aclose()  # type: ignore[attr-defined]

    return asyncio.run(main())


async def admitted(gate: RedisGate, tenant: str, calls: int, per_min: int | None) -> int:
    """How many of ``calls`` distinct calls the gate admits (stops at the first refusal)."""
    for n in range(calls):
        decision = await gate.admit(tenant, "calc", "cheap", f"call-{n}", tools_per_min=per_min)
        if not decision.admitted:
            assert decision.code == "rate-limit" and decision.retry_after_ms > 0
            return n
    return calls


def test_a_session_of_100000_per_minute_is_not_held_to_60(settings: Settings) -> None:
    tenant = asyncio.run(_tenant(settings, "enterprise"))

    async def scenario(gate: RedisGate) -> int:
        return await admitted(gate, tenant, 500, 100_000)

    assert with_gate(settings, scenario) == 500


def test_the_plan_caps_the_sessions_value(settings: Settings) -> None:
    free = asyncio.run(_tenant(settings, "free"))
    cap = PLAN_TOOLS_PER_MIN["free"]

    async def scenario(gate: RedisGate) -> int:
        return await admitted(gate, free, cap + 50, 100_000)

    assert with_gate(settings, scenario) == cap


def test_a_small_session_value_and_the_default(settings: Settings) -> None:
    pro = asyncio.run(_tenant(settings, "pro"))
    other = asyncio.run(_tenant(settings, "pro"))

    async def scenario(gate: RedisGate) -> tuple[int, int]:
        return await admitted(gate, pro, 20, 5), await admitted(gate, other, 100, None)

    assert with_gate(settings, scenario) == (5, DEFAULT_TOOLS_PER_MIN)


def test_an_unknown_tenant_is_on_the_default_plan(settings: Settings) -> None:
    async def scenario(gate: RedisGate) -> tuple[str | None, int]:
        unknown = str(uuid.uuid4())
        assert gate.plans is not None
        return await gate.plans.plan(unknown), await admitted(gate, unknown, 10, 3)

    assert with_gate(settings, scenario) == (None, 3)


def test_an_unreachable_postgres_leaves_the_default_plan(settings: Settings) -> None:
    dead = f"postgresql://somagent@127.0.0.1:{free_port()}/somagent"

    async def scenario() -> tuple[str | None, str | None]:
        plans = TenantPlans(dead, timeout_s=1.0)
        return await plans.plan(str(uuid.uuid4())), await plans.plan(str(uuid.uuid4()))

    assert asyncio.run(scenario()) == (None, None)
