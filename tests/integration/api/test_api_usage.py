"""GET /v1/usage sums the calling tenant's usage_ledger rows per minute, hour or day."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from edge_helpers import Tenant, mint, new_tenant

from somagent.stack.stack import RunningStack

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
async def written(stack: RunningStack) -> AsyncIterator[list[str]]:
    """Tenants whose hand-written ledger rows are deleted after the test: rows with no
    events behind them would otherwise differ from a replay in later tests' checks."""
    tenants: list[str] = []
    yield tenants
    conn = await asyncpg.connect(stack.settings.postgres_dsn)
    try:
        await conn.execute("DELETE FROM usage_ledger WHERE tenant_id = ANY($1::uuid[])",
                           [uuid.UUID(t) for t in tenants])
    finally:
        await conn.close()


async def _ledger(stack: RunningStack, tenant: str, rows: list[tuple[datetime, int, int, int]],
                  written: list[str]) -> None:
    written.append(tenant)
    conn = await asyncpg.connect(stack.settings.postgres_dsn)
    try:
        session = uuid.uuid4()
        for revision, (minute, tokens, calls, cents) in enumerate(rows):
            await conn.execute(
                "INSERT INTO usage_ledger (tenant_id, agent, session_id, minute, revision, tokens,"
                " tool_calls, cost_cents, is_correction, event_id)"
                " VALUES ($1, 'planner', $2, $3, $4, $5, $6, $7, $8, $9)",
                uuid.UUID(tenant), session, minute, revision, tokens, calls, cents,
                tokens < 0, uuid.uuid4())
    finally:
        await conn.close()


async def test_usage_groups_and_sums_only_the_callers_rows(
    client: httpx.AsyncClient, tenant: Tenant, stack: RunningStack, written: list[str]
) -> None:
    await _ledger(stack, tenant.tenant, [
        (T0, 100, 1, 5), (T0 + timedelta(minutes=1), 50, 0, 2),
        (T0 + timedelta(hours=1, minutes=5), 10, 2, 1),
        (T0 + timedelta(minutes=1), -20, 0, -1),  # a correction row
        (T0 + timedelta(days=2), 999, 9, 99),     # outside the range
    ], written)
    rival = await new_tenant(stack.settings, "rival")
    await _ledger(stack, rival.tenant, [(T0, 7777, 7, 77)], written)
    s = await mint(client, tenant)
    q = {"from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z"}
    r = await client.get("/v1/usage", params={**q, "group_by": "hour"}, headers=s.auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tenant"] == tenant.tenant and body["group_by"] == "hour"
    assert [(b["start"], b["tokens"], b["tool_calls"], b["cost_cents"]) for b in body["buckets"]] \
        == [("2026-03-01T10:00:00Z", 130, 1, 6), ("2026-03-01T11:00:00Z", 10, 2, 1)]
    assert body["totals"]["tokens"] == 140 and body["totals"]["cost_cents"] == 7
    r = await client.get("/v1/usage", params={**q, "group_by": "minute"}, headers=s.auth)
    assert [b["tokens"] for b in r.json()["buckets"]] == [100, 30, 10]
    r = await client.get("/v1/usage", params={**q, "group_by": "day"}, headers=s.auth)
    assert [b["start"] for b in r.json()["buckets"]] == ["2026-03-01T00:00:00Z"]


@pytest.mark.parametrize("params", [
    {"from": "2026-03-01T00:00:00Z"},
    {"from": "yesterday", "to": "2026-03-02T00:00:00Z"},
    {"from": "2026-03-01T00:00:00", "to": "2026-03-02T00:00:00Z"},
    {"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
    {"from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z", "group_by": "week"},
    {"from": "2026-01-01T00:00:00Z", "to": "2026-03-02T00:00:00Z", "group_by": "minute"},
    {"from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z", "tenant": "x"},
])
async def test_bad_usage_queries_are_400(
    client: httpx.AsyncClient, tenant: Tenant, params: dict[str, str]
) -> None:
    s = await mint(client, tenant)
    r = await client.get("/v1/usage", params=params, headers=s.auth)
    assert r.status_code == 400 and r.json()["type"].endswith("/invalid-query")


async def test_usage_without_a_range_is_the_current_utc_day(
    client: httpx.AsyncClient, tenant: Tenant, stack: RunningStack, written: list[str]
) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    await _ledger(stack, tenant.tenant, [
        (today, 40, 1, 3), (today + timedelta(hours=23, minutes=59), 2, 0, 1),
        (today - timedelta(minutes=1), 500, 5, 50),  # yesterday
        (today + timedelta(days=1), 600, 6, 60),     # tomorrow
    ], written)
    s = await mint(client, tenant)
    r = await client.get("/v1/usage", headers=s.auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["from"] == today.isoformat().replace("+00:00", "Z")
    assert body["to"] == (today + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert body["group_by"] == "hour"
    assert body["totals"]["tokens"] == 42 and body["totals"]["cost_cents"] == 4


@pytest.mark.parametrize(("span_days", "group", "suggested"), [
    (60, "minute", "hour"), (401, "hour", None), (401, "day", None)])
async def test_a_range_too_wide_for_its_grouping_suggests_one_that_fits(
    client: httpx.AsyncClient, tenant: Tenant, span_days: int, group: str,
    suggested: str | None,
) -> None:
    s = await mint(client, tenant)
    end = datetime(2026, 3, 1, tzinfo=UTC)
    params = {"from": (end - timedelta(days=span_days)).isoformat(), "to": end.isoformat(),
              "group_by": group}
    r = await client.get("/v1/usage", params=params, headers=s.auth)
    assert r.status_code == 400 and r.json()["type"].endswith("/invalid-query")
    assert r.json().get("suggested_group_by") == suggested
    if suggested is not None:
        assert f"use group_by={suggested}" in r.json()["detail"]
        ok = await client.get("/v1/usage", params={**params, "group_by": suggested},
                              headers=s.auth)
        assert ok.status_code == 200, ok.text
    else:
        assert "narrow the range" in r.json()["detail"]
