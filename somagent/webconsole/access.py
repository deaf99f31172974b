"""Who the request is: the console cookie, or a bearer operator token / tenant API key.

Order: the ``somagent_console`` cookie when present (a bad one is 401
``invalid-credential``, never silently ignored), else ``Authorization: Bearer``
with the operator credential or a tenant API key, else 401 ``unauthorized``.
A tenant viewer is re-checked against ``tenants`` on every request (enabled, and
the same API key the cookie was issued for). Session tokens are not console
credentials: they belong to one session, not to an admin.
"""

from __future__ import annotations

import time
import uuid

from starlette.requests import Request

from somagent.api.auth import bearer
from somagent.api.call import Call
from somagent.api.problems import Problem
from somagent.api.tenants import hash_api_key, key_id, tenant_for_key
from somagent.credentials import matches, operator_token
from somagent.webconsole.exceptions import BadConsoleCookie
from somagent.webconsole.viewer import COOKIE, Viewer, cookie_key, verify

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="somagent-console"'}


def console_key(call: Call) -> bytes:
    return cookie_key(operator_token(call.ctx.settings.home_dir))


async def viewer_for_credential(call: Call, credential: str) -> Viewer:
    """The viewer a login credential names (401 ``invalid-credential`` if none)."""
    if matches(credential, operator_token(call.ctx.settings.home_dir)):
        return Viewer("operator")
    tenant = await tenant_for_key(call.ctx.pg, credential)
    if tenant is None:
        raise Problem("invalid-credential",
                      "not the operator credential nor an enabled tenant's API key",
                      headers=_CHALLENGE)
    return Viewer("tenant", tenant.tenant_id, tenant.name, hash_api_key(credential))


async def _still_valid(call: Call, viewer: Viewer) -> Viewer:
    if viewer.is_operator:
        return viewer
    name = await call.ctx.pg.fetchval(
        "SELECT name FROM tenants WHERE tenant_id = $1 AND api_key_hash = $2 "
        "AND disabled_at IS NULL", uuid.UUID(str(viewer.tenant)), viewer.key_hash)
    if name is None:
        raise Problem("invalid-credential",
                      f"tenant {viewer.tenant} is disabled or its API key changed; log in again",
                      headers=_CHALLENGE)
    return Viewer("tenant", viewer.tenant, str(name), viewer.key_hash)


def _note(call: Call, viewer: Viewer) -> Viewer:
    if viewer.is_operator:
        call.principal = "operator"
    else:
        call.tenant = viewer.tenant
        call.principal = "console:" + key_id(viewer.key_hash)
    return viewer


async def viewer_of(request: Request, call: Call) -> Viewer:
    """The request's viewer (see the module doc); 401 problems otherwise."""
    cookie = request.cookies.get(COOKIE)
    if cookie:
        try:
            viewer = verify(cookie, console_key(call), int(time.time()))
        except BadConsoleCookie as exc:
            raise Problem("invalid-credential", str(exc), headers=_CHALLENGE) from exc
        return _note(call, await _still_valid(call, viewer))
    if not request.headers.get("authorization"):
        raise Problem("unauthorized", "log in at /console, or send Authorization: Bearer "
                      "<operator token or tenant API key>", headers=_CHALLENGE)
    return _note(call, await viewer_for_credential(call, bearer(request)))


async def recheck(call: Call, viewer: Viewer) -> bool:
    """Whether ``viewer`` may still look (a live stream asks before every snapshot)."""
    try:
        await _still_valid(call, viewer)
    except Problem:
        return False
    return True
