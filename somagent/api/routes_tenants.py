"""``DELETE /v1/tenants/{tenant_id}/data``: erase a tenant's data by crypto-shredding.

Operator credential only (an API key or a session token is 403). In order:

1. the tenant must exist (404 ``not-found`` otherwise, nothing changed);
2. every live data key of the tenant is destroyed in Postgres
   (:meth:`somagent.erasure.keys.TenantKeys.destroy`): whatever was sealed with it
   is unreadable for good, the log itself is left intact;
3. ``TenantDataErased`` is appended to ``memory.events`` (key: tenant), waiting for
   the broker's acknowledgement; the Memory Gateway applies it by deleting every
   vector of the tenant, so recall returns nothing for it (a rebuild from the log
   replays the same deletion at the same position).

202 Accepted: the deletion of vectors follows the event asynchronously. Repeating
the call is safe (the keys stay destroyed; the event is appended again and deletes
nothing new). What is and is not erased: docs/plans.md ("Retention and erasure").
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from somagent.api.auth import canonical_uuid
from somagent.api.call import PRODUCER, Call, endpoint
from somagent.api.problems import Problem
from somagent.artifacts.access import principal
from somagent.contract import names
from somagent.contract.ids import stable_id
from somagent.erasure.keys import TenantKeys
from somagent.erasure.master import master_key
from somagent.events.envelope import make_event, now_us


@endpoint("/v1/tenants/{tenant_id}/data")
async def erase_tenant_data(request: Request, call: Call) -> Response:
    who = await principal(request, call)
    if who.kind != "operator":
        raise Problem("forbidden", "erasing a tenant's data needs the operator credential")
    tenant = canonical_uuid(request.path_params["tenant_id"], "path")
    ctx = call.ctx
    if await ctx.pg.fetchval("SELECT 1 FROM tenants WHERE tenant_id = $1",
                             uuid.UUID(tenant)) is None:
        raise Problem("not-found", f"tenant {tenant} does not exist")
    call.tenant = tenant
    destroyed = await TenantKeys(ctx.pg, master_key(ctx.settings.home_dir)).destroy(tenant)
    at_us = now_us()
    await ctx.appender.append(make_event(
        names.TENANT_DATA_ERASED,
        {"key_id": ",".join(destroyed.key_ids), "requested_by": who.label, "reason": ""},
        tenant=tenant, producer=PRODUCER, trace_id=call.trace_id,
        event_id=stable_id("tenant-data-erased", tenant, at_us), ts_us=at_us,
    ))
    return JSONResponse({
        "tenant": tenant,
        "key_ids": list(destroyed.key_ids),
        "keys_destroyed_now": destroyed.first,
        "destroyed_at": destroyed.destroyed_at.isoformat() if destroyed.destroyed_at else None,
        "memory": "forgetting",
    }, status_code=202)
