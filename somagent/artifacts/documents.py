"""The two artifact formats: memory capsules and agent manifests (pure).

Both are JSON objects (written as JSON or YAML), signed as a DSSE payload and
identified by ``(id, version)``. The JSON Schemas below are the formats' single
definition (docs/marketplace.md shows them); :func:`capsule_of` and
:func:`manifest_of` validate a parsed document and return typed views.

Semantic checks beyond the schema: block ids are unique in a capsule; a
manifest's ``persona_hash`` is the sha256 of its ``persona`` text and its
``policy_hash`` the sha256 of the RFC 8785 form of its ``policy`` (when given);
job templates form acyclic graphs over their own step names; the SBOM is valid
CycloneDX (:mod:`somagent.artifacts.sbom`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from somagent.artifacts import canonical
from somagent.artifacts.exceptions import InvalidArtifact
from somagent.artifacts.sbom import validate_sbom

ID_PATTERN = "^[a-z0-9][a-z0-9._-]{0,62}$"
SEMVER_PATTERN = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$"
HASH_PATTERN = "^sha256-[0-9a-f]{64}$"
TOOL_PATTERN = "^[A-Za-z0-9_.:-]{1,64}$"
CAPSULE_TYPE = "application/vnd.somagent.capsule"
AGENT_TYPE = "application/vnd.somagent.agent"
MAX_BLOCKS = 1000
MAX_BLOCK_CHARS = 8192

_ID = {"type": "string", "pattern": ID_PATTERN}
_VERSION = {"type": "string", "pattern": SEMVER_PATTERN}
_TAGS = {"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": 32}

CAPSULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "id", "version", "name", "memory_blocks"],
    "properties": {
        "kind": {"const": "capsule"},
        "id": _ID,
        "version": _VERSION,
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": "string", "maxLength": 4000},
        "license": {"type": "string", "maxLength": 100},
        "tags": _TAGS,
        "embedding_model": {"type": "string", "maxLength": 200},
        "memory_blocks": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_BLOCKS,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "text"],
                "properties": {
                    "id": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
                    "text": {"type": "string", "minLength": 1, "maxLength": MAX_BLOCK_CHARS},
                    "tags": _TAGS,
                    "source": {"type": "string", "maxLength": 500},
                    "embedding": {
                        "type": "array", "items": {"type": "number"}, "maxItems": 4096,
                    },
                },
            },
        },
    },
}

_STEP = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "kind"],
    "properties": {
        "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
        "kind": {"enum": ["turn", "tool", "approval"]},
        "input": {"type": "string", "maxLength": 8192},
        "tool": {"type": "string", "pattern": TOOL_PATTERN},
        "depends_on": {"type": "array", "items": {"type": "string"}, "maxItems": 64},
    },
}

AGENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "id", "version", "name", "persona", "persona_hash", "policy_hash",
                 "planner", "tools", "sbom"],
    "properties": {
        "kind": {"const": "agent"},
        "id": _ID,
        "version": _VERSION,
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": "string", "maxLength": 4000},
        "persona": {"type": "string", "minLength": 1, "maxLength": 32768},
        "persona_hash": {"type": "string", "pattern": HASH_PATTERN},
        "policy": {"type": "object"},
        "policy_hash": {"type": "string", "pattern": HASH_PATTERN},
        "planner": {
            "type": "object",
            "additionalProperties": False,
            "required": ["kind"],
            "properties": {
                "kind": {"enum": ["deterministic", "openai-compatible"]},
                "model": {"type": "string", "maxLength": 200},
                "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                "max_steps": {"type": "integer", "minimum": 1, "maximum": 64},
                "sla_ms": {"type": "integer", "minimum": 1, "maximum": 3_600_000},
            },
        },
        "tools": {
            "type": "array", "items": {"type": "string", "pattern": TOOL_PATTERN},
            "maxItems": 32, "uniqueItems": True,
        },
        "capsules": {
            "type": "array",
            "maxItems": 32,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "version"],
                "properties": {"id": _ID, "version": _VERSION},
            },
        },
        "jobs": {
            "type": "array",
            "maxItems": 16,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "steps"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
                    "steps": {"type": "array", "minItems": 1, "maxItems": 64, "items": _STEP},
                },
            },
        },
        "sbom": {"type": "object"},
    },
}

_VALIDATORS = {"capsule": Draft202012Validator(CAPSULE_SCHEMA),
               "agent": Draft202012Validator(AGENT_SCHEMA)}


def _pointer(path: Any) -> str:
    return "/" + "/".join(str(p) for p in path) if path else ""


def validate(kind: str, document: dict[str, Any]) -> None:
    """Raise :class:`InvalidArtifact` listing every schema violation of ``document``."""
    errors = sorted(_VALIDATORS[kind].iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        listed = [{"pointer": _pointer(e.absolute_path), "message": e.message} for e in errors]
        summary = "; ".join(f"{e['pointer'] or '/'}: {e['message']}" for e in listed[:5])
        raise InvalidArtifact(f"{kind} document is invalid: {summary}", listed)


def sha256_tag(data: bytes) -> str:
    """``sha256-<hex>``, the form of persona and policy hashes."""
    return "sha256-" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Capsule:
    """A validated capsule document."""

    capsule_id: str
    version: str
    name: str
    blocks: tuple[dict[str, Any], ...]
    document: dict[str, Any]


def capsule_of(document: dict[str, Any]) -> Capsule:
    """The capsule in ``document`` (:class:`InvalidArtifact` when it is not one)."""
    validate("capsule", document)
    blocks = tuple(document["memory_blocks"])
    seen: set[str] = set()
    for index, block in enumerate(blocks):
        if block["id"] in seen:
            raise InvalidArtifact(
                f"memory block id {block['id']!r} repeats at /memory_blocks/{index}"
            )
        seen.add(block["id"])
    return Capsule(document["id"], document["version"], document["name"], blocks, document)


@dataclass(frozen=True, slots=True)
class AgentManifest:
    """A validated agent manifest."""

    agent_id: str
    version: str
    name: str
    persona_hash: str
    policy_hash: str
    tools: tuple[str, ...]
    capsules: tuple[tuple[str, str], ...]
    sla_ms: int
    sbom_components: int
    document: dict[str, Any]

    @property
    def capsule_refs(self) -> list[str]:
        return [f"{c}@{v}" for c, v in self.capsules]


DEFAULT_SLA_MS = 10_000


def _check_jobs(jobs: list[dict[str, Any]]) -> None:
    for job in jobs:
        names = [s["name"] for s in job["steps"]]
        if len(set(names)) != len(names):
            raise InvalidArtifact(f"job {job['name']!r} repeats a step name")
        edges = {s["name"]: list(s.get("depends_on") or []) for s in job["steps"]}
        for step, deps in edges.items():
            unknown = sorted(set(deps) - set(edges))
            if unknown:
                raise InvalidArtifact(f"job {job['name']!r} step {step!r} depends on unknown "
                                      f"steps {unknown}")
        _acyclic(job["name"], edges)


def _acyclic(job: str, edges: dict[str, list[str]]) -> None:
    """Kahn's algorithm: every step must come out of a topological order."""
    indegree = {n: len(d) for n, d in edges.items()}
    ready = [n for n, d in indegree.items() if d == 0]
    done = 0
    while ready:
        node = ready.pop()
        done += 1
        for other, deps in edges.items():
            if node in deps:
                indegree[other] -= 1
                if indegree[other] == 0:
                    ready.append(other)
    if done != len(edges):
        raise InvalidArtifact(f"job {job!r} has a dependency cycle")


def manifest_of(document: dict[str, Any]) -> AgentManifest:
    """The agent manifest in ``document`` (:class:`InvalidArtifact` when it is not one)."""
    validate("agent", document)
    persona = sha256_tag(document["persona"].encode("utf-8"))
    if persona != document["persona_hash"]:
        raise InvalidArtifact(f"persona_hash {document['persona_hash']} is not the sha256 of "
                              f"persona ({persona})")
    if "policy" in document:
        policy = sha256_tag(canonical.canonical_bytes(document["policy"]))
        if policy != document["policy_hash"]:
            raise InvalidArtifact(f"policy_hash {document['policy_hash']} is not the sha256 of "
                                  f"the RFC 8785 form of policy ({policy})")
    _check_jobs(list(document.get("jobs") or []))
    components = validate_sbom(document["sbom"])
    capsules = tuple((c["id"], c["version"]) for c in document.get("capsules") or [])
    if len(set(c for c, _ in capsules)) != len(capsules):
        raise InvalidArtifact("a capsule id appears twice in capsules")
    return AgentManifest(
        agent_id=document["id"],
        version=document["version"],
        name=document["name"],
        persona_hash=document["persona_hash"],
        policy_hash=document["policy_hash"],
        tools=tuple(document["tools"]),
        capsules=capsules,
        sla_ms=int(document["planner"].get("sla_ms", DEFAULT_SLA_MS)),
        sbom_components=components,
        document=document,
    )
