"""With the real turn engine (``somagent serve worker``), a turn streams to ``done``.

The worker runs as a subprocess against the session's stack, in a consumer group of
its own, and the tests wait for the engine's events. The protocol tests of
test_api_turns.py and test_api_ws.py place events on the log themselves (to choose
when each lands); here the same guarantees hold for what the real engine appends:
a stream to ``done``, an identical replay, exact resume at every position, and the
same events and positions over a WebSocket.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from edge_eventsource import messages
from edge_helpers import Server, Session, collect, turn_body
from edge_ws import WsResult, open_ws, read, turn_message
from integration.engine.engine_helpers import WorkerProcess

from somagent.stack.stack import RunningStack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def worker(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # A worker of the stack: its Memory Gateway and analytics service, its credentials.
    proc = WorkerProcess(stack.settings, tmp_path_factory.mktemp("worker")).start()
    try:
        yield
    finally:
        proc.stop()
        print(proc.tail(80))  # shown by pytest when the test fails


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


async def test_real_engine_turn_resumes_exactly_at_every_position(
    worker: None, client: httpx.AsyncClient, session: Session
) -> None:
    async with client.stream("POST", "/v1/turn", json=turn_body(session, "What is 6 * 7?",
                                                                 ["calc"]),
                             headers=session.auth) as r:
        assert r.status_code == 200
        turn = r.headers["x-turn-id"]
        got = await asyncio.wait_for(collect(r), 180)
    assert got[-1].event == "done" and "tool.delta" in [m.event for m in got], got
    ids = [m.last_event_id for m in got]
    for i, position in enumerate(ids):
        headers = {**session.auth, "Last-Event-ID": position}
        async with client.stream("GET", f"/v1/turns/{turn}/events", headers=headers) as again:
            rest = await asyncio.wait_for(collect(again), 30)
        assert [m.last_event_id for m in rest] == ids[i + 1:], position
        assert [m.data for m in rest] == [m.data for m in got[i + 1:]]


async def test_real_engine_turn_over_a_websocket_matches_its_sse_replay(
    worker: None, client: httpx.AsyncClient, session: Session, edge: Server
) -> None:
    async with open_ws(edge.url, session.jwt) as ws:
        await ws.send(turn_message(turn_body(session, "What is 3 + 4?", ["calc"])))
        started = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert started["type"] == "turn", started
        result = await asyncio.wait_for(read(ws, WsResult(started=started)), 180)
    assert result.close_code == 1000 and result.names[-1] == "done", result.names
    turn = started["turn_id"]
    async with client.stream("GET", f"/v1/turns/{turn}/events", headers=session.auth) as r:
        sse = await asyncio.wait_for(collect(r), 30)
    assert [m.event for m in sse] == result.names
    assert [m.last_event_id for m in sse] == result.ids
