"""The ``somagent audit`` and ``somagent sql`` commands as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from projection_helpers import PopulatedLog

from somagent.config import Settings

pytestmark = pytest.mark.integration


def _somagent(settings: Settings, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The stack's own settings: `sql` reaches its analytics service like an analyst would.
    env = {**os.environ, **settings.to_env()}
    return subprocess.run(
        [sys.executable, "-m", "somagent.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_audit_prints_the_trail_as_json_lines(
    settings: Settings, populated: PopulatedLog, tmp_path: Path
) -> None:
    done = _somagent(settings, tmp_path, "audit", "--turn", populated.turns[1], "--json")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert rows[0]["type"] == "TurnRequested" and rows[-1]["type"] in (
        "TurnCompleted",
        "TurnFailed",
    )
    assert all(r["topic"] == "conversation.events" for r in rows)
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
    table = _somagent(settings, tmp_path, "audit", "--trace", populated.traces[1])
    assert table.returncode == 0 and "UsageRecorded" in table.stdout
    missing = _somagent(
        settings, tmp_path, "audit", "--turn", "00000000-0000-0000-0000-00000000beef"
    )
    assert missing.returncode == 1


def test_sql_formats_and_refuses_writes(settings: Settings, tmp_path: Path) -> None:
    as_csv = _somagent(settings, tmp_path, "sql", "SELECT 1 AS x, 'a,b' AS y", "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    assert list(csv.reader(io.StringIO(as_csv.stdout))) == [["x", "y"], ["1", "a,b"]]
    as_json = _somagent(settings, tmp_path, "sql", "SELECT 2 AS x", "--format", "json")
    assert [json.loads(line) for line in as_json.stdout.splitlines()] == [{"x": 2}]
    refused = _somagent(settings, tmp_path, "sql", "DROP TABLE events")
    assert refused.returncode == 1 and "read-only" in refused.stderr
