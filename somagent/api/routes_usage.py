"""``GET /v1/usage?from=…&to=…&group_by=minute|hour|day``: the tenant's usage and spend.

Read from Postgres ``usage_ledger`` through the projections' query
:func:`somagent.projections.usage.usage_for` (one row per closed minute window
and revision; corrections are additive rows, so plain sums are exact). ``from`` is
inclusive, ``to`` exclusive, both ISO 8601 with a zone (or ``Z``); buckets are
UTC. The range is limited to 31 days at minute granularity and 400 days otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from somagent.api.auth import session_token
from somagent.api.call import Call, endpoint
from somagent.api.problems import Problem
from somagent.projections.usage import BadUsageQuery, usage_for

GROUPS = ("minute", "hour", "day")
_MAX_SPAN = {"minute": timedelta(days=31), "hour": timedelta(days=400), "day": timedelta(days=400)}

def _instant(request: Request, name: str) -> datetime:
    raw = request.query_params.get(name)
    if not raw:
        raise Problem("invalid-query", f"query parameter {name!r} is required (ISO 8601)")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Problem("invalid-query", f"{name}={raw!r} is not an ISO 8601 instant") from exc
    if value.tzinfo is None:
        raise Problem("invalid-query", f"{name}={raw!r} needs a time zone (e.g. Z)")
    return value.astimezone(UTC)


@endpoint("/v1/usage")
async def usage(request: Request, call: Call) -> Response:
    claims = await session_token(request, call)
    unknown = set(request.query_params) - {"from", "to", "group_by"}
    if unknown:
        raise Problem("invalid-query", f"unknown query parameters {sorted(unknown)}")
    start, end = _instant(request, "from"), _instant(request, "to")
    group = request.query_params.get("group_by", "hour")
    if group not in GROUPS:
        raise Problem("invalid-query", f"group_by must be one of {GROUPS}, got {group!r}")
    if end <= start or end - start > _MAX_SPAN[group]:
        raise Problem("invalid-query", f"need from < to within {_MAX_SPAN[group].days} days "
                      f"for group_by={group}")
    try:
        rows = await usage_for(call.ctx.pg, claims.tenant, start, end, group)
    except BadUsageQuery as exc:
        raise Problem("invalid-query", str(exc)) from exc
    buckets = [
        {
            "start": r["bucket"].astimezone(UTC).isoformat().replace("+00:00", "Z"),
            **{k: int(r[k]) for k in ("tokens", "tool_calls", "storage_bytes", "egress_bytes",
                                      "cost_cents")},
        }
        for r in rows
    ]
    totals = {
        k: sum(int(b[k]) for b in buckets)  # type: ignore[call-overload]
        for k in ("tokens", "tool_calls", "storage_bytes", "egress_bytes", "cost_cents")
    }
    return JSONResponse(
        {
            "tenant": claims.tenant,
            "from": start.isoformat().replace("+00:00", "Z"),
            "to": end.isoformat().replace("+00:00", "Z"),
            "group_by": group,
            "buckets": buckets,
            "totals": totals,
        }
    )
