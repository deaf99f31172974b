"""`somagent up` with the platform's supervised roles, used as its three kinds of users do.

A whole second stack (own data directory, own free ports), driven through the
`somagent` command in child processes exactly as a user runs it: a client runs a
real turn (`somagent demo`), an analyst queries ClickHouse while it runs
(`somagent sql`, clickhouse-connect), an auditor replays and audits while it runs;
then every role is killed with SIGKILL, the supervisor restarts each, and the
platform serves turns and replays equal again.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from somagent.config import Settings
from somagent.serve.demo import run_demo
from somagent.stack.testing import fresh_stack_settings
from somagent.wait import until

pytestmark = pytest.mark.integration


def somagent(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **settings.to_env()}
    return subprocess.run(
        [sys.executable, "-m", "somagent.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def status(settings: Settings) -> dict[str, dict[str, Any]]:
    result = somagent(settings, "status", "--json")
    return {row["name"]: row for row in json.loads(result.stdout)}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = fresh_stack_settings(tmp_path_factory.mktemp("platform-home"))
    try:
        started = somagent(settings, "up", "--workers", "2")
        assert started.returncode == 0, started.stderr
        yield settings
    finally:
        stopped = somagent(settings, "down")
        assert "platform" in stopped.stdout, stopped.stdout + stopped.stderr


ROLES = {"analytics-0", "memory-0", "policy-0", "worker-0", "worker-1", "billing-0", "projector-0",
         "edge-0", "jobs-0"}


def test_up_starts_every_role_healthy_and_a_second_up_reuses_them(platform: Settings) -> None:
    rows = status(platform)
    assert all(row["healthy"] for row in rows.values()), rows
    assert set(rows) >= ROLES, rows
    assert rows["platform"]["pid"] is not None
    assert len({rows[r]["pid"] for r in ROLES}) == len(ROLES)  # one process per role instance
    assert rows["clickhouse"]["version"] and rows["qdrant"]["version"]  # via their owners
    again = somagent(platform, "up", "--workers", "2")  # the same layout: nothing restarts
    assert again.returncode == 0, again.stderr
    assert {r: status(platform)[r]["pid"] for r in ROLES} == {r: rows[r]["pid"] for r in ROLES}


def test_demo_runs_a_real_turn_through_the_platform(platform: Settings) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run_demo(platform, "Remember the demo fact. What is (1/3 + 1/6) * 3?")
    text = out.getvalue()
    for name in (
        "event: plan",
        "event: tool.delta",
        "event: verify",
        "event: answer",
        "event: done",
    ):
        assert name in text, text
    assert "3/2" in text
    assert "Remember the demo fact" in text.split("/v1/memory/recall", 1)[1].split(
        "/v1/jobs", 1)[0]
    job_log = text.split("# POST /v1/jobs", 1)[1]
    for name in ("event: submitted", "event: step.started", "event: approval.requested",
                 "event: approval.given", "event: step.completed", "event: completed"):
        assert name in job_log, job_log
    assert "the demo approves signoff -> 200" in job_log
    assert "# job " in job_log and ": completed" in job_log
    # Issue 15: a signed capsule and an agent bringing it, published, installed, one turn.
    market = text.split("# marketplace:", 1)[1]
    assert "published (signed by" in market and "installed helper-" in market
    assert "event: done" in market and "42" in market.split("# GET /v1/agents", 1)[0]


def _turn_of(demo_output: str) -> str:
    return str(json.loads(demo_output.split("data: ", 1)[1].splitlines()[0])["turn_id"])


def test_analysts_and_auditors_work_while_it_runs(platform: Settings) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run_demo(platform, "What is 6 * 7?")
    turn = _turn_of(out.getvalue())
    job = out.getvalue().split("# job ", 1)[1].split(":", 1)[0].strip()
    counted = somagent(platform, "sql", "SELECT count() AS n FROM events", "--format", "json")
    assert counted.returncode == 0, counted.stderr
    assert json.loads(counted.stdout)["n"] > 0

    import clickhouse_connect

    client = clickhouse_connect.get_client(
        host="127.0.0.1", port=platform.clickhouse_http_port, username="operator",
        password=(platform.home_dir / "keys" / "operator.token").read_text().strip(),
        database=platform.clickhouse_database,
    )
    assert client.query("SELECT count() FROM events WHERE turn = {t:String}",
                        parameters={"t": turn}).result_rows[0][0] > 0
    client.close()

    audited = somagent(platform, "audit", "--turn", turn, "--json")
    assert audited.returncode == 0, audited.stderr
    types = [json.loads(line)["type"] for line in audited.stdout.splitlines()]
    assert types[0] == "TurnRequested" and "TurnCompleted" in types
    audited = somagent(platform, "audit", "--job", job, "--json")
    assert audited.returncode == 0, audited.stderr
    types = [json.loads(line)["type"] for line in audited.stdout.splitlines()]
    assert types[0] == "JobSubmitted" and types.count("TurnCompleted") == 2, types
    replayed = somagent(platform, "replay", "--verify")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "DIFFERENT" not in replayed.stdout and "equal" in replayed.stdout


def test_every_role_killed_is_restarted_and_the_platform_recovers(platform: Settings) -> None:
    before = status(platform)
    for role in ROLES:
        os.kill(int(before[role]["pid"]), signal.SIGKILL)

    def recovered() -> bool:
        rows = status(platform)
        return all(rows[r]["healthy"] and rows[r]["restarts"] >= before[r]["restarts"] + 1
                   and rows[r]["pid"] != before[r]["pid"] for r in ROLES)

    until(recovered, timeout_s=180, what="every killed role restarted and healthy")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run_demo(platform, "What is 5 * 5?")
    assert "event: done" in out.getvalue() and "25" in out.getvalue()
    replayed = somagent(platform, "replay", "--verify")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
