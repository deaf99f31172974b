"""The python tool's namespaces (#19 item 10): no network, no platform data, no other
processes, a read-only system, its own scratch directory — and tools still work.

Each isolation test also runs the same snippet without namespaces (``isolation=None``)
and shows it *does* reach the thing, so the test can fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from somagent.credentials import service_token
from somagent.tools.exceptions import SandboxUnavailable, ToolExecutionError
from somagent.tools.isolation import Egress, Isolation, check
from somagent.tools.python_tool import PythonSnippet
from somagent.tools.spec import ToolContext

ISOLATED = Isolation()


def snippet(code: str, isolation: Isolation | None = ISOLATED) -> dict[str, Any]:
    """Run ``code`` with the python tool; its last line of output as JSON."""
    out = asyncio.run(PythonSnippet(isolation=isolation)({"code": code}, ToolContext("t", 10.0)))
    return dict(json.loads(out["stdout"].strip().splitlines()[-1]))


class Listener:
    """A TCP server on the host's loopback that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


CONNECT = """
import json, socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    print(json.dumps({{"reached": True}}))
except OSError as exc:
    print(json.dumps({{"reached": False, "error": repr(exc)}}))
"""


def test_a_snippet_cannot_reach_a_loopback_server(listener: Listener) -> None:
    isolated = snippet(CONNECT.format(port=listener.port))
    assert isolated["reached"] is False and "Connection refused" in isolated["error"]
    assert listener.accepted == 0
    assert snippet(CONNECT.format(port=listener.port), isolation=None)["reached"] is True
    assert listener.accepted == 1


def test_a_snippet_has_no_route_off_the_host() -> None:
    code = """
import json, socket
try:
    socket.create_connection(("192.0.2.1", 80), timeout=3)
    print(json.dumps({"error": ""}))
except OSError as exc:
    print(json.dumps({"error": repr(exc)}))
"""
    assert "Network is unreachable" in snippet(code)["error"]


READ = """
import json, os
home = {home!r}
try:
    token = open(os.path.join(home, "keys", "service.token")).read()
except OSError as exc:
    token = repr(exc)
print(json.dumps({{"token": token, "listing": os.listdir(home) if os.path.isdir(home) else None}}))
"""


def test_the_platforms_data_directory_is_not_readable(tmp_path: Path) -> None:
    home = tmp_path / "somagent-home"
    secret = service_token(home)
    isolated = snippet(READ.format(home=str(home)))
    assert secret not in isolated["token"] and "No such file or directory" in isolated["token"]
    assert isolated["listing"] is None
    assert snippet(READ.format(home=str(home)), isolation=None)["token"].strip() == secret


def test_a_hidden_directory_stays_hidden_under_a_bound_one(tmp_path: Path) -> None:
    home = tmp_path / "somagent-home"
    secret = service_token(home)
    (tmp_path / "visible.txt").write_text("shared")
    iso = Isolation(read_only=(str(tmp_path),), hidden=(str(home),))
    shared = f'"visible": open({str(tmp_path / "visible.txt")!r}).read(), '
    code = READ.format(home=str(home)).replace("print(json.dumps({", "print(json.dumps({" + shared)
    seen = snippet(code, isolation=iso)
    assert seen["visible"] == "shared"
    assert seen["listing"] == [] and secret not in seen["token"]


PROCESSES = """
import json, os
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
try:
    os.kill({pid}, 0)
    visible = True
except ProcessLookupError:
    visible = False
print(json.dumps({{"pids": pids, "sees_test_process": visible, "own_pid": os.getpid()}}))
"""


def test_a_snippet_cannot_see_other_processes() -> None:
    me = os.getpid()
    isolated = snippet(PROCESSES.format(pid=me))
    assert isolated["sees_test_process"] is False
    assert me not in isolated["pids"] and len(isolated["pids"]) <= 3, isolated
    plain = snippet(PROCESSES.format(pid=me), isolation=None)
    assert plain["sees_test_process"] is True and me in plain["pids"]


def test_the_system_is_read_only_and_the_scratch_directory_is_its_own() -> None:
    code = """
import json, os
def attempt(path):
    try:
        with open(path, "w") as fh:
            fh.write("x")
        return "written"
    except OSError as exc:
        return type(exc).__name__ + ": " + (exc.strerror or "")
out = {
    "usr": attempt("/usr/somagent-probe"),
    "etc": attempt("/etc/passwd"),
    "scratch": attempt("result.txt"),
    "tmp": attempt("/tmp/probe"),
    "shadow": os.path.exists("/etc/shadow"),
    "roots": sorted(os.listdir("/")),
    "uid": os.getuid(),
    "hostname": os.uname().nodename,
}
print(json.dumps(out))
"""
    seen = snippet(code)
    assert "Read-only file system" in seen["usr"] and "Read-only file system" in seen["etc"]
    assert seen["scratch"] == "written" and seen["tmp"] == "written"
    assert seen["shadow"] is False
    assert not {"home", "var", "work", "srv", "opt", "mnt"} & set(seen["roots"])
    assert (seen["uid"], seen["hostname"]) == (65534, "sandbox")


def test_normal_snippets_still_work() -> None:
    code = """
import json, decimal, fractions, math, re, sqlite3, statistics, hashlib, datetime, zlib
db = sqlite3.connect(":memory:")
db.execute("create table t (x)")
db.executemany("insert into t values (?)", [(i,) for i in range(10)])
total = db.execute("select sum(x) from t").fetchone()[0]
with open("data.csv", "w") as fh:
    fh.write("a,b\\n1,2\\n")
print(json.dumps({"sum": total, "mean": statistics.mean([1, 2, 3]),
                  "sha": hashlib.sha256(b"x").hexdigest()[:8], "csv": open("data.csv").read()}))
"""
    assert snippet(code) == {"sum": 45, "mean": 2, "sha": "2d711642", "csv": "a,b\n1,2\n"}


def test_a_granted_writable_directory_is_the_one_host_path_written(tmp_path: Path) -> None:
    home = tmp_path / "somagent-home"
    secret = service_token(home)
    outbox = home / "outbox"  # granted even inside the hidden data directory
    outbox.mkdir()
    iso = Isolation(hidden=(str(home),), writable=(str(outbox),))
    code = READ.format(home=str(home)).replace(
        "print(json.dumps({", f"open({str(outbox / 'effect.txt')!r}, 'w').write('ran')\n"
        "print(json.dumps({"
    )
    seen = snippet(code, isolation=iso)
    assert (outbox / "effect.txt").read_text() == "ran"
    assert secret not in seen["token"] and seen["listing"] == ["outbox"]


def test_egress_is_a_refused_hook_until_a_policy_can_be_enforced() -> None:
    tool = PythonSnippet(isolation=Isolation(egress=Egress(("api.example.com",))))
    with pytest.raises(ToolExecutionError) as info:
        asyncio.run(tool({"code": "print(1)"}, ToolContext("t", 5.0)))
    assert info.value.code == "unavailable" and info.value.infrastructure
    assert "api.example.com" in info.value.message


def test_a_missing_bubblewrap_is_the_tools_failure() -> None:
    tool = PythonSnippet(isolation=Isolation(bwrap="/nonexistent/bwrap"))
    with pytest.raises(ToolExecutionError) as info:
        asyncio.run(tool({"code": "print(1)"}, ToolContext("t", 5.0)))
    assert info.value.code == "unavailable" and info.value.infrastructure
    with pytest.raises(SandboxUnavailable, match="bubblewrap"):
        check(Isolation(bwrap="/nonexistent/bwrap"))


def test_namespaces_are_permitted_here() -> None:
    check(Isolation())
