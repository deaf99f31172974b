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
TENANT_DATA_ERASED: Final = "TenantDataErased"

# Artifacts: the marketplace (artifacts.events) and capsule reads (gateway.audit)
AGENT_PUBLISHED: Final = "AgentPublished"
AGENT_UPDATED: Final = "AgentUpdated"
AGENT_INSTALLED: Final = "AgentInstalled"
AGENT_UNINSTALLED: Final = "AgentUninstalled"
AGENT_REVOKED: Final = "AgentRevoked"
CAPSULE_RECALLED: Final = "CapsuleRecalled"

# Billing (billing.usage, billing.ledger)
USAGE_RECORDED: Final = "UsageRecorded"
USAGE_WINDOW_CLOSED: Final = "UsageWindowClosed"

# Gateway (gateway.audit)
GATEWAY_REQUEST_AUDITED: Final = "GatewayRequestAudited"
POLICY_DENIED: Final = "PolicyDenied"

# The constitution (policy.events, keyed by policy hash; decisions on policy.decisions)
POLICY_REGISTERED: Final = "PolicyRegistered"
POLICY_SIGNED: Final = "PolicySigned"
POLICY_ACTIVATED: Final = "PolicyActivated"
POLICY_REVOKED: Final = "PolicyRevoked"
POLICY_DECISION_LOGGED: Final = "PolicyDecisionLogged"
#: The policy lifecycle events of ``policy.events``.
POLICY_EVENTS: Final = frozenset(
    (POLICY_REGISTERED, POLICY_SIGNED, POLICY_ACTIVATED, POLICY_REVOKED)
)

# Jobs (jobs.events), keyed by job id
JOB_SUBMITTED: Final = "JobSubmitted"
JOB_STEP_STARTED: Final = "JobStepStarted"
JOB_STEP_COMPLETED: Final = "JobStepCompleted"
JOB_STEP_FAILED: Final = "JobStepFailed"
JOB_APPROVAL_REQUESTED: Final = "JobApprovalRequested"
JOB_APPROVAL_GIVEN: Final = "JobApprovalGiven"
JOB_COMPENSATED: Final = "JobCompensated"
#: The last event of a job: exactly one of these ends every job.
JOB_COMPLETED: Final = "JobCompleted"
JOB_FAILED: Final = "JobFailed"
JOB_CANCELLED: Final = "JobCancelled"

#: The job lifecycle events of ``jobs.events``.
JOB_EVENTS: Final = frozenset(
    (
        JOB_SUBMITTED,
        JOB_STEP_STARTED,
        JOB_STEP_COMPLETED,
        JOB_STEP_FAILED,
        JOB_APPROVAL_REQUESTED,
        JOB_APPROVAL_GIVEN,
        JOB_COMPENSATED,
        JOB_COMPLETED,
        JOB_FAILED,
        JOB_CANCELLED,
    )
)
#: The events that end a job.
JOB_END_EVENTS: Final = frozenset((JOB_COMPLETED, JOB_FAILED, JOB_CANCELLED))

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
        *JOB_EVENTS,
        AGENT_PUBLISHED,
        AGENT_UPDATED,
        AGENT_INSTALLED,
        AGENT_UNINSTALLED,
        AGENT_REVOKED,
        CAPSULE_RECALLED,
        BRAIN_FEEDBACK_GIVEN,
        BRAIN_WEIGHTS_UPDATED,
        TENANT_DATA_ERASED,
        *POLICY_EVENTS,
        POLICY_DECISION_LOGGED,
    )
)
