"""A live platform for the telemetry tests: `somagent up` in child processes, real turns."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from typing import Any

import httpx

from somagent.config import Settings
from somagent.policy.defaults import DEFAULT_POLICY_HASH


def somagent(settings: Settings, *args: str, env: dict[str, str] | None = None,
             timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "somagent.cli", *args],
        env={**os.environ, **settings.to_env(), **(env or {})},
        capture_output=True, text=True, timeout=timeout_s, check=False,
    )


def _sha(text: str) -> str:
    return "sha256-" + hashlib.sha256(text.encode()).hexdigest()


def new_session(settings: Settings) -> dict[str, Any]:
    """A tenant (via `somagent tenant create`) and a minted session: {tenant, jwt, session_id}."""
    created = somagent(settings, "tenant", "create", "--name", "observe", "--plan", "pro")
    assert created.returncode == 0, created.stderr
    tenant = json.loads(created.stdout)
    with httpx.Client(base_url=settings.api_url, timeout=60) as client:
        key = {"Authorization": f"Bearer {tenant['api_key']}"}
        r = client.post("/v1/session/mint", headers=key,
                        json={"tenant": tenant["tenant"], "persona_hash": _sha("p"),
                              "policy_hash": DEFAULT_POLICY_HASH,
                              "budgets": {"tokens": 100_000, "tools_per_min": 60}})
        assert r.status_code == 200, r.text
    return {"tenant": tenant["tenant"], **r.json()}


def run_turn(settings: Settings, session: dict[str, Any], text: str,
             headers: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """POST /v1/turn (calc and memory.search allowed, memory readwrite); the turn id and
    the SSE event names, read to ``done``."""
    body = {"session_id": session["session_id"], "inputs": {"text": text},
            "allow": {"tools": ["calc", "memory.search"], "memory": "readwrite"}}
    names: list[str] = []
    auth = {"Authorization": f"Bearer {session['jwt']}", **(headers or {})}
    with httpx.Client(base_url=settings.api_url, timeout=120) as client, \
            client.stream("POST", "/v1/turn", json=body, headers=auth) as r:
        assert r.status_code == 200, r.read()
        turn = r.headers["x-turn-id"]
        for line in r.iter_lines():
            if line.startswith("event: "):
                names.append(line[7:])
    return turn, names
