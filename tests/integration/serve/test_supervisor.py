"""The supervisor against real child processes: restart on exit, on stuck health, clean stop.

The children are small real processes (``probe_role.py``) with the same health
endpoint every role serves, so these tests need no Kafka.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from somagent.config import load_settings
from somagent.serve.roles import Instance
from somagent.serve.supervisor import Policy, Supervisor, state_path
from somagent.wait import until

PROBE = Path(__file__).with_name("probe_role.py")
FAST = Policy(tick_s=0.2, startup_grace_s=20.0, unhealthy_grace_s=1.5, stable_s=5.0,
              max_backoff_s=1.0, stop_timeout_s=10.0)


def probe_argv(instance: Instance) -> list[str]:
    return [sys.executable, str(PROBE)]


def rows(home: Path) -> dict[str, dict[str, Any]]:
    settings = load_settings(home=home)
    try:
        state = json.loads(state_path(settings).read_text())
    except (OSError, ValueError):
        return {}
    return {r["name"]: r for r in state["instances"]}


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[Supervisor, Path]]:
    settings = load_settings(home=tmp_path)
    instances = [Instance("alpha", 0, ()), Instance("beta", 0, ()), Instance("beta", 1, ())]
    supervisor = Supervisor(settings, instances, FAST, argv_for=probe_argv)
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    try:
        def all_healthy() -> bool:
            state = rows(tmp_path)
            return len(state) == 3 and all(r["healthy"] for r in state.values())

        until(all_healthy, timeout_s=30, what="three healthy probe children")
        yield supervisor, tmp_path
    finally:
        supervisor.stop()
        thread.join(30)


def test_children_start_healthy_with_their_own_health_ports(
    supervised: tuple[Supervisor, Path],
) -> None:
    _, home = supervised
    state = rows(home)
    assert set(state) == {"alpha-0", "beta-0", "beta-1"}
    assert len({r["health_url"] for r in state.values()}) == 3
    assert all(r["restarts"] == 0 and r["pid"] for r in state.values())


def test_killed_child_is_restarted_and_counted(supervised: tuple[Supervisor, Path]) -> None:
    _, home = supervised
    old = rows(home)["beta-1"]["pid"]
    os.kill(old, signal.SIGKILL)

    def restarted() -> bool:
        row = rows(home)["beta-1"]
        return row["healthy"] and row["pid"] not in (None, old) and row["restarts"] == 1

    until(restarted, timeout_s=30, what="beta-1 restarted after SIGKILL")
    row = rows(home)["beta-1"]
    assert row["last_exit"] == -signal.SIGKILL
    assert row["last_restart_reason"] == f"exited with code {-signal.SIGKILL}"
    assert rows(home)["beta-0"]["restarts"] == 0  # siblings untouched


def test_stuck_child_is_restarted_with_the_reason(supervised: tuple[Supervisor, Path]) -> None:
    _, home = supervised
    old = rows(home)["alpha-0"]["pid"]
    (home / "unhealthy-alpha-0").write_text("")
    until(lambda: rows(home)["alpha-0"]["state"] == "unhealthy", timeout_s=10,
          what="alpha-0 reported unhealthy")
    assert "told to be unhealthy" in rows(home)["alpha-0"]["detail"]
    until(lambda: rows(home)["alpha-0"]["restarts"] == 1, timeout_s=30,
          what="alpha-0 restarted after staying unhealthy")
    assert "unhealthy for" in rows(home)["alpha-0"]["last_restart_reason"]
    (home / "unhealthy-alpha-0").unlink()  # the restarted child comes back healthy
    until(lambda: rows(home)["alpha-0"]["healthy"], timeout_s=30, what="alpha-0 healthy again")
    assert rows(home)["alpha-0"]["pid"] != old
    assert not psutil.pid_exists(old) or psutil.Process(old).status() == psutil.STATUS_ZOMBIE


def test_stop_stops_every_child(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    supervisor = Supervisor(settings, [Instance("alpha", 0, ())], FAST, argv_for=probe_argv)
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    until(lambda: rows(tmp_path).get("alpha-0", {}).get("healthy"), timeout_s=30,
          what="alpha-0 healthy")
    pid = rows(tmp_path)["alpha-0"]["pid"]
    supervisor.stop()
    thread.join(30)
    assert not thread.is_alive()
    assert not psutil.pid_exists(pid)
    assert rows(tmp_path)["alpha-0"]["state"] == "stopped"


SUPERVISE = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_supervisor import FAST, probe_argv
from somagent.config import load_settings
from somagent.serve.roles import Instance
from somagent.serve.supervisor import Supervisor
Supervisor(load_settings(home=Path({home!r})), [Instance("alpha", 0, ())], FAST,
           argv_for=probe_argv).run()
"""


def test_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    code = SUPERVISE.format(tests=str(PROBE.parent), home=str(tmp_path))
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        until(lambda: rows(tmp_path).get("alpha-0", {}).get("healthy"), timeout_s=30,
              what="alpha-0 healthy under a child supervisor")
        child = rows(tmp_path)["alpha-0"]["pid"]
        parent.kill()  # SIGKILL: no chance to stop its children itself
        parent.wait(10)
        until(lambda: not psutil.pid_exists(child)
              or psutil.Process(child).status() == psutil.STATUS_ZOMBIE,
              timeout_s=10, what="the orphaned child to exit (PR_SET_PDEATHSIG)")
    finally:
        if parent.poll() is None:
            parent.kill()
