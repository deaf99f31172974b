"""The console's Postgres panels: spend from the usage ledger, budget burn, jobs in flight.

``tenant`` None reads every tenant (the operator); otherwise every statement has
``tenant_id = $1`` (a tenant admin), so another tenant's rows are never read.

* **Spend**: ``usage_ledger`` rows (closed one-minute windows; corrections are
  additive rows, so sums are exact) by tenant and UTC hour over the last
  ``hours`` hours and by tenant and UTC day over the last ``days`` days, in cents.
* **Budget burn**: for each tenant's live sessions (``expires_at`` after now),
  the tokens their ledger rows hold against the sum of their token budgets, and
  how many sessions are at or over budget. The ledger trails the turns by the
  billing window (a minute), as the budget reconciliation does.
* **Jobs**: counts by status, the running ones (oldest first) and steps waiting
  for an approval, from the ``jobs``/``job_steps`` read model.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

_SCOPE = "($1::uuid IS NULL OR {col} = $1::uuid)"


def _scope(col: str) -> str:
    return _SCOPE.format(col=col)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _tenant_arg(tenant: str | None) -> uuid.UUID | None:
    return None if tenant is None else uuid.UUID(tenant)


async def spend(pool: asyncpg.Pool, tenant: str | None, *, hours: int = 24,
                days: int = 7) -> dict[str, list[dict[str, Any]]]:
    """``{"hourly": [...], "daily": [...]}``: ``tenant``, ``start``, ``cost_cents``, ``tokens``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, unit, span in (("hourly", "hour", timedelta(hours=hours)),
                             ("daily", "day", timedelta(days=days))):
        rows = await pool.fetch(
            f"SELECT tenant_id, date_trunc('{unit}', minute AT TIME ZONE 'UTC') AS bucket, "
            "sum(cost_cents)::bigint AS cost_cents, sum(tokens)::bigint AS tokens "
            f"FROM usage_ledger WHERE {_scope('tenant_id')} "
            "AND minute >= now() - $2::interval "
            "GROUP BY tenant_id, bucket ORDER BY bucket, tenant_id",
            _tenant_arg(tenant), span,
        )
        out[name] = [
            {"tenant": str(r["tenant_id"]), "start": _iso(r["bucket"].replace(tzinfo=UTC)),
             "cost_cents": int(r["cost_cents"]), "tokens": int(r["tokens"])}
            for r in rows
        ]
    return out


BURN_SQL = (
    "SELECT s.tenant_id, count(*) AS sessions, sum(s.token_budget)::bigint AS budget_tokens, "
    "coalesce(sum(l.tokens), 0)::bigint AS spent_tokens, "
    "coalesce(sum(l.cost_cents), 0)::bigint AS spent_cents, "
    "count(*) FILTER (WHERE coalesce(l.tokens, 0) >= s.token_budget) AS over_budget "
    "FROM sessions s LEFT JOIN ("
    "  SELECT session_id, sum(tokens) AS tokens, sum(cost_cents) AS cost_cents "
    f"  FROM usage_ledger WHERE {_scope('tenant_id')} GROUP BY session_id"
    f") l USING (session_id) WHERE s.expires_at > now() AND {_scope('s.tenant_id')} "
    "GROUP BY s.tenant_id ORDER BY s.tenant_id"
)


async def budget_burn(pool: asyncpg.Pool, tenant: str | None) -> list[dict[str, Any]]:
    """Per tenant: live sessions, their token budgets, tokens spent, share burnt (0..1+)."""
    rows = await pool.fetch(BURN_SQL, _tenant_arg(tenant))
    return [
        {"tenant": str(r["tenant_id"]), "sessions": int(r["sessions"]),
         "budget_tokens": int(r["budget_tokens"]), "spent_tokens": int(r["spent_tokens"]),
         "spent_cents": int(r["spent_cents"]), "over_budget": int(r["over_budget"]),
         "burn": round(int(r["spent_tokens"]) / int(r["budget_tokens"]), 4)
         if int(r["budget_tokens"]) else 0.0}
        for r in rows
    ]


async def jobs(pool: asyncpg.Pool, tenant: str | None, limit: int = 20) -> dict[str, Any]:
    """``{"by_status": {status: n}, "running": [...], "waiting_approvals": n}``."""
    arg = _tenant_arg(tenant)
    counts = await pool.fetch(
        f"SELECT status, count(*) AS n FROM jobs WHERE {_scope('tenant_id')} GROUP BY status",
        arg,
    )
    running = await pool.fetch(
        "SELECT job_id, tenant_id, name, steps_completed, steps_total, submitted_at "
        f"FROM jobs WHERE status = 'running' AND {_scope('tenant_id')} "
        "ORDER BY submitted_at, job_id LIMIT $2",
        arg, limit,
    )
    waiting = await pool.fetchval(
        "SELECT count(*) FROM job_steps st JOIN jobs j USING (job_id) "
        f"WHERE st.status = 'waiting' AND j.status = 'running' AND {_scope('j.tenant_id')}",
        arg,
    )
    return {
        "by_status": {str(r["status"]): int(r["n"]) for r in counts},
        "running": [
            {"job": str(r["job_id"]), "tenant": str(r["tenant_id"]), "name": r["name"],
             "steps_completed": int(r["steps_completed"]), "steps_total": int(r["steps_total"]),
             "submitted_at": _iso(r["submitted_at"])}
            for r in running
        ],
        "waiting_approvals": int(waiting or 0),
    }


async def tenant_names(pool: asyncpg.Pool, tenant: str | None) -> dict[str, str]:
    """Tenant id → name, for labels."""
    rows = await pool.fetch(
        f"SELECT tenant_id, name FROM tenants WHERE {_scope('tenant_id')}", _tenant_arg(tenant)
    )
    return {str(r["tenant_id"]): str(r["name"]) for r in rows}
