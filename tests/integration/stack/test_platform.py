"""`somagent up` with the platform process, and `somagent demo` through it.

A whole second stack (own data directory, own free ports), driven through the
`somagent` command in child processes exactly as a user runs it: the platform
must own its embedded chDB and Qdrant (and chDB allows one directory per
process, so this test process never opens them), and its worker group reads a
log no other test wrote to.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from somagent.config import Settings
from somagent.serve.demo import run_demo
from somagent.stack.testing import fresh_stack_settings

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
        started = somagent(settings, "up")
        assert started.returncode == 0, started.stderr
        yield settings
    finally:
        stopped = somagent(settings, "down")
        assert "platform" in stopped.stdout, stopped.stdout + stopped.stderr


def test_up_starts_a_healthy_platform_and_a_second_up_reuses_it(platform: Settings) -> None:
    rows = status(platform)
    assert all(row["healthy"] for row in rows.values()), rows
    assert rows["platform"]["pid"] is not None
    assert rows["clickhouse"]["version"] and rows["qdrant"]["version"]  # via its /readyz
    again = somagent(platform, "up")  # must not touch the engines the platform owns
    assert again.returncode == 0, again.stderr
    assert status(platform)["platform"]["pid"] == rows["platform"]["pid"]


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
    assert "Remember the demo fact" in text.split("/v1/memory/recall", 1)[1]
