"""The policy document, its hash, and what OPA is given for it (pure).

A policy document is JSON::

    {"kind": "policy", "name": "support-bot", "version": "3",
     "data": {"tools": {"allowed": ["calc", "http_fetch"], "max_argument_chars": 4096},
              "egress": {"hosts": ["127.0.0.1", "*.example.org"]},
              "memory": {"mode": "read-write", "capsules": ["*"]},
              "retention_days": 30,
              "budgets": {"max_tokens": 200000, "max_tools_per_min": 60},
              "lane": "interactive"},
     "rego": "deny contains \\"no-python-at-night\\" if { ... }"}

``policy_hash`` is ``sha256-`` + the hex sha256 of the document's RFC 8785
(JSON Canonicalization Scheme) form, so key order and whitespace do not matter
and any change, Rego included, is a new policy. ``rego`` (optional) holds extra
rules; the platform places them in the package ``somagent.custom.p_<hex>`` (derived
from the hash, so the text cannot name another policy's package), and every string
in their ``deny`` set is a rule name the gate refuses with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

import jsonschema
import rfc8785

from somagent.policy.exceptions import InvalidPolicy

HASH_RE: Final = "^sha256-[0-9a-f]{64}$"
MEMORY_MODES: Final = ("off", "read", "read-write")
LANES: Final = ("interactive", "batch")
MAX_REGO_CHARS: Final = 64 * 1024

_NAMES = {"type": "array", "maxItems": 256, "uniqueItems": True,
          "items": {"type": "string", "minLength": 1, "maxLength": 253}}
_COUNT = {"type": "integer", "minimum": 0}

SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "name", "version", "data"],
    "properties": {
        "kind": {"const": "policy"},
        "name": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,100}$"},
        "version": {"type": "string", "pattern": "^[A-Za-z0-9._+-]{1,50}$"},
        "description": {"type": "string", "maxLength": 2000},
        "rego": {"type": "string", "minLength": 1, "maxLength": MAX_REGO_CHARS},
        "data": {
            "type": "object",
            "additionalProperties": False,
            "required": ["tools", "egress", "memory", "retention_days", "budgets", "lane"],
            "properties": {
                "tools": {
                    "type": "object", "additionalProperties": False, "required": ["allowed"],
                    "properties": {"allowed": _NAMES, "max_argument_chars": _COUNT},
                },
                "egress": {
                    "type": "object", "additionalProperties": False, "required": ["hosts"],
                    "properties": {"hosts": _NAMES},
                },
                "memory": {
                    "type": "object", "additionalProperties": False, "required": ["mode"],
                    "properties": {"mode": {"enum": list(MEMORY_MODES)}, "capsules": _NAMES},
                },
                "retention_days": {"type": "integer", "minimum": 1, "maximum": 36500},
                "budgets": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"max_tokens": _COUNT, "max_tools_per_min": _COUNT},
                },
                "lane": {"enum": list(LANES)},
            },
        },
    },
}

_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def validate(document: Any) -> dict[str, Any]:
    """``document`` if it is a policy document; else :class:`InvalidPolicy` listing
    every violation with its JSON pointer."""
    problems = sorted(_VALIDATOR.iter_errors(document), key=lambda e: list(e.absolute_path))
    if problems:
        errors = [{"pointer": "/" + "/".join(str(p) for p in e.absolute_path),
                   "message": e.message[:300]} for e in problems[:20]]
        raise InvalidPolicy("not a policy document: " + "; ".join(
            f"{e['pointer']}: {e['message']}" for e in errors[:5]), errors)
    return dict(document)


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """RFC 8785 canonical JSON of ``document``."""
    try:
        return bytes(rfc8785.dumps(dict(document)))
    except (rfc8785.CanonicalizationError, ValueError, TypeError) as exc:
        raise InvalidPolicy(f"policy cannot be canonicalised (RFC 8785): {exc}") from exc


def policy_hash(document: Mapping[str, Any]) -> str:
    """``sha256-<hex>`` of the RFC 8785 form."""
    return "sha256-" + hashlib.sha256(canonical_bytes(document)).hexdigest()


def module_id(hash_: str) -> str:
    """The Rego package leaf (and OPA policy id) of a policy's custom rules: ``p_<hex>``."""
    return "p_" + hash_.removeprefix("sha256-")


def custom_module(hash_: str, rego: str) -> str:
    """The Rego module OPA is given for a policy's ``rego`` rules."""
    return f"package somagent.custom.{module_id(hash_)}\n\nimport rego.v1\n\n{rego}\n"


def from_json(raw: str) -> dict[str, Any]:
    """A stored document (its canonical JSON) back as a dict."""
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise InvalidPolicy("stored policy is not a JSON object")
    return value
