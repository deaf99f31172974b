"""Request bodies: one JSON Schema per body (also published in the OpenAPI document),
and the strict reader every POST handler uses.

:func:`read_json` enforces, in order: ``Content-Type: application/json`` (415),
the size limit (413, checked on ``Content-Length`` and again while reading),
JSON syntax and UTF-8 (400), then the schema (422, every violation listed with
its JSON pointer). Unknown members are errors (``additionalProperties: false``).
"""

from __future__ import annotations

from typing import Any

import orjson
from jsonschema import Draft202012Validator
from starlette.requests import Request

from somagent.api.problems import Problem

UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
HASH_PATTERN = "^sha256-([0-9a-f]{64}|[A-Za-z0-9+/_-]{43}=?)$"
TOOL_PATTERN = "^[A-Za-z0-9_.:-]{1,64}$"

_UUID = {"type": "string", "pattern": UUID_PATTERN}
_CAPSULES = {
    "type": "array",
    "items": {"type": "string", "minLength": 1, "maxLength": 128},
    "maxItems": 100,
    "uniqueItems": True,
}

MINT_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["tenant", "budgets"],
    # Without an installed agent the session's persona and policy hashes are required.
    "anyOf": [{"required": ["agent"]}, {"required": ["persona_hash", "policy_hash"]}],
    "properties": {
        "tenant": _UUID,
        "agent": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,62}$"},
        "allow": _CAPSULES,
        "persona_hash": {"type": "string", "pattern": HASH_PATTERN},
        "policy_hash": {"type": "string", "pattern": HASH_PATTERN},
        "budgets": {
            "type": "object",
            "additionalProperties": False,
            "required": ["tokens", "tools_per_min"],
            "properties": {
                "tokens": {"type": "integer", "minimum": 0, "maximum": 10**12},
                "tools_per_min": {"type": "integer", "minimum": 0, "maximum": 100_000},
            },
        },
        "capsule_ids": _CAPSULES,
        "lane": {"enum": ["interactive", "batch"]},
    },
}

TURN_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["session_id", "inputs"],
    "properties": {
        "session_id": _UUID,
        "inputs": {
            "type": "object",
            "additionalProperties": False,
            "required": ["text"],
            "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 32_768}},
        },
        "allow": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "tools": {
                    "type": "array",
                    "items": {"type": "string", "pattern": TOOL_PATTERN},
                    "maxItems": 32,
                    "uniqueItems": True,
                },
                "memory": {"enum": ["none", "read", "readwrite"]},
            },
        },
        "capsule_ids": _CAPSULES,
    },
}

CANCEL_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"reason": {"type": "string", "maxLength": 512}},
}

RECALL_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["query"],
    "properties": {
        "query": {"type": "string", "minLength": 1, "maxLength": 8192},
        "top_k": {"type": "integer", "minimum": 1, "maximum": 50},
        "capsule_ids": _CAPSULES,
    },
}

REMEMBER_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": 8192},
        "capsule_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 128},
        "reason": {"type": "string", "maxLength": 512},
    },
}

_VALIDATORS = {
    id(schema): Draft202012Validator(schema)
    for schema in (MINT_REQUEST, TURN_REQUEST, CANCEL_REQUEST, RECALL_REQUEST, REMEMBER_REQUEST)
}


def _pointer(path: Any) -> str:
    return "/" + "/".join(str(p) for p in path) if path else ""


def validate(document: Any, schema: dict[str, Any]) -> dict[str, Any]:
    """``document`` if it matches ``schema``; else a 422 ``invalid-body`` listing every error."""
    validator = _VALIDATORS.get(id(schema)) or Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        listed = [{"pointer": _pointer(e.absolute_path), "message": e.message} for e in errors]
        raise Problem(
            "invalid-body",
            "; ".join(f"{e['pointer'] or '/'}: {e['message']}" for e in listed[:5]),
            errors=listed,
        )
    assert isinstance(document, dict)
    return document


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_body(request: Request, limit_bytes: int) -> bytes:
    """The raw body, at most ``limit_bytes`` (413 ``body-too-large`` beyond)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit_bytes:
        raise Problem(
            "body-too-large", f"body of {declared} bytes exceeds the limit of {limit_bytes} bytes"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            raise Problem("body-too-large", f"body exceeds the limit of {limit_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(
    request: Request, schema: dict[str, Any], limit_bytes: int, *, optional: bool = False
) -> dict[str, Any]:
    """The validated JSON object of the body (see the module docstring for the checks).

    With ``optional``, an empty body (and no content type) reads as ``{}``.
    """
    content_type = request.headers.get("content-type", "")
    raw = await read_body(request, limit_bytes) if _is_json(content_type) or optional else None
    if raw is None or (not _is_json(content_type) and raw):
        raise Problem(
            "unsupported-media-type",
            f"Content-Type {content_type or '(none)'!r} is not application/json",
        )
    if optional and not raw.strip():
        return validate({}, schema)
    return parse_json(raw, schema)


def parse_json(raw: bytes, schema: dict[str, Any]) -> dict[str, Any]:
    """The validated JSON object in ``raw`` (400 ``malformed-json``, 422 ``invalid-body``);
    what :func:`read_json` does once the body is read (the WebSocket edge uses it too)."""
    try:
        # orjson refuses invalid UTF-8, lone surrogates, nesting deeper than 1024 and
        # numbers that are not finite doubles: hostile input is a 400, never a 500.
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem("malformed-json", f"body is not valid UTF-8 JSON: {exc}") from exc
    try:
        return validate(document, schema)
    except RecursionError as exc:
        raise Problem("malformed-json", "body is nested too deeply") from exc
