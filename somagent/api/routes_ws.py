"""``GET /v1/turn/ws``: a turn over a WebSocket, the same turn and events as SSE.

Protocol (docs/api.md "WebSocket turns"):

1. Credentials: offer the subprotocols ``somagent.turn.v1`` and ``bearer.<session
   token>`` (the server selects ``somagent.turn.v1``), or send first
   ``{"type": "auth", "token": "<session token>"}``.
2. Then one of ``{"type": "turn", "body": <POST /v1/turn body>, "idempotency_key":
   "<optional>"}`` (start a turn, or join the one started with that key) or
   ``{"type": "resume", "turn_id": "<id>", "last_event_id": "<partition>-<offset>"}``
   (a turn of this tenant, strictly after that position; without it, from the start).
3. The server answers ``{"type": "turn", "turn_id", "trace_id", "replayed"}``, then
   one ``{"type": "event", "event": <SSE event name>, "id": "<partition>-<offset>",
   "data": <the SSE data object>}`` per event, ``{"type": "heartbeat"}`` when idle,
   and closes with 1000 after ``done`` (or after the deadline plus grace).
4. ``{"type": "cancel", "reason": "<optional>"}`` at any time appends
   ``TurnCancelRequested`` (answered ``{"type": "cancel-requested", "position"}``);
   the ``cancel`` event then arrives in the stream like any other.

Guards are ``POST /v1/turn``'s, in the same order, through the same code
(:func:`~somagent.api.routes_turns.begin_turn`). A refusal sends ``{"type":
"problem", "problem": <the RFC 9457 body>}`` and closes with code ``4000 + status``
(e.g. 4401, 4422, 4429) and a JSON reason ``{"type": <problem type URI>, "status"}``
(a close reason holds at most 123 bytes, so the full body is the message before
it). Refusals are audited (``PolicyDenied``) and counted like HTTP ones; a client
that goes away only ends its stream, never the turn.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import aclosing
from typing import Any

import asyncpg
import orjson
from opentelemetry.trace import SpanKind
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from somagent.api.auth import canonical_uuid, verify_session_token
from somagent.api.bodies import TURN_REQUEST, validate
from somagent.api.call import Call, deny, endpoint, finish, trace_id_of
from somagent.api.problems import Problem
from somagent.api.routes_turns import (
    Opened,
    admitted_turn,
    append_cancel,
    begin_turn,
    open_turn,
    position_after,
)
from somagent.api.sse import SSE_NAMES, data_of
from somagent.api.turn_stream import turn_items
from somagent.kafka.exceptions import LogUnavailable
from somagent.limits.exceptions import GuardUnavailable
from somagent.telemetry import tracing

log = logging.getLogger(__name__)

ROUTE = "/v1/turn/ws"
SUBPROTOCOL = "somagent.turn.v1"
BEARER = "bearer."
FIRST_MESSAGE_WAIT_S = 30.0
_BACKING = (LogUnavailable, GuardUnavailable, RedisError, asyncpg.PostgresError,
            asyncpg.InterfaceError, OSError, TimeoutError)


def offered_protocols(header: str) -> list[str]:
    return [p.strip() for p in header.split(",") if p.strip()]


def subprotocol_token(offered: list[str]) -> str | None:
    """The session token of a ``bearer.<token>`` subprotocol, if one was offered."""
    for p in offered:
        if p.startswith(BEARER) and len(p) > len(BEARER):
            return p[len(BEARER):]
    return None


def close_reason(problem: Problem, trace_id: str) -> str:
    """The close frame's reason: JSON of the problem's type and status (and the trace
    id when it fits), never over the 123 bytes a close reason may hold."""
    short: dict[str, Any] = {"type": problem.type.uri, "status": problem.status,
                             "trace_id": trace_id}
    text = json.dumps(short, separators=(",", ":"))
    if len(text.encode()) > 123:
        short.pop("trace_id")
        text = json.dumps(short, separators=(",", ":"))
    return text


async def _receive(ws: WebSocket, call: Call, wait_s: float | None) -> dict[str, Any]:
    """The next client message as a JSON object (the body guards of ``read_json``);
    ``wait_s`` None waits as long as the socket is open."""
    try:
        async with asyncio.timeout(wait_s):
            message = await ws.receive()
    except TimeoutError as exc:
        raise Problem("invalid-body", f"no message within {wait_s or 0:.0f}s") from exc
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(int(message.get("code", 1000)))
    raw = message.get("bytes") or (message.get("text") or "").encode()
    if len(raw) > call.ctx.edge.max_body_bytes:
        raise Problem("body-too-large",
                      f"message of {len(raw)} bytes exceeds {call.ctx.edge.max_body_bytes}")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem("malformed-json", f"message is not valid UTF-8 JSON: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("type"), str):
        raise Problem("invalid-body", 'a message is a JSON object with a string "type"')
    return document


async def _open(ws: WebSocket, call: Call, offered: list[str]) -> tuple[Opened, int | None]:
    """Authenticate, then start or resume the turn the client asks for."""
    token = subprotocol_token(offered)
    if token is None:
        first = await _receive(ws, call, FIRST_MESSAGE_WAIT_S)
        if first["type"] != "auth" or not isinstance(first.get("token"), str):
            raise Problem("unauthorized", "offer the subprotocol bearer.<token> or send "
                          '{"type": "auth", "token": "<session token>"} first')
        token = first["token"]
    claims = verify_session_token(call, token)
    message = await _receive(ws, call, FIRST_MESSAGE_WAIT_S)
    if message["type"] == "turn":

        async def start() -> Opened:
            idem = message.get("idempotency_key")
            if idem is not None and not isinstance(idem, str):
                raise Problem("invalid-body", "idempotency_key must be a string")
            body = validate(message.get("body"), TURN_REQUEST)
            return await begin_turn(call, claims, body, idem)

        return await admitted_turn(call, claims, start), None
    if message["type"] == "resume":
        turn = canonical_uuid(str(message.get("turn_id")), "path")
        call.turn = turn
        record = await call.ctx.records.get(turn)
        if record is None or record.tenant != claims.tenant:
            raise Problem("turn-not-found", f"turn {turn} not found")
        raw = message.get("last_event_id")
        after = position_after(None if raw is None else str(raw), record, "last_event_id")
        return await open_turn(call.ctx, record), after
    raise Problem("invalid-body", f"expected a turn or resume message, got {message['type']!r}")


class _Socket:
    """Sends of one socket, serialised (the stream and the cancel answer share it)."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.lock = asyncio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        async with self.lock:
            await self.ws.send_text(text)


async def _stream(sock: _Socket, call: Call, opened: Opened, after: int | None) -> None:
    ctx = call.ctx
    async with aclosing(turn_items(ctx, opened.sub, opened.record, opened.past, after=after,
                                   origin=opened.origin)) as batches:
        async for batch in batches:
            if not batch:
                await sock.send({"type": "heartbeat"})
            for item in batch:
                name = SSE_NAMES[str(item.event.get("type"))]
                await sock.send({"type": "event", "event": name, "id": item.position,
                                 "data": data_of(item)})
                ctx.metrics.ws_messages.labels(name).inc()


async def _listen(sock: _Socket, call: Call, opened: Opened) -> None:
    """Client messages while the turn streams: ``cancel``; a disconnect ends it."""
    while True:
        message = await _receive(sock.ws, call, None)
        if message["type"] != "cancel":
            raise Problem("invalid-body", f"only cancel is accepted now, got {message['type']!r}")
        reason = message.get("reason")
        position = await append_cancel(call.ctx, opened.record,
                                       reason if isinstance(reason, str) else None)
        await sock.send({"type": "cancel-requested", "position": position})


async def _run(sock: _Socket, call: Call, opened: Opened, after: int | None) -> None:
    """Stream until the turn ends or the client leaves; a listener failure (a bad
    message) ends the stream and is raised."""
    await sock.send({"type": "turn", "turn_id": opened.record.turn,
                     "trace_id": opened.record.trace_id, "replayed": opened.replayed})
    streamer = asyncio.ensure_future(_stream(sock, call, opened, after))
    listener = asyncio.ensure_future(_listen(sock, call, opened))
    try:
        done, _ = await asyncio.wait({streamer, listener}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (streamer, listener):
            task.cancel()
        await asyncio.gather(streamer, listener, return_exceptions=True)
    for task in done:
        task.result()  # re-raise a Problem or a disconnect


async def _refuse(ws: WebSocket, call: Call, problem: Problem) -> None:
    deny(ws, call, problem)  # PolicyDenied, denial metric
    try:
        await ws.send_text(json.dumps({"type": "problem",
                                       "problem": problem.body(ws.url.path, call.trace_id)},
                                      separators=(",", ":")))
        await ws.close(code=4000 + problem.status, reason=close_reason(problem, call.trace_id))
    except (WebSocketDisconnect, RuntimeError, OSError):
        return  # the client is gone


async def turn_ws(ws: WebSocket) -> None:
    """The ``/v1/turn/ws`` endpoint (see the module doc)."""
    with tracing.span(f"WS {ROUTE}", traceparent=ws.headers.get("traceparent"),
                      kind=SpanKind.SERVER, attributes={"http.route": ROUTE}) as span:
        await _serve(ws, tracing.trace_id_hex(span) or trace_id_of(ws))


async def _serve(ws: WebSocket, trace_id: str) -> None:
    ctx = ws.app.state.edge
    call = Call(ctx, trace_id, time.perf_counter())
    offered = offered_protocols(ws.headers.get("sec-websocket-protocol", ""))
    await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    status = 101
    ctx.metrics.ws_open.inc()
    try:
        try:
            opened, after = await _open(ws, call, offered)
            try:
                await _run(_Socket(ws), call, opened, after)
            finally:
                ctx.tailer.unsubscribe(opened.sub)  # idempotent; the stream may not have run
            await ws.close(1000, "done")
        except Problem as refused:
            status = refused.status
            await _refuse(ws, call, refused)
        except _BACKING as exc:
            log.error("%s: %s", ROUTE, exc)
            failed = Problem("dependency-unavailable", f"a backing service failed: {exc}",
                             retry_after_s=1)
            status = failed.status
            await _refuse(ws, call, failed)
    except WebSocketDisconnect:
        pass  # the client left; the turn goes on
    finally:
        ctx.metrics.ws_open.dec()
        finish(ws, call, ROUTE, status)


@endpoint("/v1/turn/ws")
async def turn_ws_http(request: Request, call: Call) -> Response:
    """A plain HTTP request to the WebSocket resource: 426 naming the upgrade (and 405
    with ``Allow: GET`` for other methods, from the router)."""
    raise Problem("upgrade-required",
                  "GET /v1/turn/ws is a WebSocket: send Upgrade: websocket",
                  headers={"Upgrade": "websocket", "Connection": "Upgrade"})
