"""Who is calling an artifact route: a tenant's API key, a session token, or the operator.

* **API key** (``sk_…``): the tenant's admin credential. Uploads, publishes,
  installs, registers keys and revokes (its own artifacts).
* **Session token** (EdDSA JWT): reads — capsule metadata for capsules in its
  ``capsules`` claim, embeddings for capsules in its ``allow`` claim, the catalog.
* **Operator** (``keys/operator.token``): revokes any agent or capsule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request

from somagent.api.auth import api_key_tenant, bearer, session_token
from somagent.api.call import NIL_TENANT, Call
from somagent.api.problems import Problem
from somagent.api.session_tokens import SessionClaims
from somagent.api.tenants import KEY_PREFIX
from somagent.credentials import matches, operator_token


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["key", "session", "operator"]
    tenant: str  # NIL_TENANT for the operator
    label: str
    claims: SessionClaims | None = None


async def principal(request: Request, call: Call) -> Principal:
    """The caller, authenticated (401 on any bad credential)."""
    credential = bearer(request)
    if credential.startswith(KEY_PREFIX):
        tenant = await api_key_tenant(request, call)
        return Principal("key", tenant.tenant_id, tenant.key_id)
    if matches(credential, operator_token(call.ctx.settings.home_dir)):
        call.tenant, call.principal = NIL_TENANT, "operator"
        return Principal("operator", NIL_TENANT, "operator")
    claims = await session_token(request, call)
    return Principal("session", claims.tenant, f"session:{claims.session}", claims)


async def admin(request: Request, call: Call, *, operator: bool = False) -> Principal:
    """An API key (or, with ``operator``, the operator); a session token is 403."""
    who = await principal(request, call)
    if who.kind == "session" or (who.kind == "operator" and not operator):
        allowed = "the tenant's API key" + (" or the operator credential" if operator else "")
        raise Problem("forbidden", f"this action needs the admin role: {allowed}")
    return who
