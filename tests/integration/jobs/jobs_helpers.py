"""Helpers of the jobs tests: role processes of the real platform, the edge in a thread,
and a client that submits jobs and reads them back through the API.

Everything runs against the session's real stack (Kafka, Postgres, Redis, the Temporal
dev server, the analytics and memory roles): the turn engine and the jobs worker are
``somagent serve worker`` / ``somagent serve jobs`` child processes, so a test can
SIGKILL them.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from integration.roles import RoleProcess, commit_at_end

from somagent.api.app import create_app
from somagent.api.settings import EdgeSettings
from somagent.api.tenants import create_tenant
from somagent.config import Settings
from somagent.events.catalog import CONVERSATION, MEMORY
from somagent.policy.defaults import DEFAULT_POLICY_HASH
from somagent.stack.process import free_port
from somagent.wait import until, until_async

EDGE = EdgeSettings(heartbeat_s=1.0, stream_grace_s=5.0, turn_deadline_ms=60_000)
END = ("completed", "failed", "cancelled")


Role = RoleProcess


def role(settings: Settings, home: Path, name: str, env: dict[str, str]) -> Role:
    """``somagent serve <name>`` as a child process with the stack's settings."""
    return RoleProcess(settings, home, ["serve", name], env=env)


def turn_worker(settings: Settings, home: Path) -> Role:
    """A turn engine in its own consumer group, starting at the log's end (other tests'
    turns are not driven again)."""
    group = f"jobs-test-{uuid.uuid4().hex[:8]}"
    commit_at_end(settings, group, [CONVERSATION, MEMORY])
    return role(settings, home, "worker", {"SOMAGENT_WORKER_APP_ID": group})


@dataclass
class Edge:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def start_edge(settings: Settings) -> Edge:
    port = free_port()
    config = uvicorn.Config(create_app(settings, EDGE), host="127.0.0.1", port=port,
                            log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"edge-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    until(lambda: httpx.get(url + "/healthz", timeout=1.0).status_code == 200,
          timeout_s=60, what=f"edge on {url}")
    return Edge(url, server, thread)


@dataclass
class Caller:
    """A tenant's session on the edge."""

    http: httpx.AsyncClient
    tenant: str
    session: str
    jwt: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.jwt}"}

    async def submit(self, spec: dict[str, Any], **headers: str) -> httpx.Response:
        return await self.http.post("/v1/jobs", json={"spec": spec},
                                    headers={**self.auth, **headers})

    async def start(self, spec: dict[str, Any]) -> str:
        r = await self.submit(spec)
        assert r.status_code == 201, r.text
        return str(r.json()["job_id"])

    async def job(self, job_id: str) -> dict[str, Any]:
        r = await self.http.get(f"/v1/jobs/{job_id}", headers=self.auth)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def wait(self, job_id: str, *, status: tuple[str, ...] = END,
                   timeout_s: float = 120.0) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        async def probe() -> bool:
            seen.update(await self.job(job_id))
            return seen["status"] in status

        await until_async(probe, timeout_s=timeout_s, what=f"job {job_id} to be {status}")
        return seen

    async def wait_step(self, job_id: str, step: str, status: str,
                        timeout_s: float = 60.0) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            job = await self.job(job_id)
            s = next(s for s in job["steps"] if s["name"] == step)
            return job if s["status"] == status else None

        return await until_async(probe, timeout_s=timeout_s,
                                 what=f"step {step} of job {job_id} to be {status}")

    async def decide(self, job_id: str, step: str, decision: str) -> httpx.Response:
        return await self.http.post(f"/v1/jobs/{job_id}/approvals/{step}",
                                    json={"decision": decision}, headers=self.auth)

    async def log(self, job_id: str, last_event_id: str | None = None) -> list[dict[str, Any]]:
        """The job's SSE log to its end: ``{"id", "event", "data"}`` per message."""
        headers = dict(self.auth)
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        out: list[dict[str, Any]] = []
        async with self.http.stream("GET", f"/v1/jobs/{job_id}/logs", headers=headers) as r:
            assert r.status_code == 200, await r.aread()
            current: dict[str, Any] = {}
            async for line in r.aiter_lines():
                if not line:
                    if "data" in current:
                        out.append(current)
                    current = {}
                elif line.startswith("id: "):
                    current["id"] = line[4:]
                elif line.startswith("event: "):
                    current["event"] = line[7:]
                elif line.startswith("data: "):
                    current["data"] = json.loads(line[6:])
        return out


async def new_caller(settings: Settings, http: httpx.AsyncClient,
                     tokens: int = 1_000_000) -> Caller:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        tenant, key = await create_tenant(conn, f"jobs-{uuid.uuid4().hex[:6]}", "pro", "eu")
    finally:
        await conn.close()
    r = await http.post("/v1/session/mint", headers={"Authorization": f"Bearer {key}"}, json={
        "tenant": tenant.tenant_id, "persona_hash": "sha256-" + "a" * 64,
        "policy_hash": DEFAULT_POLICY_HASH,
        "budgets": {"tokens": tokens, "tools_per_min": 600}})
    assert r.status_code == 200, r.text
    body = r.json()
    return Caller(http, tenant.tenant_id, body["session_id"], body["jwt"])


def types_of(log: list[dict[str, Any]]) -> list[str]:
    return [m["data"]["type"] for m in log]


def step_events(log: list[dict[str, Any]], kind: str, step: str) -> list[dict[str, Any]]:
    return [m for m in log
            if m["data"]["type"] == kind and m["data"]["payload"].get("step") == step]


def python_effect(path: Path, tag: str) -> dict[str, Any]:
    """A ``python`` tool call whose side effect is one line appended to ``path``."""
    code = f"open({str(path)!r}, 'a').write({tag + chr(10)!r}); print({tag!r})"
    return {"name": "python", "arguments": {"code": code}}


async def gather(*aws: Any) -> list[Any]:
    return list(await asyncio.gather(*aws))
