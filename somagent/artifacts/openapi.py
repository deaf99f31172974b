"""The artifact routes in the edge's OpenAPI document (merged by :mod:`somagent.api.openapi`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from somagent.artifacts.documents import AGENT_SCHEMA, CAPSULE_SCHEMA
from somagent.artifacts.routes_agents import INSTALL_REQUEST, KEY_REQUEST, REASON_REQUEST

Problems = Callable[..., dict[str, Any]]

_ENVELOPE_DOC = ("A DSSE envelope (in-toto/Sigstore signing format) whose base64 payload is "
                 "the document as JSON or YAML; payloadType application/vnd.somagent."
                 "<capsule|agent>+<json|yaml>; Ed25519 signatures with RFC 7638 key ids.")
_ENVELOPE: dict[str, Any] = {
    "type": "object", "required": ["payload", "payloadType", "signatures"],
    "description": _ENVELOPE_DOC,
    "properties": {"payload": {"type": "string", "contentEncoding": "base64"},
                   "payloadType": {"type": "string"},
                   "signatures": {"type": "array", "minItems": 1, "items": {
                       "type": "object", "required": ["keyid", "sig"],
                       "properties": {"keyid": {"type": "string"}, "sig": {"type": "string"}}}}},
}
_SIGNED = ("signature-invalid", "invalid-artifact", "malformed-json", "unsupported-media-type",
           "body-too-large", "invalid-api-key", "unauthorized", "forbidden",
           "dependency-unavailable")
_ADMIN = ("invalid-api-key", "unauthorized", "forbidden", "not-found")
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _ok(description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"type": "object"}}}}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _signed(kind: str, document: dict[str, Any]) -> dict[str, Any]:
    envelope = {**_ENVELOPE,
                "description": f"{_ENVELOPE_DOC} The {kind} format is x-document-schema.",
                "x-document-schema": document}
    return _body(envelope)


def paths(problems: Problems) -> dict[str, Any]:
    """``{path: operations}`` of every artifact route."""
    key: list[dict[str, list[str]]] = [{"apiKey": []}]
    any_bearer: list[dict[str, list[str]]] = [{"apiKey": []}, {"session": []}]

    def op(summary: str, security: list[Any], slugs: tuple[str, ...], *, body: Any = None,
           params: list[Any] | None = None, status: str = "200") -> dict[str, Any]:
        out: dict[str, Any] = {"summary": summary, "security": security,
                               "responses": {status: _ok(), **problems(*slugs)}}
        if body is not None:
            out["requestBody"] = body
        if params:
            out["parameters"] = params
        return out

    agent_path = [{"name": "agent_id", "in": "path", "required": True,
                   "schema": {"type": "string"}}]
    capsule_path = [{"name": "capsule_id", "in": "path", "required": True,
                     "schema": {"type": "string"}}]
    include = {"name": "include", "in": "query", "schema": {"enum": ["embeddings"]}}
    window = [{"name": "window_s", "in": "query", "required": False,
               "schema": {"type": "integer", "minimum": 1}}]
    return {
        "/v1/keys": {
            "post": op("Register a tenant's Ed25519 public signing key (JWK or PEM); key id = "
                       "RFC 7638 thumbprint", key, (*_ADMIN, "invalid-body"),
                       body=_body(KEY_REQUEST), status="201"),
            "get": op("The tenant's signing keys", key, _ADMIN)},
        "/v1/memory/capsule/upload": {"post": op(
            "Upload a signed memory capsule version; its blocks become recallable in the capsule",
            key, (*_SIGNED, "version-exists", "artifact-revoked"),
            body=_signed("capsule", CAPSULE_SCHEMA), status="201")},
        "/v1/memory/capsule/{capsule_id}": {
            "get": op("Capsule metadata and versions (?include=embeddings needs a session "
                      "token whose allow claim names the capsule)", any_bearer,
                      (*_ADMIN, "invalid-token", "token-expired", "invalid-query"),
                      params=[*capsule_path, include]),
            "delete": op("Revoke a capsule (admin role: owner's API key or operator)", key,
                         _ADMIN, params=capsule_path)},
        "/v1/agents": {"get": op(
            "The marketplace catalog with versions, installs and the measured ranking",
            any_bearer, ("unauthorized", "invalid-token", "invalid-query"),
            params=[{"name": "sort", "in": "query", "schema": {"enum": ["id", "rank"]}},
                    *window])},
        "/v1/agents/publish": {"post": op(
            "Publish a signed agent manifest (first version)", key,
            (*_SIGNED, "artifact-exists", "version-exists", "artifact-revoked"),
            body=_signed("agent manifest", AGENT_SCHEMA), status="201")},
        "/v1/agents/{agent_id}": {"get": op("One agent of the catalog", any_bearer,
                                            ("unauthorized", "not-found", "invalid-query"),
                                            params=agent_path + window)},
        "/v1/agents/{agent_id}/update": {"post": op(
            "Publish a new version (installs move only on request or auto-update)", key,
            (*_SIGNED, "not-found", "version-exists", "artifact-revoked"),
            body=_signed("agent manifest", AGENT_SCHEMA), params=agent_path, status="201")},
        "/v1/agents/{agent_id}/install": {"post": op(
            "Install (pin) a version for the calling tenant; again to move the pin", key,
            (*_ADMIN, "artifact-revoked", *problems_body()),
            body=_body(INSTALL_REQUEST, required=False), params=agent_path)},
        "/v1/agents/{agent_id}/uninstall": {"post": op(
            "Uninstall for the calling tenant", key, (*_ADMIN, "agent-not-installed"),
            body=_body(REASON_REQUEST, required=False), params=agent_path)},
        "/v1/agents/{agent_id}/revoke": {"post": op(
            "Revoke (publisher or operator): installs disabled, new sessions and turns refused",
            key, _ADMIN, body=_body(REASON_REQUEST, required=False), params=agent_path)},
    }


def problems_body() -> tuple[str, ...]:
    return ("malformed-json", "unsupported-media-type", "invalid-body")


#: Problems the mint and turn routes add for agent sessions (see somagent.api.openapi).
MINT_PROBLEMS = ("agent-not-installed", "agent-revoked", "capsule-revoked",
                 "capsule-not-allowed")
