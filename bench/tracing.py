"""Tracing overhead: CPU per turn of the role processes with and without OTLP export.

Starts a private platform (`somagent up --workers 1 --jobs 0`, free loopback ports, a
temporary home) and a Jaeger (built by ``somagent.stack.jaeger``) and runs the same
sequential turns (``calc`` allowed, memory read/write: every span kind fires) in
three phases on the same data: export **off**, **on** (``SOMAGENT_OTLP_ENDPOINT``
set, the platform restarted), **off** again (the baseline measured twice in the
same run shows the drift). Per phase: role processes' CPU (user + system, psutil,
summed over the supervisor's children) divided by the turns, and the median turn
wall time. ``ratio_cpu`` is on / mean(off). Also the spans Jaeger holds after the
"on" phase. Prints one JSON object; timings are never asserted anywhere.

Run: ``.venv/bin/python -P bench/tracing.py [--turns 40]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from somagent.config import Settings
from somagent.policy.defaults import DEFAULT_POLICY_HASH
from somagent.stack.jaeger import JaegerPorts, argv, build, config
from somagent.stack.testing import fresh_stack_settings
from somagent.wait import until


def somagent(settings: Settings, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "somagent.cli", *args],
                          env={**os.environ, **settings.to_env(), **(env or {})},
                          capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"somagent {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


def role_cpu_s(settings: Settings) -> float:
    state = json.loads((settings.home_dir / "run" / "platform.json").read_text())
    total = 0.0
    for row in state["instances"]:
        try:
            t = psutil.Process(int(row["pid"])).cpu_times()
            total += t.user + t.system
        except (psutil.Error, TypeError):
            continue
    return total


def session(settings: Settings) -> dict[str, str]:
    tenant = json.loads(somagent(settings, "tenant", "create", "--name", "bench-tracing",
                                 "--plan", "enterprise"))
    r = httpx.post(settings.api_url + "/v1/session/mint", timeout=60,
                   headers={"Authorization": f"Bearer {tenant['api_key']}"},
                   json={"tenant": tenant["tenant"], "persona_hash": "sha256-" + "0" * 64,
                         "policy_hash": DEFAULT_POLICY_HASH,
                         "budgets": {"tokens": 10**9, "tools_per_min": 10_000}})
    r.raise_for_status()
    return dict(r.json())


def one_turn(client: httpx.Client, s: dict[str, str], i: int) -> float:
    body = {"session_id": s["session_id"], "inputs": {"text": f"What is {i} * 7 + 1?"},
            "allow": {"tools": ["calc"], "memory": "readwrite"}}
    started = time.perf_counter()
    with client.stream("POST", "/v1/turn", json=body,
                       headers={"Authorization": f"Bearer {s['jwt']}"}) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if line == "event: done":
                break
    return time.perf_counter() - started


def phase(settings: Settings, name: str, turns: int, env: dict[str, str]) -> dict[str, Any]:
    somagent(settings, "up", "--workers", "1", "--jobs", "0", env=env)
    try:
        s = session(settings)
        with httpx.Client(base_url=settings.api_url, timeout=120) as client:
            for i in range(5):  # warm-up: imports, connections, first compilations
                one_turn(client, s, i)
            before = role_cpu_s(settings)
            walls = [one_turn(client, s, i) for i in range(turns)]
            after = role_cpu_s(settings)
    finally:
        somagent(settings, "down")
    return {"phase": name, "turns": turns,
            "cpu_ms_per_turn": round((after - before) * 1000 / turns, 2),
            "wall_ms_p50": round(statistics.median(walls) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tracing-") as tmp:
        settings = fresh_stack_settings(Path(tmp) / "home")
        ports = JaegerPorts.free()
        (Path(tmp) / "jaeger.yaml").write_text(config(ports))
        jaeger = subprocess.Popen(argv(build(settings), Path(tmp) / "jaeger.yaml"),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env={**os.environ, "OTEL_SDK_DISABLED": "true"})
        try:
            until(lambda: httpx.get(f"http://127.0.0.1:{ports.health}/status").is_success,
                  timeout_s=60, what="jaeger")
            off1 = phase(settings, "off", args.turns, {})
            on = phase(settings, "on", args.turns, {"SOMAGENT_OTLP_ENDPOINT": ports.otlp_endpoint})
            off2 = phase(settings, "off-again", args.turns, {})
            services = httpx.get(ports.query_url + "/api/services").json()["data"] or []
        finally:
            jaeger.terminate()
            jaeger.wait(30)
    base = (off1["cpu_ms_per_turn"] + off2["cpu_ms_per_turn"]) / 2
    print(json.dumps({"phases": [off1, on, off2], "jaeger_services": sorted(services),
                      "ratio_cpu": round(on["cpu_ms_per_turn"] / base, 3) if base else None,
                      "cpus": os.cpu_count()}, indent=1))


if __name__ == "__main__":
    main()
