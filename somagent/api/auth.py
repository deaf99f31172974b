"""Credentials at the edge: API keys (for minting) and session tokens (for everything else)."""

from __future__ import annotations

import uuid

from starlette.requests import Request

from somagent.api.call import Call
from somagent.api.problems import Problem
from somagent.api.session_tokens import SessionClaims
from somagent.api.tenants import Tenant, tenant_for_key
from somagent.config import Settings

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="somagent"'}


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Problem(
            "unauthorized", "Authorization: Bearer <credentials> is required", headers=_CHALLENGE
        )
    return credentials.strip()


async def api_key_tenant(request: Request, call: Call) -> Tenant:
    """The tenant whose API key is the bearer credential (401 ``invalid-api-key`` if none)."""
    tenant = await tenant_for_key(call.ctx.pg, bearer(request))
    if tenant is None:
        raise Problem("invalid-api-key", "API key is unknown or disabled", headers=_CHALLENGE)
    call.tenant = tenant.tenant_id
    call.principal = tenant.key_id
    pin_region(call.ctx.settings, tenant.tenant_id, tenant.residency)
    return tenant


def pin_region(settings: Settings, tenant: str, residency: str | None) -> None:
    """421 ``misdirected-request`` when this edge serves another region than ``residency``.

    No pinning when the edge has no region (``SOMAGENT_REGION`` unset) or the
    credential states none (a token minted before regions were carried).
    """
    if settings.region is not None and residency and residency != settings.region:
        raise Problem("misdirected-request",
                      f"tenant {tenant} lives in region {residency!r}; this edge serves "
                      f"{settings.region!r}: send the request to the {residency} edge",
                      region=residency)


async def session_token(request: Request, call: Call) -> SessionClaims:
    """The verified claims of the bearer session token (401 on any defect)."""
    return verify_session_token(call, bearer(request))


def verify_session_token(call: Call, token: str) -> SessionClaims:
    """The verified claims of a session token however it came (401 on any defect)."""
    try:
        claims = call.ctx.tokens.verify(token)
    except Problem as problem:
        problem.headers.update(_CHALLENGE)
        raise
    call.tenant = claims.tenant
    call.session = claims.session
    call.principal = f"session:{claims.session}"
    pin_region(call.ctx.settings, claims.tenant, claims.region)
    return claims


def canonical_uuid(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise Problem("not-found" if what == "path" else "invalid-body",
                      f"{value!r} is not a UUID") from exc


async def owned_session(call: Call, claims: SessionClaims, session: str) -> dict[str, str]:
    """The session's budget snapshot, after checking it belongs to the token.

    404 ``session-not-found`` (unknown or expired), 403 ``forbidden`` (another
    tenant's session), 403 ``session-mismatch`` (this tenant's, another token).
    """
    snapshot = await call.ctx.budget.snapshot(session)
    if not snapshot:
        raise Problem("session-not-found", f"session {session} is unknown or expired")
    if snapshot.get("tenant") != claims.tenant:
        raise Problem("forbidden", f"session {session} belongs to another tenant")
    if session != claims.session:
        raise Problem(
            "session-mismatch", f"token is for session {claims.session}, not {session}"
        )
    return snapshot
