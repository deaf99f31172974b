"""GET /v1/turn/ws on the real stack: the SSE correctness tests, over a WebSocket.

Mirrors test_api_turns.py (loss, repeats, resume at every position, log/live merge,
heartbeats, failures, idempotent retries, cancel, bad positions) and adds the
refusals: same problem bodies as POST /v1/turn, nothing appended.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid

import httpx
import pytest
from edge_helpers import (
    EXPECTED,
    Engine,
    Server,
    Session,
    collect,
    read_topic_async,
    run_turn,
    turn_body,
)
from edge_ws import WsResult, open_ws, read, resume_message, turn_message
from websockets.exceptions import ConnectionClosed

from somagent.events.catalog import CONVERSATION, GATEWAY_AUDIT
from somagent.stack.stack import RunningStack

pytestmark = pytest.mark.integration


async def _ws_turn(edge: Server, engine: Engine, session: Session,
                   idem: str | None = None) -> WsResult:
    """Start a turn over a socket, play the engine's events, read to the close."""
    async with open_ws(edge.url, session.jwt) as ws:
        await ws.send(turn_message(turn_body(session), idem))
        started = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert started["type"] == "turn", started
        await asyncio.to_thread(engine.append, session.tenant, session.session,
                                started["turn_id"], started["trace_id"])
        result = await read(ws, WsResult(started=started))
    return result


async def test_ws_streams_the_same_events_with_positions_as_sse(
    client: httpx.AsyncClient, engine: Engine, session: Session, edge: Server
) -> None:
    got = await _ws_turn(edge, engine, session)
    assert got.started is not None and not got.started["replayed"]
    assert got.names == EXPECTED
    assert got.close_code == 1000
    turn = got.started["turn_id"]
    data = [e["data"] for e in got.events]
    assert all(d["turn_id"] == turn and d["trace_id"] == got.started["trace_id"] for d in data)
    assert [d["seq"] for d in data] == list(range(1, 10))
    offsets = [int(i.split("-")[1]) for i in got.ids]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    # The SSE stream of the same turn carries the very same ids and data.
    async with client.stream("GET", f"/v1/turns/{turn}/events", headers=session.auth) as r:
        sse = await asyncio.wait_for(collect(r), 20)
    assert [m.last_event_id for m in sse] == got.ids
    assert [m.json() for m in sse] == data


async def test_ws_token_as_first_message(
    engine: Engine, session: Session, edge: Server
) -> None:
    async with open_ws(edge.url, None) as ws:
        await ws.send(json.dumps({"type": "auth", "token": session.jwt}))
        await ws.send(turn_message(turn_body(session)))
        started = json.loads(await asyncio.wait_for(ws.recv(), 20))
        await asyncio.to_thread(engine.append, session.tenant, session.session,
                                started["turn_id"], started["trace_id"])
        got = await read(ws)
    assert got.names == EXPECTED


async def test_ws_resume_at_every_position_yields_exactly_the_rest(
    client: httpx.AsyncClient, engine: Engine, session: Session, edge: Server
) -> None:
    turn, sse, _ = await run_turn(client, engine, session)
    ids = [m.last_event_id for m in sse]
    for i, position in enumerate([None, *ids]):
        async with open_ws(edge.url, session.jwt) as ws:
            await ws.send(resume_message(turn, position))
            rest = await read(ws)
        start = 0 if position is None else i
        assert rest.ids == ids[start:], position
        assert [e["data"] for e in rest.events] == [m.json() for m in sse[start:]]
        assert rest.close_code == 1000


async def test_ws_resume_during_the_turn_merges_log_and_live_without_loss_or_repeat(
    engine: Engine, session: Session, edge: Server
) -> None:
    async with open_ws(edge.url, session.jwt) as ws:
        await ws.send(turn_message(turn_body(session)))
        started = json.loads(await asyncio.wait_for(ws.recv(), 20))
        turn, trace = started["turn_id"], started["trace_id"]
        await asyncio.to_thread(engine.append, session.tenant, session.session, turn, trace,
                                Engine.SCRIPT[:3])
        first = await read(ws, stop_after=2)
    # The client went away after 2 events; the turn goes on without it.
    await asyncio.to_thread(engine.append, session.tenant, session.session, turn, trace,
                            Engine.SCRIPT[3:5], 4)
    async with open_ws(edge.url, session.jwt) as ws:
        await ws.send(resume_message(turn, first.ids[-1]))
        resumed = await read(ws, stop_after=3)  # from the log
        await asyncio.to_thread(engine.append, session.tenant, session.session, turn, trace,
                                Engine.SCRIPT[5:], 6)
        resumed = await read(ws, resumed)  # then live
    assert first.names + resumed.names == EXPECTED
    assert [e["data"]["seq"] for e in first.events + resumed.events] == list(range(1, 10))


async def test_ws_idle_stream_gets_heartbeats(
    engine: Engine, session: Session, edge: Server
) -> None:
    async with open_ws(edge.url, session.jwt) as ws:
        await ws.send(turn_message(turn_body(session)))
        started = json.loads(await asyncio.wait_for(ws.recv(), 20))
        beats = [json.loads(await asyncio.wait_for(ws.recv(), 20)) for _ in range(2)]
        assert beats == [{"type": "heartbeat"}] * 2  # heartbeat_s is 1 in the test server
        await asyncio.to_thread(engine.append, session.tenant, session.session,
                                started["turn_id"], started["trace_id"])
        got = await read(ws)
    assert got.names == EXPECTED


async def test_ws_failed_turn_streams_error_then_done(
    engine: Engine, session: Session, edge: Server
) -> None:
    async with open_ws(edge.url, session.jwt) as ws:
        await ws.send(turn_message(turn_body(session)))
        started = json.loads(await asyncio.wait_for(ws.recv(), 20))
        await asyncio.to_thread(engine.append, session.tenant, session.session,
                                started["turn_id"], started["trace_id"],
                                ("TurnRecalled", "TurnFailed", "TurnCompleted"))
        got = await read(ws)
    assert got.names == ["recall", "error", "done"]
    assert got.events[1]["data"]["payload"]["reason_code"] == "deadline"


async def test_ws_idempotent_retry_returns_the_same_turn_and_stream(
    engine: Engine, session: Session, edge: Server, stack: RunningStack
) -> None:
    key = f"ws-retry-{uuid.uuid4()}"
    first = await _ws_turn(edge, engine, session, key)
    assert first.started is not None
    async with open_ws(edge.url, session.jwt) as ws:
        await ws.send(turn_message(turn_body(session), key))
        again = await read(ws)
    assert again.started is not None and again.started["replayed"] is True
    assert again.started["turn_id"] == first.started["turn_id"]
    assert again.ids == first.ids
    # Same key, another body: the POST's 409, as a problem message and close 4409.
    async with open_ws(edge.url, session.jwt) as ws:
        await ws.send(turn_message(turn_body(session, "something else"), key))
        refused = await read(ws)
    assert refused.close_code == 4409
    assert refused.problem["type"] == "https://somagent.dev/problems/idempotency-key-reused"
    assert json.loads(refused.close_reason)["status"] == 409
    requested = await read_topic_async(
        stack.settings, edge.ctx.codec, CONVERSATION,
        lambda e: e["type"] == "TurnRequested" and e["payload"]["idempotency_key"] == key,
        want=0)
    assert [str(e["turn"]) for e in requested] == [first.started["turn_id"]]


async def test_ws_cancel_message_appends_turn_cancel_requested_and_streams_it(
    engine: Engine, session: Session, edge: Server
) -> None:
    async with open_ws(edge.url, session.jwt) as ws:
        await ws.send(turn_message(turn_body(session)))
        started = json.loads(await asyncio.wait_for(ws.recv(), 20))
        await ws.send(json.dumps({"type": "cancel", "reason": "user pressed stop"}))
        got = await read(ws, stop_after=1)
        await asyncio.to_thread(engine.append, session.tenant, session.session,
                                started["turn_id"], started["trace_id"],
                                ("TurnFailed", "TurnCompleted"), 2)
        got = await read(ws, got)
    assert got.names == ["cancel", "error", "done"]
    assert got.events[0]["data"]["payload"] == {"reason": "user pressed stop"}
    [answer] = [m for m in got.others if m["type"] == "cancel-requested"]
    assert answer["position"] == got.events[0]["id"]


async def test_ws_bad_position_and_unknown_turn(
    client: httpx.AsyncClient, engine: Engine, session: Session, edge: Server
) -> None:
    turn, _, _ = await run_turn(client, engine, session)
    for message, code, slug in (
        (resume_message(turn, "not-a-position"), 4400, "bad-last-event-id"),
        (resume_message(str(uuid.uuid4())), 4404, "turn-not-found"),
        (resume_message("not-a-uuid"), 4404, "not-found"),
    ):
        async with open_ws(edge.url, session.jwt) as ws:
            await ws.send(message)
            got = await read(ws)
        assert got.close_code == code, (message, got)
        assert got.problem["type"].endswith(f"/{slug}") and got.problem["status"] == code - 4000


async def test_ws_refusals_are_the_posts_problems_and_append_nothing(
    client: httpx.AsyncClient, session: Session, edge: Server, stack: RunningStack
) -> None:
    marker = f"ws-refused-{uuid.uuid4()}"
    body = turn_body(session, marker)
    cases = [
        (None, [json.dumps({"type": "turn", "body": body})], 4401, "unauthorized"),
        ("not.a.jwt", [turn_message(body)], 4401, "invalid-token"),
        (session.jwt, ["{not json"], 4400, "malformed-json"),
        (session.jwt, [json.dumps({"type": "turn", "body": {"session_id": session.session}})],
         4422, "invalid-body"),
        (session.jwt, [turn_message({**body, "session_id": str(uuid.uuid4())})], 4404,
         "session-not-found"),
        (session.jwt, [json.dumps({"type": "dance"})], 4422, "invalid-body"),
    ]
    for token, messages, code, slug in cases:
        trace = uuid.uuid4().hex
        async with open_ws(edge.url, token,
                           headers={"traceparent": f"00-{trace}-{'1' * 16}-01"}) as ws:
            for m in messages:
                # A refusal of the subprotocol's token may close the socket before the
                # message goes out; what the server sent is still read below.
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(m)
            got = await read(ws)
        assert got.close_code == code, (slug, got)
        problem = got.problem
        assert problem["type"] == f"https://somagent.dev/problems/{slug}", problem
        assert problem["status"] == code - 4000 and problem["trace_id"] == trace
        assert problem["instance"] == "/v1/turn/ws"
        assert json.loads(got.close_reason) == {"type": problem["type"],
                                                "status": problem["status"], "trace_id": trace}
        # The same refusal as POST /v1/turn gives (same type and status).
        denied = await read_topic_async(
            stack.settings, edge.ctx.codec, GATEWAY_AUDIT,
            lambda e, t=trace: e["type"] == "PolicyDenied" and e["trace_id"] == t)
        assert [e["payload"]["reason_code"] for e in denied] == [slug]
    requested = await read_topic_async(
        stack.settings, edge.ctx.codec, CONVERSATION,
        lambda e: e["type"] == "TurnRequested" and e["payload"]["text"] == marker, want=0)
    assert requested == []
