"""Event-type names: the envelope's ``type``, one constant per Avro payload record.

Each name is the name of the record in ``schemas/avro/<Name>.avsc`` that the
envelope's ``payload`` holds; a unit test keeps this list and the schemas equal.
Which topic each type goes to is the catalog's business
(:mod:`somagent.events.catalog`), not this module's.
"""

from __future__ import annotations

from typing import Final

# Sessions (conversation.events)
SESSION_MINTED: Final = "SessionMinted"
SESSION_EXPIRED: Final = "SessionExpired"

# Turns (conversation.events), in the order a turn emits them
TURN_REQUESTED: Final = "TurnRequested"
TURN_CANCEL_REQUESTED: Final = "TurnCancelRequested"
TURN_RECALLED: Final = "TurnRecalled"
TURN_PLANNED: Final = "TurnPlanned"
TOOL_CALL_REQUESTED: Final = "ToolCallRequested"
TOOL_CALL_DELTA: Final = "ToolCallDelta"
TOOL_CALL_COMPLETED: Final = "ToolCallCompleted"
TOOL_CALL_FAILED: Final = "ToolCallFailed"
TURN_VERIFIED: Final = "TurnVerified"
TURN_ANSWERED: Final = "TurnAnswered"
TURN_FAILED: Final = "TurnFailed"
#: The last event of every turn, failed ones too: streams and readers stop after it.
TURN_COMPLETED: Final = "TurnCompleted"

# Memory (memory.events)
MEMORY_REMEMBER_REQUESTED: Final = "MemoryRememberRequested"
MEMORY_REMEMBERED: Final = "MemoryRemembered"
MEMORY_REMEMBER_REJECTED: Final = "MemoryRememberRejected"
CAPSULE_UPLOADED: Final = "CapsuleUploaded"
CAPSULE_REVOKED: Final = "CapsuleRevoked"
BRAIN_FEEDBACK_GIVEN: Final = "BrainFeedbackGiven"
BRAIN_WEIGHTS_UPDATED: Final = "BrainWeightsUpdated"

# Billing (billing.usage, billing.ledger)
USAGE_RECORDED: Final = "UsageRecorded"
USAGE_WINDOW_CLOSED: Final = "UsageWindowClosed"

# Gateway (gateway.audit)
GATEWAY_REQUEST_AUDITED: Final = "GatewayRequestAudited"
POLICY_DENIED: Final = "PolicyDenied"

#: The turn lifecycle events of ``conversation.events`` (sessions excluded).
TURN_EVENTS: Final = frozenset(
    (
        TURN_REQUESTED,
        TURN_CANCEL_REQUESTED,
        TURN_RECALLED,
        TURN_PLANNED,
        TOOL_CALL_REQUESTED,
        TOOL_CALL_DELTA,
        TOOL_CALL_COMPLETED,
        TOOL_CALL_FAILED,
        TURN_VERIFIED,
        TURN_ANSWERED,
        TURN_FAILED,
        TURN_COMPLETED,
    )
)

#: Every event type of the contract.
ALL: Final = frozenset(
    (
        *TURN_EVENTS,
        SESSION_MINTED,
        SESSION_EXPIRED,
        MEMORY_REMEMBER_REQUESTED,
        MEMORY_REMEMBERED,
        MEMORY_REMEMBER_REJECTED,
        CAPSULE_UPLOADED,
        CAPSULE_REVOKED,
        USAGE_RECORDED,
        USAGE_WINDOW_CLOSED,
        GATEWAY_REQUEST_AUDITED,
        POLICY_DENIED,
        BRAIN_FEEDBACK_GIVEN,
        BRAIN_WEIGHTS_UPDATED,
    )
)
