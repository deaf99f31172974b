"""POST /v1/turn and GET /v1/turns/{id}/events on the real stack, read as a browser would."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
import redis
from edge_eventsource import EventSourceState, messages
from edge_helpers import (
    EXPECTED,
    Engine,
    Server,
    Session,
    collect,
    post_turn,
    read_topic_async,
    run_turn,
    turn_body,
)

from somagent.api.tailer import session_record_key
from somagent.events.catalog import CONVERSATION
from somagent.stack.stack import RunningStack

pytestmark = pytest.mark.integration

async def test_happy_path_streams_engine_events_with_positions(
    client: httpx.AsyncClient, engine: Engine, session: Session, stack: RunningStack,
    edge: Server,
) -> None:
    turn, got, trace = await run_turn(client, engine, session)
    assert [m.event for m in got] == EXPECTED
    data = [m.json() for m in got]
    assert all(d["turn_id"] == turn and d["trace_id"] == trace for d in data)
    assert [d["seq"] for d in data] == list(range(1, 10))
    assert [d["type"] for d in data][-3:] == ["TurnVerified", "TurnAnswered", "TurnCompleted"]
    positions = [tuple(int(x) for x in m.last_event_id.split("-")) for m in got]
    assert len({p for p, _ in positions}) == 1
    offsets = [o for _, o in positions]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    # TurnRequested is on the log, keyed by session, right before the engine's events.
    requested = await read_topic_async(
        stack.settings, edge.ctx.codec, CONVERSATION,
        lambda e: e["type"] == "TurnRequested" and str(e["turn"]) == turn)
    assert len(requested) == 1
    payload = requested[0]["payload"]
    assert str(payload["session_id"]) == session.session
    assert payload["allow_tools"] == ["search"] and payload["memory_mode"] == "readwrite"
    assert payload["tools_per_min"] == 60  # the session's budget, for the engine's tool gate
    assert requested[0]["trace_id"] == trace
    record = redis.Redis.from_url(stack.settings.redis_dsn).hgetall(f"turn:{turn}")
    assert record[b"tenant"].decode() == session.tenant
    assert record[b"session"].decode() == session.session
    assert int(record[b"partition"]) == positions[0][0]
    assert int(record[b"offset"]) < offsets[0]
    assert session_record_key(session.session) == session.session.encode()


async def test_resume_at_every_position_yields_exactly_the_rest(
    client: httpx.AsyncClient, engine: Engine, session: Session
) -> None:
    turn, got, _ = await run_turn(client, engine, session)
    ids = [m.last_event_id for m in got]
    # From the start: everything.
    async with client.stream("GET", f"/v1/turns/{turn}/events", headers=session.auth) as r:
        assert r.status_code == 200
        assert [m.last_event_id for m in await asyncio.wait_for(collect(r), 20)] == ids
    for i, position in enumerate(ids):
        headers = {**session.auth, "Last-Event-ID": position}
        async with client.stream("GET", f"/v1/turns/{turn}/events", headers=headers) as r:
            assert r.status_code == 200
            rest = await asyncio.wait_for(collect(r), 20)
        assert [m.last_event_id for m in rest] == ids[i + 1:], position
        assert [m.data for m in rest] == [m.data for m in got[i + 1:]]


async def test_resume_during_the_turn_merges_log_and_live_without_loss_or_repeat(
    client: httpx.AsyncClient, engine: Engine, session: Session
) -> None:
    async with post_turn(client, session) as r:
        turn, trace = r.headers["x-turn-id"], r.headers["x-trace-id"]
        await asyncio.to_thread(engine.append, session.tenant, session.session, turn, trace,
                                Engine.SCRIPT[:3])
        first = await asyncio.wait_for(collect(r, stop_after=2), 20)
    # The client went away after 2 events; the turn goes on without it.
    await asyncio.to_thread(engine.append, session.tenant, session.session, turn, trace,
                            Engine.SCRIPT[3:5], 4)
    headers = {**session.auth, "Last-Event-ID": first[-1].last_event_id}
    async with client.stream("GET", f"/v1/turns/{turn}/events", headers=headers) as r:
        assert r.status_code == 200
        stream = messages(r)
        resumed = [await asyncio.wait_for(anext(stream), 20) for _ in range(3)]  # from the log
        await asyncio.to_thread(engine.append, session.tenant, session.session, turn, trace,
                                Engine.SCRIPT[5:], 6)
        async for msg in stream:  # then live
            resumed.append(msg)
    names = [m.event for m in first + resumed]
    assert names == EXPECTED
    seqs = [m.json()["seq"] for m in first + resumed]
    assert seqs == list(range(1, 10))


async def test_idle_stream_gets_heartbeats_and_retry(
    client: httpx.AsyncClient, engine: Engine, session: Session
) -> None:
    state = EventSourceState()
    async with post_turn(client, session) as r:
        turn, trace = r.headers["x-turn-id"], r.headers["x-trace-id"]
        reader = asyncio.create_task(collect(r, state))
        while len(state.comments) < 2:  # heartbeat_s is 1 in the test server
            await asyncio.sleep(0.1)
            assert not reader.done()
        await asyncio.to_thread(engine.append, session.tenant, session.session, turn, trace)
        got = await asyncio.wait_for(reader, 20)
    assert state.retry_ms == 2000
    assert state.comments[:2] == ["keep-alive", "keep-alive"]
    assert [m.event for m in got] == EXPECTED


async def test_failed_turn_streams_error_then_done(
    client: httpx.AsyncClient, engine: Engine, session: Session
) -> None:
    async with post_turn(client, session) as r:
        turn, trace = r.headers["x-turn-id"], r.headers["x-trace-id"]
        await asyncio.to_thread(engine.append, session.tenant, session.session, turn, trace,
                                ("TurnRecalled", "TurnFailed", "TurnCompleted"))
        got = await asyncio.wait_for(collect(r), 20)
    assert [m.event for m in got] == ["recall", "error", "done"]
    assert got[1].json()["payload"]["reason_code"] == "deadline"


async def test_idempotent_retry_returns_the_same_turn_and_stream(
    client: httpx.AsyncClient, engine: Engine, session: Session, stack: RunningStack,
    edge: Server,
) -> None:
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    turn, got, _ = await run_turn(client, engine, session, key)
    async with client.stream("POST", "/v1/turn", json=turn_body(session),
                             headers={**session.auth, **key}) as r:
        assert r.status_code == 200
        assert r.headers["x-turn-id"] == turn
        assert r.headers["idempotent-replayed"] == "true"
        again = await asyncio.wait_for(collect(r), 20)
    assert [m.last_event_id for m in again] == [m.last_event_id for m in got]
    # Same key, different body: refused, and still exactly one TurnRequested for the key.
    other = {**turn_body(session, "something else")}
    r2 = await client.post("/v1/turn", json=other, headers={**session.auth, **key})
    assert r2.status_code == 409
    assert r2.json()["type"] == "https://somagent.dev/problems/idempotency-key-reused"
    requested = await read_topic_async(
        stack.settings, edge.ctx.codec, CONVERSATION,
        lambda e: e["type"] == "TurnRequested" and e["payload"]["idempotency_key"] == key[
            "Idempotency-Key"], want=0)
    assert [str(e["turn"]) for e in requested] == [turn]


async def test_concurrent_retries_with_one_key_start_one_turn(
    client: httpx.AsyncClient, session: Session, stack: RunningStack, edge: Server,
) -> None:
    key = {"Idempotency-Key": f"race-{uuid.uuid4()}"}

    async def first_turn_id() -> str:
        async with client.stream("POST", "/v1/turn", json=turn_body(session),
                                 headers={**session.auth, **key}) as r:
            assert r.status_code == 200
            return r.headers["x-turn-id"]

    turns = await asyncio.gather(*(first_turn_id() for _ in range(5)))
    assert len(set(turns)) == 1
    requested = await read_topic_async(
        stack.settings, edge.ctx.codec, CONVERSATION,
        lambda e: e["type"] == "TurnRequested" and e["payload"]["idempotency_key"] == key[
            "Idempotency-Key"], want=0)
    assert len(requested) == 1


async def test_cancel_appends_turn_cancel_requested_and_streams_it(
    client: httpx.AsyncClient, engine: Engine, session: Session
) -> None:
    async with post_turn(client, session) as r:
        turn, trace = r.headers["x-turn-id"], r.headers["x-trace-id"]
        c = await client.post(f"/v1/turns/{turn}/cancel", json={"reason": "user pressed stop"},
                              headers=session.auth)
        assert c.status_code == 202, c.text
        await asyncio.to_thread(engine.append, session.tenant, session.session, turn, trace,
                                ("TurnFailed", "TurnCompleted"), 2)
        got = await asyncio.wait_for(collect(r), 20)
    assert [m.event for m in got] == ["cancel", "error", "done"]
    assert got[0].json()["payload"] == {"reason": "user pressed stop"}
    assert got[0].last_event_id == c.json()["position"]


async def test_bad_last_event_id_and_unknown_turn(
    client: httpx.AsyncClient, engine: Engine, session: Session
) -> None:
    turn, _, _ = await run_turn(client, engine, session)
    r = await client.get(f"/v1/turns/{turn}/events",
                         headers={**session.auth, "Last-Event-ID": "not-a-position"})
    assert r.status_code == 400
    assert r.json()["type"].endswith("/bad-last-event-id")
    r = await client.get(f"/v1/turns/{uuid.uuid4()}/events", headers=session.auth)
    assert r.status_code == 404 and r.json()["type"].endswith("/turn-not-found")
    r = await client.get("/v1/turns/not-a-uuid/events", headers=session.auth)
    assert r.status_code == 404
    assert json.loads(r.text)["status"] == 404
