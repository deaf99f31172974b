"""The SSE wire format and the mapping from turn events to SSE event names.

Mapping (anything not listed is not forwarded):

======================= ===============
event type              SSE ``event:``
======================= ===============
TurnRecalled            ``recall``
TurnPlanned             ``plan``
ToolCallRequested       ``tool.delta``
ToolCallDelta           ``tool.delta``
ToolCallCompleted       ``tool.delta``
ToolCallFailed          ``tool.delta``
PolicyDenied            ``policy.denied``
TurnVerified            ``verify``
TurnAnswered            ``answer``
TurnCancelRequested     ``cancel``
TurnFailed              ``error``
TurnCompleted           ``done`` (last; the stream ends after it)
======================= ===============

``TurnRequested`` is not forwarded (the client sent it; ``X-Turn-Id`` names the turn).
Every forwarded event has ``id: <partition>-<offset>`` and ``data:`` one JSON
object: ``turn_id``, ``seq``, ``trace_id``, ``type`` (the event type, which tells
the ``tool.delta`` kinds apart), ``event_id``, ``ts_us`` and ``payload``.
"""

from __future__ import annotations

import json
from typing import Any

from somagent.api.tailer import LoggedEvent
from somagent.contract import names
from somagent.contract.envelope import plain

SSE_NAMES: dict[str, str] = {
    names.TURN_RECALLED: "recall",
    names.TURN_PLANNED: "plan",
    names.TOOL_CALL_REQUESTED: "tool.delta",
    names.TOOL_CALL_DELTA: "tool.delta",
    names.TOOL_CALL_COMPLETED: "tool.delta",
    names.TOOL_CALL_FAILED: "tool.delta",
    names.POLICY_DENIED: "policy.denied",
    names.TURN_VERIFIED: "verify",
    names.TURN_ANSWERED: "answer",
    names.TURN_CANCEL_REQUESTED: "cancel",
    names.TURN_FAILED: "error",
    names.TURN_COMPLETED: "done",
}
MEDIA_TYPE = "text/event-stream"


def parse_position(value: str) -> tuple[int, int] | None:
    """``(partition, offset)`` of an SSE id ``"<partition>-<offset>"``, or None if malformed."""
    part, sep, off = value.strip().partition("-")
    if not sep or not part.isdigit() or not off.isdigit():
        return None
    return int(part), int(off)


def data_of(item: LoggedEvent) -> dict[str, Any]:
    event = item.event
    return {
        "turn_id": str(event.get("turn")),
        "seq": int(event.get("seq") or 0),
        "trace_id": str(event.get("trace_id") or ""),
        "type": str(event.get("type")),
        "event_id": str(event.get("event_id")),
        "ts_us": plain(event.get("ts")),
        "payload": plain(event.get("payload") or {}),
    }


def frame(event: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
    """One SSE message; data is one line of compact JSON (no newlines to split)."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def event_frame(item: LoggedEvent) -> bytes | None:
    """The SSE message for a logged event, or None when its type is not forwarded."""
    name = SSE_NAMES.get(str(item.event.get("type")))
    if name is None:
        return None
    return frame(name, data_of(item), item.position)


def retry_frame(retry_ms: int) -> bytes:
    return f"retry: {retry_ms}\n\n".encode()


HEARTBEAT = b": keep-alive\n\n"
