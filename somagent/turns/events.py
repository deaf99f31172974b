"""Events the turn machine emits, as plain typed records.

Two kinds leave a transition:

* :class:`TurnEvent` – appended to ``conversation.events`` (key: session id).
  Its fields mirror the shared envelope: ``event_id`` (deterministic, see
  :mod:`somagent.turns.ids`), ``type``, ``ts`` (epoch ms), ``tenant``,
  ``session``, ``turn``, ``seq`` (+1 per event of the turn) and ``payload``.
* :class:`UsageRecord` – appended to ``billing.usage`` (key: tenant). ``seq``
  is the seq of the conversation event that caused it, for tracing only.

The wiring layer adds ``trace_id`` and encodes them; ``to_dict`` gives the
field names it should use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

# conversation.events types (past tense, one per transition).
TURN_STARTED: Final = "TurnStarted"
TURN_RECALLED: Final = "TurnRecalled"
TURN_PLANNED: Final = "TurnPlanned"
POLICY_DENIED: Final = "PolicyDenied"
TOOL_CALL_REQUESTED: Final = "ToolCallRequested"
TOOL_CALL_DELTA: Final = "ToolCallDelta"
TOOL_CALL_COMPLETED: Final = "ToolCallCompleted"
TOOL_CALL_FAILED: Final = "ToolCallFailed"
TURN_VERIFIED: Final = "TurnVerified"
TURN_ANSWERED: Final = "TurnAnswered"
TURN_REMEMBERED: Final = "TurnRemembered"
TURN_COMPLETED: Final = "TurnCompleted"
TURN_FAILED: Final = "TurnFailed"

# billing.usage type and its kinds.
USAGE_RECORDED: Final = "UsageRecorded"
USAGE_TOKENS: Final = "tokens"
USAGE_TOOL_CALL: Final = "tool_call"
USAGE_STORAGE: Final = "storage_bytes"
USAGE_EGRESS: Final = "egress_bytes"


@dataclass(frozen=True)
class TurnEvent:
    """One ``conversation.events`` record."""

    event_id: str
    type: str
    ts: int
    tenant: str
    session: str
    turn: str
    seq: int
    payload: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "type": self.type,
            "ts": self.ts,
            "tenant": self.tenant,
            "session": self.session,
            "turn": self.turn,
            "seq": self.seq,
            "payload": dict(self.payload),
        }


@dataclass(frozen=True)
class UsageRecord:
    """One ``billing.usage`` record: ``quantity`` of ``kind`` (``unit`` names it).

    Kinds: ``tokens`` (unit ``tokens``; ``detail`` has prompt/completion and the
    counting source), ``tool_call`` (unit ``calls``; ``detail.tool``),
    ``storage_bytes`` and ``egress_bytes`` (unit ``bytes``).
    """

    event_id: str
    ts: int
    tenant: str
    session: str
    turn: str
    seq: int
    kind: str
    quantity: int
    unit: str
    detail: dict[str, Any] = field(default_factory=dict)
    type: str = USAGE_RECORDED

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "type": self.type,
            "ts": self.ts,
            "tenant": self.tenant,
            "session": self.session,
            "turn": self.turn,
            "seq": self.seq,
            "payload": {
                "kind": self.kind,
                "quantity": self.quantity,
                "unit": self.unit,
                "detail": dict(self.detail),
            },
        }
