"""``/v1/agents*`` and ``/v1/keys``: the marketplace routes and signing-key registration."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from somagent.api.bodies import read_json
from somagent.api.call import Call, endpoint
from somagent.api.problems import Problem
from somagent.artifacts import agents, registry, signing
from somagent.artifacts.access import admin, principal
from somagent.artifacts.catalog import catalog
from somagent.artifacts.documents import AGENT_TYPE, ID_PATTERN, SEMVER_PATTERN, manifest_of
from somagent.artifacts.exceptions import InvalidArtifact, InvalidKey
from somagent.artifacts.intake import invalid, read_signed

KEY_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["public_key"],
    "properties": {"public_key": {"type": ["string", "object"], "maxProperties": 8,
                                  "maxLength": 4096}},
}
INSTALL_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "version": {"type": "string", "pattern": SEMVER_PATTERN},
        "auto_update": {"type": "boolean"},
    },
}
REASON_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"reason": {"type": "string", "maxLength": 500}},
}
MAX_WINDOW_S = 90 * 24 * 3600


def _agent_id(request: Request) -> str:
    import re

    agent_id = str(request.path_params["agent_id"])
    if not re.match(ID_PATTERN, agent_id):
        raise Problem("not-found", f"agent {agent_id!r} not found")
    return agent_id


@endpoint("/v1/keys")
async def keys(request: Request, call: Call) -> Response:
    """POST: register a public Ed25519 key (JWK or PEM); GET: the tenant's keys."""
    who = await admin(request, call)
    if request.method == "GET":
        found = await registry.list_keys(call.ctx.pg, who.tenant)
        return JSONResponse({"keys": [k.as_dict() for k in found]})
    body = await read_json(request, KEY_REQUEST, call.ctx.edge.max_body_bytes)
    try:
        key = signing.load_public_key(body["public_key"])
    except InvalidKey as exc:
        raise Problem("invalid-body", str(exc)) from exc
    stored, created = await registry.register_key(call.ctx.pg, who.tenant, key)
    return JSONResponse(stored.as_dict(), status_code=201 if created else 200)


async def _publish(request: Request, call: Call, *, update: bool) -> Response:
    who = await admin(request, call)
    intake = await read_signed(request, call, who.tenant, AGENT_TYPE)
    try:
        manifest = manifest_of(intake.document)
    except InvalidArtifact as exc:
        raise invalid(exc) from exc
    if update and manifest.agent_id != _agent_id(request):
        raise Problem("invalid-artifact", f"manifest id {manifest.agent_id!r} is not the agent "
                      f"{_agent_id(request)!r} of the path")
    status, body = await agents.publish(call, who.tenant, intake, manifest, update=update)
    return JSONResponse(body, status_code=status)


@endpoint("/v1/agents/publish")
async def publish(request: Request, call: Call) -> Response:
    return await _publish(request, call, update=False)


@endpoint("/v1/agents/{agent_id}/update")
async def update(request: Request, call: Call) -> Response:
    return await _publish(request, call, update=True)


@endpoint("/v1/agents/{agent_id}/install")
async def install(request: Request, call: Call) -> Response:
    who = await admin(request, call)
    body = await read_json(request, INSTALL_REQUEST, call.ctx.edge.max_body_bytes, optional=True)
    result = await agents.install(call, who.tenant, _agent_id(request), body.get("version"),
                                  bool(body.get("auto_update", False)))
    return JSONResponse(result)


@endpoint("/v1/agents/{agent_id}/uninstall")
async def uninstall(request: Request, call: Call) -> Response:
    who = await admin(request, call)
    body = await read_json(request, REASON_REQUEST, call.ctx.edge.max_body_bytes, optional=True)
    return JSONResponse(await agents.uninstall(call, who.tenant, _agent_id(request),
                                               body.get("reason", "")))


@endpoint("/v1/agents/{agent_id}/revoke")
async def revoke(request: Request, call: Call) -> Response:
    who = await admin(request, call, operator=True)
    body = await read_json(request, REASON_REQUEST, call.ctx.edge.max_body_bytes, optional=True)
    result = await agents.revoke(call, None if who.kind == "operator" else who.tenant, who.label,
                                 _agent_id(request), body.get("reason", ""))
    return JSONResponse(result)


def _window_s(request: Request) -> int:
    raw = request.query_params.get("window_s", str(7 * 24 * 3600))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_WINDOW_S:
        raise Problem("invalid-query", f"window_s must be 1..{MAX_WINDOW_S} seconds")
    return int(raw)


@endpoint("/v1/agents")
async def list_agents(request: Request, call: Call) -> Response:
    """The catalog: ``?sort=rank|id`` (default id), ``?window_s=`` for the ranking."""
    who = await principal(request, call)
    sort = request.query_params.get("sort", "id")
    if sort not in ("rank", "id"):
        raise Problem("invalid-query", f"sort must be 'rank' or 'id', got {sort!r}")
    return JSONResponse(await catalog(call, who.tenant, sort=sort, window_s=_window_s(request)))


@endpoint("/v1/agents/{agent_id}")
async def agent_detail(request: Request, call: Call) -> Response:
    who = await principal(request, call)
    agent_id = _agent_id(request)
    found = await catalog(call, who.tenant, sort="id", window_s=_window_s(request))
    for entry in found["agents"]:
        if entry["id"] == agent_id:
            return JSONResponse(entry)
    raise Problem("not-found", f"agent {agent_id} not found")
