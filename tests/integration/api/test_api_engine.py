"""With the real turn engine (``somagent serve worker``), a turn streams to ``done``.

Skipped until ``somagent.engine.turns`` exists; then it starts the worker as a
subprocess against the session's Kafka, Postgres and Redis (with its own data
directory for the embedded engines) and waits for the engine's events.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from edge_eventsource import messages
from edge_helpers import Session, turn_body

from somagent.stack.stack import RunningStack

pytestmark = pytest.mark.integration


@pytest.fixture
def worker(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # A worker of the stack: its Memory Gateway and analytics service, its credentials.
    env = {**os.environ, **stack.settings.to_env()}
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "somagent.cli", "serve", "worker"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        print(log.read_text()[-6000:])  # shown by pytest when the test fails


async def test_real_engine_completes_a_streamed_turn(
    worker: None, client: httpx.AsyncClient, session: Session
) -> None:
    async with client.stream("POST", "/v1/turn", json=turn_body(session, "What is 2 + 2?", []),
                             headers=session.auth) as r:
        assert r.status_code == 200
        turn = r.headers["x-turn-id"]

        async def read() -> list[str]:
            names = []
            async for msg in messages(r):
                names.append(msg.event)
                assert msg.json()["turn_id"] == turn
            return names

        names = await asyncio.wait_for(read(), 180)
    print("engine stream:", names)
    assert names[-1] == "done"
    assert "plan" in names and ("answer" in names or "error" in names)
    # The finished turn replays identically from the log.
    async with client.stream("GET", f"/v1/turns/{turn}/events", headers=session.auth) as again:
        replayed = [m.event async for m in messages(again)]
    assert replayed == names
