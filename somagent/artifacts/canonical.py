"""Canonical form and digest of an artifact document (pure).

A document arrives as JSON or YAML bytes. It is parsed, restricted to the JSON
data model (objects with string keys, arrays, strings, booleans, null, integers
and finite floats; YAML timestamps, binary, sets and anchors to non-JSON values
are refused), and serialised with RFC 8785 (JSON Canonicalization Scheme) by the
``rfc8785`` library. The digest is the sha256 of those canonical bytes, so the
same document in JSON or YAML, with any key order or whitespace, has one digest.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import rfc8785
import yaml

from somagent.artifacts.exceptions import InvalidArtifact

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
MAX_DEPTH = 32


def media_kind(payload_type: str) -> str:
    """``json`` or ``yaml`` for a DSSE payload type or content type (``+json``/``+yaml``)."""
    media = payload_type.split(";", 1)[0].strip().lower()
    if media in JSON_TYPES or media.endswith("+json"):
        return "json"
    if media in YAML_TYPES or media.endswith("+yaml"):
        return "yaml"
    raise InvalidArtifact(f"payload type {payload_type!r} is neither JSON nor YAML")


def _check(value: Any, where: str, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise InvalidArtifact(f"document nests deeper than {MAX_DEPTH} levels at {where or '/'}")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidArtifact(f"key {key!r} at {where or '/'} is not a string")
            _check(item, f"{where}/{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, f"{where}/{index}", depth + 1)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArtifact(f"{where or '/'} is not a finite number")
    elif not (value is None or isinstance(value, (str, bool, int))):
        raise InvalidArtifact(
            f"{where or '/'} holds a {type(value).__name__}, which JSON cannot represent"
        )


def parse(raw: bytes, kind: str) -> dict[str, Any]:
    """The document object in ``raw`` (``kind``: ``json`` or ``yaml``).

    Raises:
        InvalidArtifact: not UTF-8, not parseable, not an object, or outside JSON's data model.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArtifact(f"document is not UTF-8: {exc}") from exc
    try:
        document = json.loads(text) if kind == "json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InvalidArtifact(f"document is not valid {kind.upper()}: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidArtifact(f"document must be an object, got {type(document).__name__}")
    _check(document, "")
    return document


def canonical_bytes(document: dict[str, Any]) -> bytes:
    """RFC 8785 canonical JSON of ``document``."""
    try:
        return bytes(rfc8785.dumps(document))
    except (rfc8785.CanonicalizationError, ValueError, TypeError) as exc:
        raise InvalidArtifact(f"document cannot be canonicalised (RFC 8785): {exc}") from exc


def digest(document: dict[str, Any]) -> str:
    """sha256 hex of the canonical form."""
    return hashlib.sha256(canonical_bytes(document)).hexdigest()
