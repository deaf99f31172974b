"""`somagent usage export`: ledger rows as CloudEvents, the same ids on every export."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from somagent.stack.stack import RunningStack

pytestmark = pytest.mark.integration

T0 = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)


def _export(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "somagent.cli", "usage", "export", *args],
                          env={**os.environ, **stack.settings.to_env()}, capture_output=True,
                          text=True, timeout=120, check=False)


async def test_export_writes_one_cloudevent_per_ledger_row_with_stable_ids(
    stack: RunningStack, tmp_path: Path
) -> None:
    tenant, other, session = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    rows = [(tenant, T0, 0, 100, 2, 7, False), (tenant, T0, 1, -20, 0, -1, True),
            (tenant, T0 + timedelta(minutes=5), 0, 30, 1, 2, False),
            (tenant, T0 + timedelta(days=1), 0, 999, 9, 99, False),  # outside the range
            (other, T0, 0, 5, 0, 1, False)]                          # another tenant
    conn = await asyncpg.connect(stack.settings.postgres_dsn)
    try:
        for t, minute, rev, tokens, calls, cents, correction in rows:
            await conn.execute(
                "INSERT INTO usage_ledger (tenant_id, agent, session_id, minute, revision, tokens,"
                " tool_calls, cost_cents, is_correction, event_id)"
                " VALUES ($1, 'planner', $2, $3, $4, $5, $6, $7, $8, $9)",
                t, session, minute, rev, tokens, calls, cents, correction, uuid.uuid4())
    finally:
        await conn.close()
    try:
        _check_exports(stack, tmp_path, tenant)
    finally:  # rows with no events behind them would differ from a later test's replay
        conn = await asyncpg.connect(stack.settings.postgres_dsn)
        try:
            await conn.execute("DELETE FROM usage_ledger WHERE tenant_id = ANY($1::uuid[])",
                               [tenant, other])
        finally:
            await conn.close()


def _check_exports(stack: RunningStack, tmp_path: Path, tenant: uuid.UUID) -> None:
    window = ("--from", "2026-04-02T00:00:00Z", "--to", "2026-04-03T00:00:00Z")
    first = _export(stack, *window, "--tenant", str(tenant), "--out", str(tmp_path / "a.jsonl"))
    assert first.returncode == 0, first.stderr
    fmt = JSONFormat()
    lines = (tmp_path / "a.jsonl").read_bytes().splitlines()
    events = [fmt.read(CloudEvent, line) for line in lines]
    assert len(events) == 3
    assert {e.get_subject() for e in events} == {str(tenant)}
    assert [e.get_data()["tokens"] for e in events] == [100, -20, 30]  # type: ignore[index]
    assert sum(e.get_data()["cost_cents"] for e in events) == 8  # type: ignore[index]
    corrections = [e.get_data()["is_correction"] for e in events]  # type: ignore[index]
    assert corrections == [False, True, False]
    assert all(e.get_type() == "com.somagent.usage" and e.get_source() == "somagent"
               for e in events)
    assert len({e.get_id() for e in events}) == 3
    # Re-export (stdout this time): byte-identical, so a consumer dedupes every event.
    again = _export(stack, *window, "--tenant", str(tenant))
    assert again.returncode == 0, again.stderr
    assert again.stdout.encode() == (tmp_path / "a.jsonl").read_bytes()
    # All tenants: the other tenant's row too; ours keep their ids.
    everyone = _export(stack, *window)
    ids = {fmt.read(CloudEvent, line.encode()).get_id() for line in everyone.stdout.splitlines()}
    assert {e.get_id() for e in events} < ids


def test_export_refuses_bad_input(stack: RunningStack) -> None:
    for args in (("--from", "yesterday"), ("--tenant", "acme"),
                 ("--from", "2026-04-03T00:00:00Z", "--to", "2026-04-02T00:00:00Z")):
        done = _export(stack, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stdout == ""
