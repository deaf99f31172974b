"""A WebSocket turn client for the edge tests (the `websockets` library's asyncio client)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from somagent.api.routes_ws import SUBPROTOCOL


@dataclass
class WsResult:
    """What a socket received: the ``turn`` answer, events, other messages, the close."""

    started: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    others: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""

    @property
    def names(self) -> list[str]:
        return [e["event"] for e in self.events]

    @property
    def ids(self) -> list[str]:
        return [e["id"] for e in self.events]

    @property
    def problem(self) -> dict[str, Any]:
        [message] = [m for m in self.others if m["type"] == "problem"]
        problem: dict[str, Any] = message["problem"]
        return problem


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1) + "/v1/turn/ws"


def open_ws(base_url: str, token: str | None, *, headers: dict[str, str] | None = None
            ) -> Any:
    """Connect; ``token`` travels as the ``bearer.<token>`` subprotocol when given."""
    protocols = [SUBPROTOCOL] + ([f"bearer.{token}"] if token else [])
    return connect(ws_url(base_url), subprotocols=protocols,  # type: ignore[arg-type]
                   additional_headers=headers or {})


async def read(ws: ClientConnection, result: WsResult | None = None, *,
               stop_after: int | None = None, timeout_s: float = 20.0) -> WsResult:
    """Messages until the server closes (or ``stop_after`` events)."""
    result = result or WsResult()
    try:
        while stop_after is None or len(result.events) < stop_after:
            message = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
            if message["type"] == "turn":
                result.started = message
            elif message["type"] == "event":
                result.events.append(message)
            else:
                result.others.append(message)
    except ConnectionClosed as closed:
        if closed.rcvd is not None:
            result.close_code, result.close_reason = closed.rcvd.code, closed.rcvd.reason
    return result


def turn_message(body: dict[str, Any], idem: str | None = None) -> str:
    message: dict[str, Any] = {"type": "turn", "body": body}
    if idem is not None:
        message["idempotency_key"] = idem
    return json.dumps(message)


def resume_message(turn: str, last_event_id: str | None = None) -> str:
    message: dict[str, Any] = {"type": "resume", "turn_id": turn}
    if last_event_id is not None:
        message["last_event_id"] = last_event_id
    return json.dumps(message)
