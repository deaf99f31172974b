"""RFC 9457 problem details: every rejection the edge makes, with a stable type URI.

A handler raises :class:`Problem`; the app turns it into an
``application/problem+json`` response with ``type``, ``title``, ``status``,
``detail``, ``instance`` (the request path) and ``trace_id``, plus any extension
members (``errors`` for body validation, ``retry_after_s`` for throttling).
Type URIs are ``https://somagent.dev/problems/<slug>`` and never change; the
slug is also the ``reason_code`` of the audited ``PolicyDenied`` event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

BASE = "https://somagent.dev/problems/"
MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True, slots=True)
class ProblemType:
    slug: str
    status: int
    title: str

    @property
    def uri(self) -> str:
        return BASE + self.slug


_TYPES = (
    ProblemType("malformed-json", 400, "Request body is not valid JSON"),
    ProblemType("invalid-query", 400, "Query parameters are invalid"),
    ProblemType("bad-last-event-id", 400, "Last-Event-ID is not a position of this turn"),
    ProblemType("unauthorized", 401, "Credentials are missing"),
    ProblemType("invalid-token", 401, "Token is invalid"),
    ProblemType("token-expired", 401, "Token has expired"),
    ProblemType("invalid-api-key", 401, "API key is invalid"),
    ProblemType("invalid-credential", 401, "Console credential is invalid or has expired"),
    ProblemType("budget-exhausted", 402, "Token budget exhausted"),
    ProblemType("forbidden", 403, "Not allowed for this tenant"),
    ProblemType("session-mismatch", 403, "Token was issued for another session"),
    ProblemType("capsule-not-allowed", 403, "Capsule not allowed for this session"),
    ProblemType("capsule-revoked", 403, "Capsule has been revoked"),
    ProblemType("agent-not-installed", 403, "Agent is not installed for this tenant"),
    ProblemType("agent-revoked", 403, "Agent has been revoked"),
    ProblemType("policy-unknown", 403, "Policy is not registered"),
    ProblemType("policy-not-active", 403, "Policy is not active (fewer than k signatures)"),
    ProblemType("policy-revoked", 403, "Policy has been revoked"),
    ProblemType("policy-denied", 403, "The session's policy refuses this"),
    ProblemType("policy-not-found", 404, "No such policy"),
    ProblemType("invalid-policy", 422, "Policy document is invalid"),
    ProblemType("session-not-found", 404, "Session not found"),
    ProblemType("turn-not-found", 404, "Turn not found"),
    ProblemType("job-not-found", 404, "Job not found"),
    ProblemType("step-not-found", 404, "The job has no such step"),
    ProblemType("step-not-waiting", 409, "The step is not waiting for an approval"),
    ProblemType("job-not-running", 409, "The job is not running"),
    ProblemType("invalid-job-spec", 422, "The job spec is invalid; nothing was started"),
    ProblemType("invalid-roadmap", 422, "The roadmap cannot be planned"),
    ProblemType("jobs-unavailable", 503, "The workflow service is unavailable"),
    ProblemType("not-found", 404, "No such resource"),
    ProblemType("bundle-not-found", 404, "No such context bundle for this tenant"),
    ProblemType("method-not-allowed", 405, "Method not allowed"),
    ProblemType("upgrade-required", 426, "This resource is a WebSocket"),
    ProblemType("idempotency-key-reused", 409, "Idempotency-Key was used for another request"),
    ProblemType("artifact-exists", 409, "Artifact id is taken"),
    ProblemType("version-exists", 409, "This version exists with other content"),
    ProblemType("artifact-revoked", 409, "Artifact has been revoked"),
    ProblemType("body-too-large", 413, "Request body too large"),
    ProblemType("misdirected-request", 421, "The tenant's data lives in another region"),
    ProblemType("unsupported-media-type", 415, "Content-Type must be application/json"),
    ProblemType("invalid-body", 422, "Request body does not match the schema"),
    ProblemType("signature-invalid", 422, "Signature envelope does not verify"),
    ProblemType("invalid-artifact", 422, "Artifact document is invalid"),
    ProblemType("unknown-evidence", 422, "Feedback names evidence the bundle did not hold"),
    ProblemType("weights-out-of-bounds", 422, "Utility weights outside the configured bounds"),
    ProblemType("rate-limited", 429, "Rate limit exceeded"),
    ProblemType("tokens-per-minute-exceeded", 429, "The tenant's tokens per minute are used up"),
    ProblemType("too-many-concurrent-turns", 429, "The tenant's concurrent turns are all running"),
    ProblemType("internal", 500, "Internal error"),
    ProblemType("overloaded", 503, "Edge is shedding load"),
    ProblemType("dependency-unavailable", 503, "A backing service is unavailable"),
)
TYPES: Mapping[str, ProblemType] = {t.slug: t for t in _TYPES}


class Problem(Exception):
    """A rejection: raise it anywhere in a handler (slug must be in :data:`TYPES`)."""

    def __init__(
        self,
        slug: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        if slug not in TYPES:
            raise KeyError(f"unknown problem type {slug!r}")
        super().__init__(f"{slug}: {detail}")
        self.type = TYPES[slug]
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions

    @property
    def slug(self) -> str:
        return self.type.slug

    @property
    def status(self) -> int:
        return self.type.status

    def body(self, instance: str, trace_id: str) -> dict[str, Any]:
        return {
            "type": self.type.uri,
            "title": self.type.title,
            "status": self.type.status,
            "detail": self.detail,
            "instance": instance,
            "trace_id": trace_id,
            **self.extensions,
        }

    def response(self, instance: str, trace_id: str) -> Response:
        return Response(
            json.dumps(self.body(instance, trace_id), separators=(",", ":")),
            status_code=self.status,
            media_type=MEDIA_TYPE,
            headers={**self.headers, "X-Trace-Id": trace_id},
        )


def throttled(slug: str, detail: str, retry_after_s: int, **extensions: Any) -> Problem:
    """A 429/503/402 problem with ``Retry-After`` (whole seconds, >= 1)."""
    seconds = max(1, int(retry_after_s))
    return Problem(
        slug, detail, headers={"Retry-After": str(seconds)}, retry_after_s=seconds, **extensions
    )
