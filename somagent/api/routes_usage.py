"""``GET /v1/usage?from=…&to=…&group_by=minute|hour|day``: the tenant's usage and spend.

Read from Postgres ``usage_ledger`` through the projections' query
:func:`somagent.projections.usage.usage_for` (one row per closed minute window
and revision; corrections are additive rows, so plain sums are exact). ``from`` is
inclusive, ``to`` exclusive, both ISO 8601 with a zone (or ``Z``); buckets are
UTC. Neither given: the current UTC day; only one: 400. The range is limited to 31
days at minute granularity and 400 days otherwise; a range too wide for its grouping
is a 400 whose ``suggested_group_by`` names the finest grouping that fits (absent
when none does).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from somagent.api.auth import session_token
from somagent.api.call import Call, endpoint
from somagent.api.problems import Problem
from somagent.projections.usage import BadUsageQuery, usage_for

GROUPS = ("minute", "hour", "day")
_MAX_SPAN = {"minute": timedelta(days=31), "hour": timedelta(days=400), "day": timedelta(days=400)}

def current_day(now: datetime) -> tuple[datetime, datetime]:
    """``[00:00, next 00:00)`` UTC of the day ``now`` (aware) falls in."""
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def suggested_group(span: timedelta) -> str | None:
    """The finest grouping whose limit ``span`` fits, or None when none does."""
    return next((g for g in GROUPS if span <= _MAX_SPAN[g]), None)


def _range(request: Request) -> tuple[datetime, datetime]:
    params = request.query_params
    if "from" not in params and "to" not in params:
        return current_day(datetime.now(UTC))
    return _instant(request, "from"), _instant(request, "to")


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
    start, end = _range(request)
    group = request.query_params.get("group_by", "hour")
    if group not in GROUPS:
        raise Problem("invalid-query", f"group_by must be one of {GROUPS}, got {group!r}")
    if end <= start:
        raise Problem("invalid-query", "need from < to")
    if end - start > _MAX_SPAN[group]:
        better = suggested_group(end - start)
        hint = (f"; use group_by={better}" if better else
                f"; no grouping covers more than {_MAX_SPAN['day'].days} days: narrow the range")
        extra: dict[str, Any] = {"suggested_group_by": better} if better else {}
        raise Problem("invalid-query", f"group_by={group} allows at most "
                      f"{_MAX_SPAN[group].days} days{hint}", **extra)
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
