"""One realistic example event per payload type, deterministic for a given seed.

Used by the docs, the round-trip tests and ``bench/codec.py``; also a quick
reference for the shape of each payload. Ids are deterministic (UUIDv5 from the
seed), times are fixed epoch microseconds, so encoded bytes are stable.
"""

from __future__ import annotations

import hashlib
from typing import Any

from somagent.contract import ids
from somagent.contract.envelope import Event
from somagent.events.envelope import make_event

_T0_US = 1_795_000_000_000_000  # 2026-11-18T...Z, a fixed instant
_MINUTE_US = 60_000_000


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def example_payloads(seed: int = 0) -> dict[str, dict[str, Any]]:
    """Payload of every event type, by type name."""
    turn = ids.stable_id("example-turn", seed)
    session = ids.stable_id("example-session", seed)
    call = ids.tool_call_id(turn, 0)
    text = f"What did we decide about the Q{seed % 4 + 1} budget?"
    return {
        "SessionMinted": {
            "session_id": session,
            "persona_hash": _sha("persona"),
            "policy_hash": _sha("policy"),
            "token_budget": 200_000,
            "tools_per_min": 30,
            "capsule_ids": ["capsule-finance"],
            "expires_at": _T0_US + 3600 * 1_000_000,
        },
        "SessionExpired": {"session_id": session, "reason": "ttl"},
        "TurnRequested": {
            "turn_id": turn,
            "session_id": session,
            "text": text,
            "allow_tools": ["search", "calculator"],
            "memory_mode": "readwrite",
            "idempotency_key": f"client-{seed}",
            "deadline_ms": 30_000,
            "capsule_ids": ["capsule-finance"],
            "tools_per_min": 120,
        },
        "TurnCancelRequested": {"reason": "client disconnected"},
        "TurnRecalled": {
            "evidence": [
                {
                    "memory_id": ids.memory_id(session, _sha("budget"), None),
                    "text": "Budget for Q1 was approved at 120k.",
                    "score_ppm": 912_345,
                    "source": "turn",
                    "created_at": _T0_US - 86_400_000_000,
                    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                }
            ]
        },
        "TurnPlanned": {
            "planner": "builtin",
            "steps": [{"call_id": call, "tool": "search", "arguments_json": '{"q": "budget"}'}],
            "rationale": "The question names a past decision; search the notes.",
        },
        "ToolCallRequested": {
            "call_id": call,
            "tool": "search",
            "arguments_json": '{"q": "budget"}',
            "idempotency_key": ids.tool_idempotency_key("search", turn, 0),
            "index": 0,
        },
        "ToolCallDelta": {"call_id": call, "chunk": "found 3 notes", "index": 0},
        "ToolCallCompleted": {
            "call_id": call,
            "tool": "search",
            "result_json": '{"hits": 3}',
            "duration_ms": 41,
            "exit_code": 0,
        },
        "ToolCallFailed": {
            "call_id": call,
            "tool": "search",
            "reason_code": "timeout",
            "message": "search did not answer within 5000 ms",
        },
        "TurnVerified": {"ok": True, "checks": ["citations", "budget"], "problems": []},
        "TurnAnswered": {
            "text": "Q1 was approved at 120k.",
            "citations": [call],
            "tokens_in": 812,
            "tokens_out": 64,
        },
        "TurnFailed": {"reason_code": "deadline", "message": "30000 ms passed", "step": "tools"},
        "TurnCompleted": {"duration_ms": 1834, "steps": 6},
        "MemoryRememberRequested": {
            "memory_id": ids.memory_id(session, _sha(text)),
            "text": text,
            "text_sha256": _sha(text),
            "capsule_id": None,
            "reason": "user asked to remember",
        },
        "MemoryRemembered": {
            "memory_id": ids.memory_id(session, _sha(text)),
            "text": text,
            "text_sha256": _sha(text),
            "capsule_id": "capsule-finance",
            "reason": "user asked to remember",
        },
        "MemoryRememberRejected": {
            "memory_id": ids.memory_id(session, _sha(text)),
            "text_sha256": _sha(text),
            "capsule_id": None,
            "reason": "duplicate",
        },
        "CapsuleUploaded": {
            "capsule_id": "capsule-finance",
            "name": "Finance notes",
            "sha256": _sha("capsule"),
            "size_bytes": 48_213,
            "memory_count": 112,
        },
        "CapsuleRevoked": {"capsule_id": "capsule-finance", "reason": "owner request"},
        "UsageRecorded": {
            "usage_id": ids.usage_id(ids.event_id(turn, "TurnAnswered"), "planner"),
            "agent": "planner",
            "tokens": 876,
            "tool_calls": 1,
            "storage_bytes": 0,
            "egress_bytes": 2_048,
            "token_price_picocents": 1_000_000_000,
            "tool_call_price_picocents": 50_000_000_000,
            "storage_byte_price_picocents": 2_300,
            "egress_byte_price_picocents": 9_000,
            "occurred_at": _T0_US + 12_345,
        },
        "UsageWindowClosed": {
            "tenant": ids.stable_id("example-tenant", seed),
            "agent": "planner",
            "session": session,
            "window_start": _T0_US - _T0_US % _MINUTE_US,
            "tokens": 876,
            "tool_calls": 1,
            "storage_bytes": 0,
            "egress_bytes": 2_048,
            "cost_cents": 1,
            "revision": 0,
            "is_correction": False,
        },
        "GatewayRequestAudited": {
            "method": "POST",
            "path": "/v1/turn",
            "status": 200,
            "principal": str(session),
            "latency_us": 1_820,
        },
        "PolicyDenied": {
            "reason_code": "tool-not-allowed",
            "detail": "tool 'shell' is not in the session's allow list",
            "path": "/v1/turn",
        },
    }


def example_events(seed: int = 0) -> list[Event]:
    """One envelope per payload type, in a stable order."""
    tenant = ids.stable_id("example-tenant", seed)
    session = ids.stable_id("example-session", seed)
    turn = ids.stable_id("example-turn", seed)
    events = []
    for seq, (kind, payload) in enumerate(example_payloads(seed).items()):
        events.append(
            make_event(
                kind,
                payload,
                tenant=tenant,
                session=session,
                turn=turn if kind.startswith(("Turn", "Tool")) else None,
                trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
                seq=seq,
                producer="examples",
                event_id=ids.event_id(turn, kind, seq),
                ts_us=_T0_US + seq,
            )
        )
    return events
