"""Issue #19 item 1: no ghost turn after a 503 whose append was not acknowledged in time.

The stack's real Kafka broker is paused (SIGSTOP) while ``POST /v1/turn`` appends, so
the append is not acknowledged within the edge's ``append_timeout_s``: the client
gets 503 naming the turn, the edge keeps the Idempotency-Key claim while the
append's fate is unknown, and once the broker resumes (SIGCONT) and the record
lands, a retry with the same key joins that turn instead of starting another.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable

import httpx
import pytest
from edge_helpers import Server, Tenant, mint, read_topic_async, turn_body

from somagent.events.catalog import CONVERSATION
from somagent.stack.process import read_pid
from somagent.stack.stack import RunningStack, Stack
from somagent.wait import until_async

pytestmark = pytest.mark.integration


async def test_a_retry_with_the_same_key_joins_the_turn_appended_late(
    server_factory: Callable[..., Server], stack: RunningStack, tenant: Tenant
) -> None:
    own = server_factory(append_timeout_s=1.0)
    kafka_pid = read_pid(Stack(stack.settings).kafka.pid_file)
    assert kafka_pid is not None
    key = f"retry-{uuid.uuid4()}"
    async with httpx.AsyncClient(base_url=own.url, timeout=60) as client:
        session = await mint(client, tenant)
        body = turn_body(session, "What is 2 + 2?", [])
        headers = {**session.auth, "Idempotency-Key": key}
        os.kill(kafka_pid, signal.SIGSTOP)
        try:
            first = await client.post("/v1/turn", json=body, headers=headers)
        finally:
            os.kill(kafka_pid, signal.SIGCONT)
        assert first.status_code == 503, first.text
        problem = first.json()
        turn = problem["turn_id"]
        assert "Idempotency-Key" in problem["detail"]

        async def joined() -> httpx.Response | None:
            async with client.stream("POST", "/v1/turn", json=body, headers=headers) as r:
                if r.status_code != 200:
                    await r.aread()
                    return None
                return r

        retry = await until_async(joined, timeout_s=60, what="the retry to join the turn")
        assert retry.headers["x-turn-id"] == turn
        assert retry.headers.get("idempotent-replayed") == "true"
    requested = await read_topic_async(
        stack.settings, own.ctx.codec, CONVERSATION,
        lambda e: e["type"] == "TurnRequested" and str(e["session"]) == session.session, want=0)
    assert [str(e["turn"]) for e in requested] == [turn]  # one turn for the key, not two
