"""The constitution's routes in the edge's OpenAPI document (merged by :mod:`.openapi`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from somagent.api.routes_policies import REVOKE_BODY, SIGNATURE_BODY
from somagent.policy.document import HASH_RE, SCHEMA

Problems = Callable[..., dict[str, Any]]

#: What mint adds: the session's policy must be active and allow the request.
MINT_PROBLEMS: Final = ("policy-unknown", "policy-not-active", "policy-revoked", "policy-denied",
                        "dependency-unavailable")
_AUTH: Final = ("unauthorized", "invalid-api-key", "invalid-token", "token-expired", "forbidden")
_BODY: Final = ("malformed-json", "unsupported-media-type", "body-too-large", "invalid-body")
_HASH = {"name": "policy_hash", "in": "path", "required": True,
         "schema": {"type": "string", "pattern": HASH_RE}}
_STATE = {"type": "object", "required": ["policy_hash", "status"], "properties": {
    "policy_hash": {"type": "string"}, "name": {"type": "string"},
    "version": {"type": "string"}, "k": {"type": "integer"}, "n": {"type": "integer"},
    "status": {"enum": ["registered", "active", "revoked"]},
    "signed_by": {"type": "array", "items": {"type": "string"}}}}


def _ok(description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _STATE}}}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def paths(problems: Problems) -> dict[str, Any]:
    """``{path: operations}`` of the policy routes (operator credential)."""
    operator: list[dict[str, list[str]]] = [{"operator": []}]
    return {
        "/v1/policies": {"post": {
            "summary": "Register a policy document (its hash is sha256 of RFC 8785 form)",
            "security": operator, "requestBody": _body(SCHEMA),
            "responses": {"201": _ok("Registered"), "200": _ok("Already registered"),
                          **problems(*_AUTH, *_BODY, "invalid-policy",
                                     "dependency-unavailable")}}},
        "/v1/policies/{policy_hash}": {"get": {
            "summary": "A policy: state, document, signers", "security": operator,
            "parameters": [_HASH],
            "responses": {"200": _ok(), **problems(*_AUTH, "policy-not-found")}}},
        "/v1/policies/{policy_hash}/signatures": {"post": {
            "summary": "Add one constitution key's activation signature (k of n activate)",
            "security": operator, "parameters": [_HASH], "requestBody": _body(SIGNATURE_BODY),
            "responses": {"200": _ok(), **problems(
                *_AUTH, *_BODY, "policy-not-found", "signature-invalid", "policy-revoked",
                "dependency-unavailable")}}},
        "/v1/policies/{policy_hash}/revoke": {"post": {
            "summary": "Revoke a policy (terminal; new sessions refused, removed from OPA)",
            "security": operator, "parameters": [_HASH],
            "requestBody": _body(REVOKE_BODY, required=False),
            "responses": {"200": _ok(), **problems(*_AUTH, *_BODY, "policy-not-found",
                                                   "dependency-unavailable")}}},
    }
