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
            "agent": "finance-helper",
            "agent_version": "1.1.0",
            "tools_per_min": 120,
            "lane": "interactive",
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
            "version": "1.0.0",
            "key_id": "q3o5d0nKc1bKuwNf3ZZ6uiNbLrNdQ_lC1vqPdm3_JIs",
            "blob_key": "sha256/" + _sha("capsule-envelope"),
            "envelope_sha256": _sha("capsule-envelope"),
        },
        "TenantDataErased": {"key_id": "dk-" + _sha("data-key")[7:19], "requested_by": "operator",
                             "reason": "tenant asked to be forgotten"},
        "CapsuleRevoked": {
            "capsule_id": "capsule-finance",
            "reason": "owner request",
            "owner_tenant": str(ids.stable_id("example-tenant", seed)),
        },
        "BrainFeedbackGiven": {
            "bundle_id": "5b0c1f9e-3d4a-4c1e-9a57-1f1b2a3c4d5e",
            "scope": None,
            "candidate_ids": [ids.memory_id(session, _sha(text)), ids.memory_id(turn, _sha(text))],
            "returned": 2,
            "feature_names": ["semantic", "rho", "recency", "importance", "conductance", "lexical"],
            "features_nano": [
                710_000_000, 400_000_000, 900_000_000, 0, 0, 300_000_000,
                520_000_000, 400_000_000, 800_000_000, 0, 0, 100_000_000,
            ],
            "useful_ids": [ids.memory_id(session, _sha(text))],
            "useful_vectors_nano": [600_000_000, 800_000_000],
            "vector_dim": 2,
            "held_out": False,
            "given_at_us": _T0_US + 20_000,
        },
        "BrainWeightsUpdated": {
            "feedback_event_id": str(ids.event_id(turn, "BrainFeedbackGiven")),
            "scope": "capsule-finance",
            "weight_names": ["lambda", "mu", "nu", "alpha", "beta", "gamma", "tau"],
            "weights_before_nano": [1_000_000_000, 0, 0, 0, 0, 0, 100_000_000],
            "weights_after_nano": [980_000_000, 10_000_000, 0, 0, 0, 40_000_000, 100_000_000],
            "last_good_nano": [1_000_000_000, 0, 0, 0, 0, 0, 100_000_000],
            "heldout_mrr_candidate_nano": 610_000_000,
            "heldout_mrr_good_nano": 600_000_000,
            "rolled_back": False,
            "step": 1,
        },
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
            "policy_hash": None,
            "rule": None,
        },
        **_job_payloads(seed),
        **_artifact_payloads(seed),
        **_policy_payloads(seed),
    }


def _job_payloads(seed: int) -> dict[str, dict[str, Any]]:
    """Payloads of the job events (jobs.events): a two-step job with an approval."""
    job = ids.stable_id("example-job", seed)
    spec = '{"steps":[{"name":"draft","turn":{"text":"Draft the notes"}}]}'
    return {
        "JobSubmitted": {
            "job_id": job,
            "name": "release notes",
            "spec_json": spec,
            "spec_sha256": _sha(spec),
            "session_id": ids.stable_id("job-session", job),
            "submitted_by": f"session:{ids.stable_id('example-session', seed)}",
            "steps": ["draft", "review"],
            "budget_tokens": 100_000,
            "idempotency_key": f"job-{seed}",
            "parent_job_id": None,
            "parent_step": None,
            "workflow_id": f"job-{job}",
        },
        "JobStepStarted": {
            "job_id": job, "step": "draft", "kind": "turn",
            "turn_id": ids.stable_id("job-turn", job, "draft", 0),
            "child_job_id": None, "idempotency_key": None,
            "timeout_ms": 300_000, "max_attempts": 3,
        },
        "JobStepCompleted": {
            "job_id": job, "step": "draft", "kind": "turn",
            "output_json": '{"text": "Notes drafted."}', "duration_ms": 1_834, "attempts": 1,
        },
        "JobStepFailed": {
            "job_id": job, "step": "publish", "kind": "tool", "reason_code": "tool-failed",
            "message": "calc: division by zero", "duration_ms": 12, "attempts": 3,
        },
        "JobApprovalRequested": {
            "job_id": job, "step": "review", "prompt": "Publish the notes?",
            "timeout_ms": 3_600_000, "on_timeout": "reject", "deadline": _T0_US + 3_600_000_000,
        },
        "JobApprovalGiven": {
            "job_id": job, "step": "review", "decision": "approved",
            "principal": f"session:{ids.stable_id('example-session', seed)}",
            "comment": "ship it", "by_timeout": False,
        },
        "JobCompensated": {
            "job_id": job, "step": "draft", "ok": True, "trigger": "cancel", "order": 0,
            "output_json": '{"value": "1"}', "message": "", "attempts": 1,
        },
        "JobCompleted": {"job_id": job, "duration_ms": 9_120, "steps": 2},
        "JobFailed": {
            "job_id": job, "step": "publish", "reason_code": "tool-failed",
            "message": "calc: division by zero", "compensated": ["draft"],
            "compensation_failed": [], "duration_ms": 4_002,
        },
        "JobCancelled": {
            "job_id": job, "reason": "superseded",
            "principal": f"session:{ids.stable_id('example-session', seed)}",
            "compensated": ["draft"], "duration_ms": 2_500,
        },
    }


def _artifact_payloads(seed: int) -> dict[str, dict[str, Any]]:
    manifest = {
        "agent_id": "finance-helper",
        "name": "Finance helper",
        "version": "1.1.0",
        "sha256": _sha(f"agent-{seed}"),
        "size_bytes": 2_410,
        "key_id": "q3o5d0nKc1bKuwNf3ZZ6uiNbLrNdQ_lC1vqPdm3_JIs",
        "blob_key": "sha256/" + _sha(f"agent-envelope-{seed}"),
        "persona_hash": "sha256-" + _sha("persona"),
        "policy_hash": "sha256-" + _sha("policy"),
        "tools": ["calc", "memory.search"],
        "capsule_ids": ["capsule-finance@1.0.0"],
        "sbom_components": 3,
        "sla_ms": 10_000,
    }
    return {
        "AgentPublished": manifest,
        "AgentUpdated": {**manifest, "version": "1.2.0", "previous_version": "1.1.0"},
        "AgentInstalled": {
            "agent_id": "finance-helper",
            "version": "1.1.0",
            "publisher_tenant": str(ids.stable_id("example-publisher", seed)),
            "auto_update": False,
            "capsule_ids": ["capsule-finance@1.0.0"],
            "reason": "install",
        },
        "AgentUninstalled": {"agent_id": "finance-helper", "reason": "no longer needed"},
        "AgentRevoked": {
            "agent_id": "finance-helper", "reason": "vulnerable tool", "principal": "operator",
        },
        "CapsuleRecalled": {
            "action": "memory.capsule.recall",
            "capsule_id": "capsule-finance",
            "blocks": 2,
            "principal": f"session:{ids.stable_id('example-session', seed)}",
            "usage_id": str(ids.stable_id("example-usage", seed)),
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


def _policy_payloads(seed: int) -> dict[str, dict[str, Any]]:
    """Payloads of the constitution's events (policy.events, policy.decisions)."""
    policy = "sha256-" + _sha(f"policy-document-{seed}")
    document = ('{"data":{"budgets":{},"egress":{"hosts":[]},"lane":"interactive",'
                '"memory":{"mode":"read"},"retention_days":30,"tools":{"allowed":["calc"]}},'
                '"kind":"policy","name":"example","version":"1"}')
    return {
        "PolicyRegistered": {"policy_hash": policy, "name": "example", "version": "1",
                             "document_json": document, "principal": "operator"},
        "PolicySigned": {"policy_hash": policy,
                         "key_id": "q3o5d0nKc1bKuwNf3ZZ6uiNbLrNdQ_lC1vqPdm3_JIs",
                         "signature": "c2lnbmF0dXJl"},
        "PolicyActivated": {"policy_hash": policy, "key_ids": ["k1", "k2"], "threshold_k": 2},
        "PolicyRevoked": {"policy_hash": policy, "reason": "superseded", "principal": "operator"},
        "PolicyDecisionLogged": {
            "decision_id": str(ids.stable_id("example-decision", seed)),
            "path": "somagent/gate/decision", "policy_hash": policy, "action": "tool",
            "allowed": False, "rules": ["tool-not-allowed"],
            "input_json": '{"action":"tool","tool":"python"}',
            "result_json": '{"allow":false,"rules":["tool-not-allowed"]}',
            "decided_at_us": _T0_US, "eval_ns": 41_000,
        },
    }
