"""Live projectors vs replay of the populated log; audit trails; read-only SQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import asyncpg
import pytest
from projection_helpers import PopulatedLog, caught_up, log_ends

from somagent.config import Settings
from somagent.projections.audit import (
    check_read_only,
    read_only_sql,
    trail_from_clickhouse,
    trail_from_log,
)
from somagent.projections.clickhouse import connect
from somagent.projections.exceptions import ReadOnlyViolation
from somagent.projections.replay import replay_clickhouse, replay_postgres
from somagent.projections.run import ProjectorThreads
from somagent.wait import until

pytestmark = pytest.mark.integration


def _wait_live(settings: Settings, live: ProjectorThreads) -> None:
    ends = log_ends(settings)
    until(lambda: caught_up(live, ends), timeout_s=120, what="live projectors caught up")


def test_replay_of_the_populated_log_verifies_equal(
    proj_settings: Settings, populated: PopulatedLog, live: ProjectorThreads
) -> None:
    _wait_live(proj_settings, live)
    pg = asyncio.run(replay_postgres(proj_settings, verify=True, live_name="itp-postgres"))
    # chDB decodes the Avro by default; the Python decoders (2 processes) must agree.
    ch = replay_clickhouse(proj_settings, verify=True, live_name="itp-clickhouse")
    parallel = replay_clickhouse(
        proj_settings, verify=True, live_name="itp-clickhouse", workers=2, engine_decode=False
    )
    assert [t.replay_checksum for t in parallel.tables] == [t.replay_checksum for t in ch.tables]
    for report in (pg, ch, parallel):
        assert report.events >= len(populated.seeds)
        for table in report.tables:
            assert table.equal, (
                table.table,
                table.missing[:3],
                table.extra[:3],
                table.different[:3],
            )
            assert table.live_rows > 0 and table.live_checksum == table.replay_checksum
    assert {t.table for t in pg.tables} == {
        "sessions", "turns", "usage_ledger", "jobs", "job_steps", "artifacts",
        "artifact_versions", "agent_installs", "policies", "policy_signatures"}


def test_replay_names_the_keys_that_differ_and_the_cli_exits_non_zero(
    proj_settings: Settings, populated: PopulatedLog, live: ProjectorThreads
) -> None:
    _wait_live(proj_settings, live)
    turn = populated.turns[0]

    async def tamper(steps: int | None) -> int:
        conn = await asyncpg.connect(proj_settings.postgres_dsn)
        try:
            old = await conn.fetchval(
                "SELECT steps_done FROM turns WHERE turn_id = $1", uuid.UUID(turn)
            )
            if steps is not None:
                await conn.execute(
                    "UPDATE turns SET steps_done = $2 WHERE turn_id = $1", uuid.UUID(turn), steps
                )
            return int(old)
        finally:
            await conn.close()

    original = asyncio.run(tamper(None))
    asyncio.run(tamper(original + 40))
    try:
        report = asyncio.run(replay_postgres(proj_settings, verify=True, live_name="itp-postgres"))
        turns = next(t for t in report.tables if t.table == "turns")
        assert turns.different == [turn] and not turns.missing and not turns.extra
        env = {**os.environ, **proj_settings.to_env()}
        # The CLI compares against the default live projector name "postgres"; point it
        # at this test's tables by replaying with the live positions of that name absent.
        done = subprocess.run(
            [sys.executable, "-c", _CLI_VERIFY],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"different: {turn}" in done.stdout
    finally:
        asyncio.run(tamper(original))


# `somagent replay --projection postgres --verify`, with the live projector name of this test.
_CLI_VERIFY = """
import sys
import somagent.projections.replay as r
original = r.replay_postgres
async def patched(settings, **kw):
    kw["live_name"] = "itp-postgres"
    return await original(settings, **kw)
r.replay_postgres = patched
from somagent.cli import app
sys.argv = ["somagent", "replay", "--projection", "postgres", "--verify"]
app()
"""


def test_audit_trail_is_ordered_with_positions(
    proj_settings: Settings, populated: PopulatedLog, live: ProjectorThreads
) -> None:
    _wait_live(proj_settings, live)
    turn = populated.turns[3]
    from_ch = trail_from_clickhouse(connect(proj_settings), turn=turn)
    types = [r["type"] for r in from_ch]
    assert types[0] == "TurnRequested" and "TurnCompleted" in types
    assert [r["seq"] for r in from_ch] == sorted(r["seq"] for r in from_ch)
    assert all(r["topic"] == "conversation.events" and r["offset"] >= 0 for r in from_ch)
    from_log = trail_from_log(proj_settings, turn=turn)
    assert [(r["event_id"], r["offset"]) for r in from_log] == [
        (r["event_id"], r["offset"]) for r in from_ch
    ]
    by_trace = trail_from_clickhouse(connect(proj_settings), trace=populated.traces[3])
    assert {r["event_id"] for r in from_ch} <= {r["event_id"] for r in by_trace}
    assert len(by_trace) > len(from_ch)  # the trace also covers usage, memory, audit events


def test_sql_is_read_only(proj_settings: Settings, live: ProjectorThreads) -> None:
    ch = connect(proj_settings)
    rows = read_only_sql(ch, "SELECT count() AS n FROM events;")
    assert rows[0]["n"] > 0
    for bad in (
        "DROP TABLE events",
        "SELECT 1; DROP TABLE events",
        "INSERT INTO events SELECT * FROM events",
        "ALTER TABLE events DELETE WHERE 1",
    ):
        with pytest.raises(ReadOnlyViolation):
            read_only_sql(ch, bad)
    assert check_read_only("SELECT 'drop; insert' AS s") == "SELECT 'drop; insert' AS s"
