"""``/v1/memory/capsule/*``: upload, read and revoke memory capsules (see :mod:`capsules`)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from somagent.api.call import Call, endpoint
from somagent.api.problems import Problem
from somagent.artifacts import canonical, capsules, registry
from somagent.artifacts.access import Principal, admin, principal
from somagent.artifacts.documents import CAPSULE_TYPE, Capsule, capsule_of
from somagent.artifacts.exceptions import ArtifactError, InvalidArtifact
from somagent.artifacts.intake import Intake, invalid, read_signed
from somagent.artifacts.services import services
from somagent.artifacts.signing import parse_envelope


def _capsule(intake: Intake) -> Capsule:
    try:
        return capsule_of(intake.document)
    except InvalidArtifact as exc:
        raise invalid(exc) from exc


async def _store_version(call: Call, tenant: str, intake: Intake, capsule: Capsule
                         ) -> tuple[int, dict[str, Any]]:
    """Under the capsule's lock: checks, blob, blocks, event. Returns (status, body)."""
    ctx = call.ctx
    async with registry.locked(ctx.pg, "capsule", capsule.capsule_id) as conn:
        row = await registry.artifact(conn, "capsule", capsule.capsule_id)
        capsules.check_owner(row, tenant, f"capsule id {capsule.capsule_id}")
        if row is not None and row["status"] == "revoked":
            raise Problem("artifact-revoked", f"capsule {capsule.capsule_id} was revoked")
        existing = await registry.version(conn, "capsule", capsule.capsule_id, capsule.version)
        if existing is not None and existing["sha256"] != intake.sha256:
            raise Problem("version-exists", f"capsule {capsule.capsule_id} version "
                          f"{capsule.version} exists with digest {existing['sha256']}")
        try:
            blob_key = await services(ctx).blobs.put(intake.raw)
        except ArtifactError as exc:
            raise capsules.unavailable("artifact store", exc) from exc
        outcomes = await capsules.materialise(call, tenant, capsule)
        if existing is None:
            seq = int(row["last_seq"]) + 1 if row else 1
            event = capsules.uploaded_event(call, tenant, capsule, intake, blob_key, seq)
            await capsules.append_and_apply(call, conn, [event])
    return (200 if existing else 201), {
        "capsule_id": capsule.capsule_id, "version": capsule.version, "sha256": intake.sha256,
        "blob_key": blob_key, "key_id": intake.key_id, "memory_blocks": len(capsule.blocks),
        "blocks": outcomes, "created": existing is None,
    }


@endpoint("/v1/memory/capsule/upload")
async def upload_capsule(request: Request, call: Call) -> Response:
    who = await admin(request, call)
    intake = await read_signed(request, call, who.tenant, CAPSULE_TYPE)
    status, body = await _store_version(call, who.tenant, intake, _capsule(intake))
    return JSONResponse(body, status_code=status)


def _can_read(who: Principal, row: dict[str, Any]) -> bool:
    if who.kind == "operator":
        return True
    if who.kind == "key":
        return str(row["tenant_id"]) == who.tenant
    assert who.claims is not None
    return row["artifact_id"] in who.claims.capsules


async def _embeddings(call: Call, who: Principal, capsule_id: str, latest: dict[str, Any]
                      ) -> dict[str, Any]:
    if who.claims is None or capsule_id not in who.claims.allow:
        raise Problem("forbidden", f"embeddings of capsule {capsule_id} need a session token "
                      "whose allow claim names the capsule")
    try:
        raw = await services(call.ctx).blobs.get(latest["blob_key"])
    except ArtifactError as exc:
        raise capsules.unavailable("artifact store", exc) from exc
    envelope = parse_envelope(json.loads(raw))
    document = canonical.parse(envelope.payload, canonical.media_kind(envelope.payload_type))
    return {
        "version": latest["version"],
        "embedding_model": document.get("embedding_model"),
        "blocks": [{"id": b["id"], "embedding": b["embedding"]}
                   for b in document["memory_blocks"] if "embedding" in b],
    }


@endpoint("/v1/memory/capsule/{capsule_id}")
async def capsule_detail(request: Request, call: Call) -> Response:
    """GET: metadata and versions; DELETE: revoke (admin role)."""
    capsule_id = request.path_params["capsule_id"]
    if request.method == "DELETE":
        who = await admin(request, call, operator=True)
        reason = request.query_params.get("reason", "revoked by owner")[:500]
        result = await capsules.revoke(
            call, capsule_id, None if who.kind == "operator" else who.tenant, reason)
        return JSONResponse(result)
    who = await principal(request, call)
    row = await registry.artifact(call.ctx.pg, "capsule", capsule_id)
    if row is None or not _can_read(who, row):
        raise Problem("not-found", f"capsule {capsule_id} not found")
    versions = await registry.versions(call.ctx.pg, "capsule", capsule_id)
    body = {**registry.artifact_json(row), "versions": [registry.version_json(v) for v in versions]}
    include = {p.strip() for p in request.query_params.get("include", "").split(",") if p.strip()}
    if include - {"embeddings"}:
        raise Problem("invalid-query", f"include may only name 'embeddings', got {sorted(include)}")
    if "embeddings" in include:
        latest = next(v for v in versions if v["version"] == row["latest_version"])
        body["embeddings"] = await _embeddings(call, who, capsule_id, latest)
    return JSONResponse(body)
