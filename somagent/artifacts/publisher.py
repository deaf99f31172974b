"""What a publisher runs before uploading: build, sign and wrap documents (no I/O).

:func:`signed` serialises a document as JSON or YAML and wraps it in a DSSE
envelope signed with the publisher's Ed25519 key; :func:`agent_manifest` builds
an agent manifest with the persona hash, the policy hash (RFC 8785) and a
CycloneDX SBOM of the tools' Python dependencies. ``somagent demo`` and the
tests publish through these; any DSSE implementation produces the same format.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from somagent.artifacts import canonical, signing
from somagent.artifacts.documents import AGENT_TYPE, CAPSULE_TYPE, sha256_tag
from somagent.artifacts.sbom import sbom_for, sbom_of_installed


def signed(document: Mapping[str, Any], key: Ed25519PrivateKey, *, fmt: str = "json"
           ) -> dict[str, Any]:
    """A DSSE envelope of ``document`` (``fmt``: json or yaml) signed with ``key``."""
    base = CAPSULE_TYPE if document.get("kind") == "capsule" else AGENT_TYPE
    if fmt == "yaml":
        payload = yaml.safe_dump(dict(document), sort_keys=False).encode()
    else:
        payload = json.dumps(document, indent=2).encode()
    return signing.sign(payload, f"{base}+{fmt}", key)


def public_jwk(key: Ed25519PrivateKey) -> dict[str, str]:
    """The public half of ``key`` as an OKP JWK (what ``POST /v1/keys`` takes)."""
    import base64

    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519",
            "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}


def agent_manifest(
    agent_id: str,
    version: str,
    *,
    name: str,
    persona: str,
    policy: Mapping[str, Any],
    tools: Iterable[str],
    capsules: Iterable[tuple[str, str]] = (),
    planner: Mapping[str, Any] | None = None,
    dependencies: Iterable[str] | Iterable[tuple[str, str]] = (),
    jobs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A complete manifest; ``dependencies`` are installed distribution names (their
    versions are read here) or ``(name, version)`` pairs."""
    deps = list(dependencies)
    sbom = (sbom_for(deps) if deps and isinstance(deps[0], tuple)  # type: ignore[arg-type]
            else sbom_of_installed(deps))  # type: ignore[arg-type]
    document: dict[str, Any] = {
        "kind": "agent", "id": agent_id, "version": version, "name": name,
        "persona": persona, "persona_hash": sha256_tag(persona.encode()),
        "policy": dict(policy),
        "policy_hash": sha256_tag(canonical.canonical_bytes(dict(policy))),
        "planner": dict(planner or {"kind": "deterministic"}),
        "tools": list(tools),
        "capsules": [{"id": c, "version": v} for c, v in capsules],
        "sbom": sbom,
    }
    if jobs:
        document["jobs"] = jobs
    return document
