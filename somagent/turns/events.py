"""What the turn machine emits besides its events' envelopes: usage records and prices.

Two kinds leave a transition:

* :class:`~somagent.contract.envelope.Envelope` – appended to
  ``conversation.events`` (key: session id), with a deterministic ``event_id``,
  ``type`` from :mod:`somagent.contract.names`, ``ts`` (epoch µs), ``seq`` (+1 per
  event of the turn), ``producer`` :data:`PRODUCER` and a ``payload`` whose keys
  are exactly the fields of the Avro record named by ``type``.
* :class:`UsageRecord` – appended to ``billing.usage`` (key: tenant) as a
  ``UsageRecorded`` envelope; ``seq`` is the seq of the conversation event whose
  work it meters. Prices come from the caller's price list (:class:`UsagePrices`).

Payloads per type (Avro field names):

==================== ==========================================================
TurnRecalled         evidence: [EvidenceBlock]
TurnPlanned          planner, steps: [{call_id, tool, arguments_json}], rationale
PolicyDenied         reason_code (``tool-not-allowed``), detail, path (``tool:<name>``)
ToolCallRequested    call_id, tool, arguments_json, idempotency_key, index
ToolCallDelta        call_id, chunk, index (chunk number)
ToolCallCompleted    call_id, tool, result_json, duration_ms, exit_code
ToolCallFailed       call_id, tool, reason_code, message
TurnVerified         ok, checks, problems
TurnAnswered         text, citations, tokens_in, tokens_out
TurnFailed           reason_code, message, step
TurnCompleted        duration_ms, steps   (last event of every turn, failed ones too)
==================== ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from somagent.contract.envelope import Envelope
from somagent.contract.names import USAGE_RECORDED

PRODUCER: Final = "turns"

#: ``PolicyDenied.reason_code`` for a tool outside the allowed set.
TOOL_NOT_ALLOWED: Final = "tool-not-allowed"

#: ``UsageRecorded.agent`` values the machine uses (tools add ``tool:<name>``).
AGENT_PLANNER: Final = "planner"
AGENT_EDGE: Final = "edge"
AGENT_MEMORY: Final = "memory"


@dataclass(frozen=True)
class UsagePrices:
    """Unit prices in integer picocents (1e-12 cent), from the billing price list."""

    token_picocents: int
    tool_call_picocents: int
    storage_byte_picocents: int
    egress_byte_picocents: int


@dataclass(frozen=True)
class UsageRecord:
    """One metered act; exactly one of the counts is non-zero. ``ts`` is epoch µs.

    ``detail`` says how it was counted (token source, tool call id) for audits;
    it is not part of the Avro record.
    """

    usage_id: str
    ts: int
    tenant: str
    session: str
    turn: str
    trace_id: str
    seq: int
    agent: str
    tokens: int = 0
    tool_calls: int = 0
    storage_bytes: int = 0
    egress_bytes: int = 0
    detail: dict[str, Any] = field(default_factory=dict)

    def payload(self, prices: UsagePrices) -> dict[str, Any]:
        """The ``UsageRecorded`` payload priced with ``prices``."""
        return {
            "usage_id": self.usage_id,
            "agent": self.agent,
            "tokens": self.tokens,
            "tool_calls": self.tool_calls,
            "storage_bytes": self.storage_bytes,
            "egress_bytes": self.egress_bytes,
            "token_price_picocents": prices.token_picocents,
            "tool_call_price_picocents": prices.tool_call_picocents,
            "storage_byte_price_picocents": prices.storage_byte_picocents,
            "egress_byte_price_picocents": prices.egress_byte_picocents,
            "occurred_at": self.ts,
        }

    def to_dict(self, prices: UsagePrices) -> dict[str, Any]:
        """The ``UsageRecorded`` envelope for ``billing.usage``; its event id is the usage id."""
        return Envelope(
            event_id=self.usage_id,
            type=USAGE_RECORDED,
            ts=self.ts,
            tenant=self.tenant,
            session=self.session,
            turn=self.turn,
            trace_id=self.trace_id,
            seq=self.seq,
            producer=PRODUCER,
            payload=self.payload(prices),
        ).to_dict()
