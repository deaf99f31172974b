"""The Faust billing agent killed with SIGKILL mid-stream and restarted bills exactly.

Real stack, catalog topics, both projectors running: a wave of usage (with
redeliveries) goes in, the agent is killed once the first ledger rows reach
Postgres (its input only partly acknowledged), restarted, and given late usage
for windows it had already closed. The Postgres ledger and the ClickHouse
rollup must equal the distinct usage records, and the restarted agent must have
rebuilt its windows from its changelog.
"""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from billing_helpers import FaustBilling
from test_billing_totals import ch_totals, expected_totals, pg_totals, send, usage_event

from somagent.billing.windows import MINUTE_US, window_start
from somagent.config import Settings
from somagent.kafka.producer import EventProducer
from somagent.projections.run import ProjectorThreads
from somagent.wait import until

pytestmark = pytest.mark.integration


def test_sigkill_mid_stream_then_restart_bills_each_usage_once(
    settings: Settings,
    producer: EventProducer,
    projectors: ProjectorThreads,
    tmp_path: Path,
) -> None:
    rnd = random.Random(7)
    tenants = [str(uuid.uuid4()) for _ in range(3)]
    sessions = {t: str(uuid.uuid4()) for t in tenants}
    now_us = time.time_ns() // 1000

    def one(i: int) -> dict[str, Any]:
        tenant = tenants[i % 3]
        at = now_us - rnd.randint(2 * MINUTE_US, 9 * MINUTE_US)
        agent = rnd.choice(["planner", "tool:search"])
        return usage_event(tenant, sessions[tenant], agent, at, rnd.randint(0, 900), i % 2)

    agent = FaustBilling(settings, tmp_path)
    agent.proc.start()
    try:
        first = [one(i) for i in range(4000)]
        send(producer, first, rnd)
        until(
            lambda: bool(pg_totals(settings, tenants)),
            timeout_s=90,
            what="the first ledger rows in Postgres",
        )
        agent.proc.kill()
        agent.proc.start()
        late = []
        for base in rnd.sample(first, 40):  # usage for windows the first run closed
            p = base["payload"]
            at = window_start(p["occurred_at"]) + rnd.randrange(MINUTE_US)
            late.append(usage_event(base["tenant"], base["session"], p["agent"], at, 5, 1))
        send(producer, late + rnd.sample(first, 50), rnd)
        want = expected_totals(first + late)
        until(
            lambda: pg_totals(settings, tenants) == want,
            timeout_s=120,
            what="Postgres ledger totals after the restart",
        )
        until(lambda: ch_totals(settings, tenants) == want, timeout_s=60, what="ClickHouse")
        assert agent.errors == [] and projectors.failure is None
        assert "restored" in agent.proc.tail(400), agent.proc.tail()
    finally:
        agent.proc.stop()
