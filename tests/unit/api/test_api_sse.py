"""SSE framing and the event-type → SSE-name mapping."""

from __future__ import annotations

import json
import uuid

from somagent.api.sse import (
    HEARTBEAT,
    SSE_NAMES,
    data_of,
    event_frame,
    frame,
    parse_position,
    retry_frame,
)
from somagent.api.tailer import LoggedEvent
from somagent.events.envelope import make_event
from somagent.events.examples import example_payloads

TURN, SESSION, TENANT = (str(uuid.uuid4()) for _ in range(3))


def logged(kind: str, offset: int = 5, seq: int = 1) -> LoggedEvent:
    event = make_event(kind, example_payloads(0)[kind], tenant=TENANT, producer="turns",
                       session=SESSION, turn=TURN, trace_id="ab" * 16, seq=seq)
    return LoggedEvent(2, offset, event, 0, 0)


def test_mapping_is_the_contracted_one() -> None:
    assert SSE_NAMES["TurnPlanned"] == "plan"
    assert {SSE_NAMES[k] for k in ("ToolCallRequested", "ToolCallDelta", "ToolCallCompleted",
                                   "ToolCallFailed")} == {"tool.delta"}
    assert SSE_NAMES["TurnVerified"] == "verify" and SSE_NAMES["TurnAnswered"] == "answer"
    assert SSE_NAMES["TurnCompleted"] == "done" and SSE_NAMES["TurnFailed"] == "error"
    assert "TurnRequested" not in SSE_NAMES
    assert event_frame(logged("TurnRequested")) is None


def test_event_frame_has_position_name_and_one_line_of_json() -> None:
    raw = event_frame(logged("TurnAnswered", offset=42, seq=7))
    assert raw is not None
    text = raw.decode()
    assert text.endswith("\n\n") and text.count("\n") == 4
    lines = text.strip("\n").split("\n")
    assert lines[0] == "id: 2-42" and lines[1] == "event: answer"
    data = json.loads(lines[2].removeprefix("data: "))
    assert data["turn_id"] == TURN and data["seq"] == 7 and data["trace_id"] == "ab" * 16
    assert data["type"] == "TurnAnswered"
    assert data["payload"] == example_payloads(0)["TurnAnswered"]


def test_data_is_json_ready_for_every_forwarded_type() -> None:
    for kind in SSE_NAMES:
        json.dumps(data_of(logged(kind)))


def test_newlines_in_payloads_stay_inside_one_data_line() -> None:
    raw = frame("answer", {"text": "a\nb\r\nc"}, "0-1").decode()
    assert raw.count("\n") == 4 and "\r" not in raw


def test_positions_parse_strictly() -> None:
    assert parse_position("3-17") == (3, 17)
    assert parse_position(" 0-0 ") == (0, 0)
    for bad in ("", "3", "3-", "-1", "a-1", "1-b", "1-2-3", "-1-2"):
        assert parse_position(bad) is None, bad


def test_retry_and_heartbeat_are_sse_fields() -> None:
    assert retry_frame(1500) == b"retry: 1500\n\n"
    assert HEARTBEAT.startswith(b":") and HEARTBEAT.endswith(b"\n\n")
