"""Property test on the real stack: usage → billing worker → ledger → both read models.

Random usage streams (several tenants, agents and sessions over recent minutes)
are appended in random order with redeliveries; a second wave arrives after the
first wave's windows closed, so it lands as corrections. Postgres ledger totals,
ClickHouse rollup totals and the sum of the distinct usage records must agree per
tenant and minute.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import defaultdict
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from somagent.billing.pricebook import cents_half_up
from somagent.billing.pricebook_file import load_pricebook
from somagent.billing.windows import MINUTE_US, window_start
from somagent.billing.worker import BillingThread
from somagent.config import Settings
from somagent.events.envelope import make_event
from somagent.kafka.producer import EventProducer
from somagent.projections.clickhouse import connect
from somagent.projections.run import ProjectorThreads
from somagent.wait import until

pytestmark = pytest.mark.integration
PRICES = load_pricebook().prices("pro")
Totals = dict[tuple[str, int], list[int]]


def usage_event(
    tenant: str, session: str, agent: str, at_us: int, tokens: int, calls: int
) -> dict[str, Any]:
    usage_id = uuid.uuid4()
    payload = {
        "usage_id": usage_id,
        "agent": agent,
        "tokens": tokens,
        "tool_calls": calls,
        "storage_bytes": 0,
        "egress_bytes": 0,
        **PRICES.as_payload_fields(),
        "occurred_at": at_us,
    }
    return make_event(
        "UsageRecorded",
        payload,
        tenant=tenant,
        session=session,
        producer="test",
        event_id=usage_id,
        ts_us=at_us,
    )


def expected_totals(events: list[dict[str, Any]]) -> Totals:
    """Per (tenant, minute): counts summed, cost rounded per (agent, session) window."""
    windows: dict[tuple[str, str, str, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for e in events:
        p = e["payload"]
        w = windows[(e["tenant"], p["agent"], e["session"], window_start(p["occurred_at"]))]
        w[0] += p["tokens"]
        w[1] += p["tool_calls"]
        w[2] += PRICES.cost_picocents(p["tokens"], p["tool_calls"], 0, 0)
    out: Totals = defaultdict(lambda: [0, 0, 0])
    for (tenant, _, _, minute), (tokens, calls, pico) in windows.items():
        acc = out[(tenant, minute)]
        acc[0] += tokens
        acc[1] += calls
        acc[2] += cents_half_up(pico)
    return dict(out)


def pg_totals(settings: Settings, tenants: list[str]) -> Totals:
    async def fetch() -> list[Any]:
        conn = await asyncpg.connect(settings.postgres_dsn)
        try:
            return list(
                await conn.fetch(
                    "SELECT tenant_id::text AS t, "
                    "(extract(epoch FROM minute) * 1000000)::bigint AS m, "
                    "sum(tokens)::bigint AS tokens, sum(tool_calls)::bigint AS calls, "
                    "sum(cost_cents)::bigint AS cost FROM usage_ledger "
                    "WHERE tenant_id = ANY($1::uuid[]) GROUP BY 1, 2",
                    [uuid.UUID(t) for t in tenants],
                )
            )
        finally:
            await conn.close()

    return {(r["t"], r["m"]): [r["tokens"], r["calls"], r["cost"]] for r in asyncio.run(fetch())}


def ch_totals(settings: Settings, tenants: list[str]) -> Totals:
    rows = connect(settings).query(
        "SELECT tenant, toInt64(toUInt32(minute)) * 1000000 AS m, sum(tokens) AS tokens, "
        "sum(tool_calls) AS calls, sum(cost_cents) AS cost FROM usage_by_minute "
        "WHERE has(splitByChar(',', {tenants:String}), tenant) GROUP BY tenant, minute",
        {"tenants": ",".join(tenants)},
    )
    return {
        (r["tenant"], int(r["m"])): [int(r["tokens"]), int(r["calls"]), int(r["cost"])]
        for r in rows
    }


def correction_count(settings: Settings, tenants: list[str]) -> int:
    async def fetch() -> int:
        conn = await asyncpg.connect(settings.postgres_dsn)
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM usage_ledger "
                    "WHERE is_correction AND tenant_id = ANY($1::uuid[])",
                    [uuid.UUID(t) for t in tenants],
                )
            )
        finally:
            await conn.close()

    return asyncio.run(fetch())


def send(producer: EventProducer, events: list[dict[str, Any]], rnd: random.Random) -> None:
    """Append in random order, with about a third of the events redelivered."""
    stream = events + [rnd.choice(events) for _ in range(len(events) // 3)]
    rnd.shuffle(stream)
    for e in stream:
        producer.send(e)
    producer.flush()


@hsettings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32), n_first=st.integers(5, 120), n_late=st.integers(1, 40))
def test_ledger_totals_match_usage_in_postgres_and_clickhouse(
    settings: Settings,
    producer: EventProducer,
    billing: BillingThread,
    projectors: ProjectorThreads,
    seed: int,
    n_first: int,
    n_late: int,
) -> None:
    rnd = random.Random(seed)
    tenants = [str(uuid.uuid4()) for _ in range(2)]
    sessions = {t: [str(uuid.uuid4()) for _ in range(2)] for t in tenants}
    now_us = time.time_ns() // 1000

    def one() -> dict[str, Any]:
        tenant = rnd.choice(tenants)
        at = now_us - rnd.randint(2 * MINUTE_US, 5 * MINUTE_US)
        return usage_event(
            tenant,
            rnd.choice(sessions[tenant]),
            rnd.choice(["planner", "tool:search"]),
            at,
            rnd.randint(0, 5000),
            rnd.randint(0, 2),
        )

    first = [one() for _ in range(n_first)]
    send(producer, first, rnd)
    until(
        lambda: pg_totals(settings, tenants) == expected_totals(first),
        timeout_s=60,
        what="first wave in the Postgres ledger",
    )
    late = [one() for _ in range(n_late)]
    for _ in range(n_late):  # new usage in windows the first wave already closed
        base = rnd.choice(first)
        p = base["payload"]
        at = window_start(p["occurred_at"]) + rnd.randrange(MINUTE_US)
        late.append(usage_event(base["tenant"], base["session"], p["agent"], at, 7, 1))
    send(producer, late + rnd.sample(first, min(5, len(first))), rnd)
    want = expected_totals(first + late)
    until(lambda: pg_totals(settings, tenants) == want, timeout_s=60, what="Postgres ledger totals")
    until(lambda: ch_totals(settings, tenants) == want, timeout_s=60, what="ClickHouse totals")
    assert correction_count(settings, tenants) >= 1
    assert billing.errors == [] and projectors.failure is None
