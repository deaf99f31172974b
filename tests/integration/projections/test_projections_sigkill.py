"""A projector process killed with SIGKILL mid-batch converges after restart.

The projectors run as ``python -m somagent.projections.run`` against the stack's
servers and analytics service, with their own Postgres database and position prefix. The
test kills the process while its Postgres position is part-way through the log,
restarts it, waits until both projectors report the log's end, stops it, and
then compares the live tables with an uninterrupted rebuild (replay --verify).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from projection_helpers import PopulatedLog, database

from somagent.config import Settings
from somagent.kafka.admin import end_offsets, partitions_of
from somagent.projections import chproj, postgres
from somagent.projections.replay import replay_postgres
from somagent.wait import until

pytestmark = pytest.mark.integration


def _env(settings: Settings) -> dict[str, str]:
    # The stack's servers and analytics service; positions are kept apart by the "k-" prefix.
    return {**os.environ, **settings.to_env()}


def _start(env: dict[str, str], status: Path, log: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "somagent.projections.run",
        "--prefix",
        "k-",
        "--status-file",
        str(status),
        "--batch",
        "200",
    ]
    return subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _pg_progress(settings: Settings) -> int:
    async def fetch() -> int:
        conn = await asyncpg.connect(settings.postgres_dsn)
        try:
            value = await conn.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM projector_positions "
                "WHERE projector = 'k-postgres'"
            )
            return int(value)
        finally:
            await conn.close()

    return asyncio.run(fetch())


def _status_at(status: Path, ends: dict[str, dict[tuple[str, int], int]]) -> bool:
    if not status.exists():
        return False
    got: dict[str, dict[str, int]] = json.loads(status.read_text())
    return all(
        all(got.get(f"k-{name}", {}).get(f"{t}/{p}", 0) >= end for (t, p), end in want.items())
        for name, want in ends.items()
    )


def test_sigkill_mid_batch_converges(
    settings: Settings, populated: PopulatedLog, tmp_path: Path
) -> None:
    kill_settings = database(settings, "somagent_kill")
    env = _env(kill_settings)
    status, log = tmp_path / "status.json", tmp_path / "projector.log"
    pg_ends = end_offsets(settings, partitions_of(settings, postgres.TOPICS))
    total = sum(pg_ends.values())

    proc = _start(env, status, log)
    try:
        progress = until(
            lambda: (p := _pg_progress(kill_settings)) > 0 and p,
            timeout_s=120,
            interval_s=0.01,
            max_interval_s=0.02,
            what="the projector's first committed batch",
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert progress < total, "the projector finished before it could be killed mid-way"

    ends = {
        "postgres": end_offsets(settings, partitions_of(settings, postgres.TOPICS)),
        "clickhouse": end_offsets(settings, partitions_of(settings, chproj.TOPICS)),
    }
    proc = _start(env, status, log)
    try:
        until(
            lambda: _status_at(status, ends), timeout_s=240, what="restarted projectors caught up"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert proc.returncode == 0, log.read_text()[-3000:]

    pg = asyncio.run(replay_postgres(kill_settings, verify=True, live_name="k-postgres"))
    for table in pg.tables:
        assert table.equal and table.live_rows > 0, (
            table.table,
            table.missing[:3],
            table.different[:3],
        )

    # The subprocess's chDB is read by another subprocess (one owning process per directory).
    done = subprocess.run(
        [sys.executable, "-c", _CH_VERIFY], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    tables: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    for table in tables:
        assert table["equal"] and table["live_rows"] > 0, table


_CH_VERIFY = """
import json
from somagent.config import load_settings
from somagent.projections.replay import replay_clickhouse
report = replay_clickhouse(load_settings(), verify=True, live_name="k-clickhouse")
print(json.dumps([{"table": t.table, "equal": t.equal, "live_rows": t.live_rows,
                   "missing": t.missing[:3], "extra": t.extra[:3], "different": t.different[:3]}
                  for t in report.tables]))
"""
