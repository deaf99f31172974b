"""The OpenAPI 3.1 document of the edge, built from the same JSON Schemas the
handlers validate with (:mod:`somagent.api.bodies`) and the problem catalogue."""

from __future__ import annotations

from typing import Any

from somagent.api import openapi_policies
from somagent.api.bodies import (
    CANCEL_REQUEST,
    MINT_REQUEST,
    RECALL_REQUEST,
    REMEMBER_REQUEST,
    TURN_REQUEST,
)
from somagent.api.openapi_jobs import JOB_SCHEMAS, job_paths
from somagent.api.problems import MEDIA_TYPE as PROBLEM_MEDIA
from somagent.api.problems import TYPES
from somagent.api.routes_brain import EVALUATE_REQUEST, FEEDBACK_REQUEST
from somagent.api.sse import SSE_NAMES
from somagent.artifacts import openapi as artifacts_openapi
from somagent.webconsole import openapi as console_openapi

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _problems(*slugs: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for slug in slugs:
        t = TYPES[slug]
        entry = out.setdefault(str(t.status), {
            "description": "", "content": {PROBLEM_MEDIA: {"schema": _PROBLEM}}})
        entry["description"] = (entry["description"] + " | " if entry["description"] else "") + \
            f"{t.uri}: {t.title}"
    return out


_BODY_ERRORS = ("malformed-json", "unsupported-media-type", "body-too-large", "invalid-body")
_TOKEN_ERRORS = ("unauthorized", "invalid-token", "token-expired")


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


_SSE = {
    "description": (
        "text/event-stream. Events: " + ", ".join(sorted(set(SSE_NAMES.values())))
        + ". Each has id <partition>-<offset> and JSON data with turn_id, seq, trace_id, type, "
        "event_id, ts_us, payload. Comments ': keep-alive' are heartbeats."
    ),
    "headers": {"X-Turn-Id": {"schema": {"type": "string", "format": "uuid"}}},
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}
# What mint granted after clamping to the tenant's plan (somagent.plans.limits.clamp).
_MINT_GRANTED: dict[str, Any] = {
    "budgets": {"type": "object", "properties": {"tokens": {"type": "integer"},
                                                 "tools_per_min": {"type": "integer"}}},
    "lane": {"enum": ["interactive", "batch"]},
    "clamped": {"type": "array", "items": {"enum": ["tokens", "tools_per_min", "lane"]}},
}
_TURN_ID = {"name": "turn_id", "in": "path", "required": True,
            "schema": {"type": "string", "format": "uuid"}}
_LAST_EVENT_ID = {"name": "Last-Event-ID", "in": "header", "required": False,
                  "schema": {"type": "string", "pattern": "^[0-9]+-[0-9]+$"}}


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    bearer: list[dict[str, list[str]]] = [{"session": []}]
    paths: dict[str, Any] = {
        "/v1/session/mint": {"post": {
            "summary": "Mint a session token (API key)", "security": [{"apiKey": []}],
            "requestBody": _body(MINT_REQUEST),
            "responses": {"200": _json({"type": "object", "required": ["jwt", "expires_in",
                          "session_id"], "properties": {"jwt": {"type": "string"},
                          "expires_in": {"type": "integer"}, "session_id": {"type": "string"},
                          **_MINT_GRANTED}}),
                          **_problems("invalid-api-key", "unauthorized", "forbidden",
                                      "misdirected-request", *_BODY_ERRORS,
                                      *artifacts_openapi.MINT_PROBLEMS,
                                      *openapi_policies.MINT_PROBLEMS)}}},
        "/v1/turn": {"post": {
            "summary": "Start a turn and stream its events", "security": bearer,
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255}},
                           _LAST_EVENT_ID],
            "requestBody": _body(TURN_REQUEST),
            "responses": {"200": _SSE, **_problems(
                *_TOKEN_ERRORS, *_BODY_ERRORS, "session-not-found", "forbidden",
                "session-mismatch", "capsule-not-allowed", "budget-exhausted", "rate-limited",
                "overloaded", "idempotency-key-reused", "dependency-unavailable",
                "agent-revoked", "tokens-per-minute-exceeded", "too-many-concurrent-turns",
                "misdirected-request")}}},
        "/v1/turns/{turn_id}/events": {"get": {
            "summary": "Stream a turn's events from the start or after Last-Event-ID",
            "security": bearer, "parameters": [_TURN_ID, _LAST_EVENT_ID],
            "responses": {"200": _SSE, **_problems(*_TOKEN_ERRORS, "turn-not-found",
                                                   "bad-last-event-id")}}},
        "/v1/turn/ws": {"get": {  # issue 18
            "summary": "A turn over a WebSocket (subprotocol somagent.turn.v1): send the "
                       "POST /v1/turn body or a resume; receive the SSE events as JSON "
                       "messages; cancel by message. Protocol: docs/api.md",
            "responses": {"101": {"description": "Switching Protocols. A refusal is a "
                                  "{type: problem} message with the problem body below, then "
                                  "close code 4000 + status"},
                          **_problems(*_TOKEN_ERRORS, *_BODY_ERRORS, "session-not-found",
                                      "forbidden", "session-mismatch", "capsule-not-allowed",
                                      "budget-exhausted", "rate-limited", "overloaded",
                                      "idempotency-key-reused", "dependency-unavailable",
                                      "agent-revoked", "turn-not-found", "bad-last-event-id",
                                      "upgrade-required")}}},
        "/v1/turns/{turn_id}/cancel": {"post": {
            "summary": "Ask the engine to cancel a turn (appends TurnCancelRequested)",
            "security": bearer, "parameters": [_TURN_ID],
            "requestBody": _body(CANCEL_REQUEST, required=False),
            "responses": {"202": _json({"type": "object"}, "Cancel requested"),
                          **_problems(*_TOKEN_ERRORS, "turn-not-found", *_BODY_ERRORS)}}},
        "/v1/memory/recall": {"post": {
            "summary": "Recall the tenant's memories closest to a query", "security": bearer,
            "requestBody": _body(RECALL_REQUEST),
            "responses": {"200": _json({"type": "object", "properties": {
                "evidence": {"type": "array", "items": {"type": "object"}}}}),
                **_problems(*_TOKEN_ERRORS, *_BODY_ERRORS, "capsule-not-allowed",
                            "policy-denied", "dependency-unavailable")}}},
        "/v1/memory/remember": {"post": {
            "summary": "Ask to remember a text (appends MemoryRememberRequested)",
            "security": bearer, "requestBody": _body(REMEMBER_REQUEST),
            "responses": {"202": _json({"type": "object"}, "Requested"),
                          **_problems(*_TOKEN_ERRORS, *_BODY_ERRORS, "capsule-not-allowed",
                                      "policy-denied")}}},
        "/v1/brain/evaluate": {"post": {
            "summary": "Build a ContextBundle: ranked evidence with provenance, scores, "
                       "calibrated confidence and the session's directives",
            "security": bearer, "requestBody": _body(EVALUATE_REQUEST),
            "responses": {"200": _json({"type": "object", "required": ["bundle_id"]}),
                          **_problems(*_TOKEN_ERRORS, *_BODY_ERRORS, "capsule-not-allowed",
                                      "weights-out-of-bounds", "dependency-unavailable")}}},
        "/v1/brain/feedback": {"post": {
            "summary": "Mark which evidence of a bundle was useful (appends "
                       "BrainFeedbackGiven); answers the tuned weights",
            "security": bearer, "requestBody": _body(FEEDBACK_REQUEST),
            "responses": {"200": _json({"type": "object"}),
                          **_problems(*_TOKEN_ERRORS, *_BODY_ERRORS, "bundle-not-found",
                                      "unknown-evidence", "dependency-unavailable")}}},
        "/v1/usage": {"get": {
            "summary": "The calling tenant's usage and spend per minute, hour or day",
            "security": bearer,
            "parameters": [
                {"name": "from", "in": "query", "required": True,
                 "schema": {"type": "string", "format": "date-time"}},
                {"name": "to", "in": "query", "required": True,
                 "schema": {"type": "string", "format": "date-time"}},
                {"name": "group_by", "in": "query", "required": False,
                 "schema": {"enum": ["minute", "hour", "day"], "default": "hour"}}],
            "responses": {"200": _json({"type": "object"}),
                          **_problems(*_TOKEN_ERRORS, "invalid-query")}}},
        "/v1/tenants/{tenant_id}/data": {"delete": {
            "summary": "Erase a tenant's data: destroy its data keys, forget its memories "
                       "(operator credential)", "security": [{"operator": []}],
            "parameters": [{"name": "tenant_id", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}}],
            "responses": {"202": _json({"type": "object"}, "Keys destroyed; memories being "
                                       "forgotten"),
                          **_problems("unauthorized", "forbidden", "not-found")}}},
        "/healthz": {"get": {"summary": "Process is alive", "security": [],
                             "responses": {"200": _json({"type": "object"})}}},
        "/readyz": {"get": {"summary": "Every backing service answers", "security": [],
                            "responses": {"200": _json({"type": "object"}),
                                          "503": _json({"type": "object"}, "Not ready")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "security": [], "responses": {
            "200": {"description": "OK",
                    "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {"summary": "This document", "security": [],
                                  "responses": {"200": _json({"type": "object"})}}},
        "/.well-known/jwks.json": {"get": {"summary": "Session token verification keys",
                                           "security": [],
                                           "responses": {"200": _json({"type": "object"})}}},
        **artifacts_openapi.paths(_problems),
        **openapi_policies.paths(_problems),
    }
    paths.update(job_paths(_problems, _LAST_EVENT_ID))
    paths.update(console_openapi.paths(_problems))  # issue 18: the console
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": "SomaGent Stream edge", "version": "1"},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "tenant API key"},
                "session": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (EdDSA)"},
                "operator": {"type": "http", "scheme": "bearer",
                             "description": "the operator credential (keys/operator.token; "
                                            "console, tenant erasure, policies)"},
                "console": {"type": "apiKey", "in": "cookie", "name": "somagent_console"},
            },
            "schemas": {"Problem": {
                "type": "object", "required": ["type", "title", "status"],
                "properties": {"type": {"type": "string", "format": "uri"},
                               "title": {"type": "string"}, "status": {"type": "integer"},
                               "detail": {"type": "string"}, "instance": {"type": "string"},
                               "trace_id": {"type": "string"}}}, **JOB_SCHEMAS},
        },
    }
