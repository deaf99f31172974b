"""Pure parts of the remember flow: event payloads, ids and parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from somagent.memory.exceptions import InvalidRememberRequest, MalformedMemoryEvent
from somagent.memory.guard import Accepted, Rejected, RememberGuard, RememberRequest
from somagent.memory.model import EvidenceBlock, iso_from_us
from somagent.memory.remember import (
    MEMORY_REMEMBER_REJECTED,
    MEMORY_REMEMBER_REQUESTED,
    MEMORY_REMEMBERED,
    decision_event_id,
    decision_payload,
    request_from_event,
    requested_payload,
)
from somagent.turns.state import Evidence

KEY = b"events-test-key-0123456789abcdef"
NOW_US = 1_764_000_000_123_456


def _request(text: str = "Ship to alice@example.com", **extra: object) -> RememberRequest:
    fields: dict[str, object] = {
        "tenant": "t1",
        "text": text,
        "created_at_us": NOW_US,
        "source": "turn",
        "capsule_id": "cap-1",
        "trace_id": "trace-9",
        "request_id": "req-1",
        "reason": "user asked",
        **extra,
    }
    return RememberRequest(**fields)  # type: ignore[arg-type]


def test_requested_payload_is_already_redacted_and_predicts_the_memory_id() -> None:
    guard = RememberGuard(KEY)
    payload = requested_payload(guard, _request())
    assert "alice@example.com" not in payload["text"]
    assert payload["pii_kinds"] == ["email"]
    decision = guard.decide(_request())
    assert isinstance(decision, Accepted)
    assert payload["memory_id"] == decision.memory_id
    assert payload["text_sha256"] == decision.text_sha256


def test_requested_payload_refuses_oversized_text() -> None:
    guard = RememberGuard(KEY, max_text_bytes=16)
    with pytest.raises(InvalidRememberRequest, match="t1"):
        requested_payload(guard, _request(text="x" * 17))
    assert requested_payload(guard, _request(text="x" * 16))["text"] == "x" * 16


def test_request_round_trips_through_an_envelope() -> None:
    guard = RememberGuard(KEY)
    original = _request()
    envelope = {
        "event_id": "req-1",
        "type": MEMORY_REMEMBER_REQUESTED,
        "ts": datetime.fromtimestamp(NOW_US / 1e6, tz=UTC),
        "tenant": "t1",
        "trace_id": "trace-9",
        "payload": requested_payload(guard, original),
    }
    parsed = request_from_event(envelope)
    assert parsed.tenant == "t1" and parsed.request_id == "req-1" and parsed.trace_id == "trace-9"
    assert (
        parsed.capsule_id == "cap-1" and parsed.source == "turn" and parsed.reason == "user asked"
    )
    assert parsed.created_at_us == NOW_US
    # The guard on the already-redacted text reaches the same memory.
    assert guard.decide(parsed) == guard.decide(original)
    # Without created_at_us the envelope's timestamp-micros (a datetime once decoded) is used.
    del envelope["payload"]["created_at_us"]  # type: ignore[attr-defined]
    assert abs(request_from_event(envelope).created_at_us - NOW_US) <= 1


@pytest.mark.parametrize(
    "event",
    [
        {"type": MEMORY_REMEMBERED, "tenant": "t", "payload": {"text": "x"}},
        {"type": MEMORY_REMEMBER_REQUESTED, "tenant": "t", "payload": {}},
        {"type": MEMORY_REMEMBER_REQUESTED, "payload": {"text": "x"}, "ts": 1},
        {"type": MEMORY_REMEMBER_REQUESTED, "tenant": "t", "payload": {"text": "x"}, "ts": "now"},
    ],
)
def test_malformed_requests(event: dict[str, object]) -> None:
    with pytest.raises(MalformedMemoryEvent):
        request_from_event(event)


def test_decision_payloads() -> None:
    guard = RememberGuard(KEY)
    request = _request()
    accepted = guard.decide(request)
    kind, payload = decision_payload(request, accepted)
    assert kind == MEMORY_REMEMBERED
    assert isinstance(accepted, Accepted)
    assert payload["memory_id"] == accepted.memory_id and payload["text"] == accepted.text
    assert {"text_sha256", "capsule_id", "source", "reason", "request_id"} <= payload.keys()
    rejected = guard.decide(request, {accepted.text_sha256})
    kind, payload = decision_payload(request, rejected)
    assert kind == MEMORY_REMEMBER_REJECTED
    assert isinstance(rejected, Rejected)
    assert payload["reason_code"] == payload["reason"] == "duplicate"
    assert payload["memory_id"] == accepted.memory_id and payload["detail"]
    blank = _request(text=" ")
    _, payload = decision_payload(blank, guard.decide(blank))
    assert payload["reason_code"] == "empty"
    assert payload["memory_id"] == requested_payload(guard, blank)["memory_id"]


def test_decision_event_ids() -> None:
    guard = RememberGuard(KEY)
    first, retry = _request(), _request()
    other_request = _request(request_id="req-2")
    accepted = guard.decide(first)
    # One memory, one write event: retries and other requests for it share the id.
    assert decision_event_id(first, accepted) == decision_event_id(retry, guard.decide(retry))
    assert decision_event_id(other_request, guard.decide(other_request)) == decision_event_id(
        first, accepted
    )
    # Each request gets its own rejection, the same on a retry.
    assert isinstance(accepted, Accepted)
    dup1 = guard.decide(first, {accepted.text_sha256})
    dup2 = guard.decide(other_request, {accepted.text_sha256})
    assert decision_event_id(first, dup1) == decision_event_id(retry, dup1)
    assert decision_event_id(first, dup1) != decision_event_id(other_request, dup2)
    assert decision_event_id(first, dup1) != decision_event_id(first, accepted)


def test_evidence_block_shapes() -> None:
    block = EvidenceBlock("m", "text", 0.8765432, "api", NOW_US, "tr", "cap")
    assert block.to_dict()["created_at"] == "2025-11-24T16:00:00.123456Z" == iso_from_us(NOW_US)
    assert block.to_dict()["score"] == 0.876543
    event = Evidence.from_block(block).to_event_dict()  # what TurnRecalled carries
    assert event["score_ppm"] == 876543 and event["created_at"] == NOW_US
