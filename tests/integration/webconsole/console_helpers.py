"""Helpers for the console tests: a live platform, real load through the edge, SQL to
cross-check what the browser shows, and headless Chromium (Debian's ``chromium``)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import httpx

from somagent.analytics.connect import analytics_client
from somagent.api.tenants import create_tenant
from somagent.config import Settings
from somagent.policy.defaults import DEFAULT_POLICY, DEFAULT_POLICY_HASH

T = TypeVar("T")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def somagent(
    settings: Settings, *args: str, timeout_s: float = 600
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **settings.to_env()}
    return subprocess.run([sys.executable, "-m", "somagent.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout_s, check=False)


def _sha(text: str) -> str:
    return "sha256-" + hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Tenant:
    tenant_id: str
    name: str
    api_key: str
    session_id: str = ""
    jwt: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.jwt}"}


def new_tenant(settings: Settings, client: httpx.Client, name: str) -> Tenant:
    """A tenant (Postgres) with a minted session (the edge)."""

    async def create() -> tuple[str, str]:
        conn = await asyncpg.connect(settings.postgres_dsn, timeout=10)
        try:
            tenant, key = await create_tenant(conn, name, "free", "eu")
        finally:
            await conn.close()
        return tenant.tenant_id, key

    tenant_id, key = _run(create())
    minted = client.post("/v1/session/mint", headers={"Authorization": f"Bearer {key}"}, json={
        "tenant": tenant_id, "persona_hash": _sha("console persona"),
        "policy_hash": DEFAULT_POLICY_HASH, "budgets": {"tokens": 50_000, "tools_per_min": 120}})
    minted.raise_for_status()
    body = minted.json()
    return Tenant(tenant_id, name, key, body["session_id"], body["jwt"])


def run_turn(client: httpx.Client, tenant: Tenant, text: str, memory: str = "readwrite") -> str:
    """One real turn through the edge, streamed to its ``done``; its turn id."""
    body = {"session_id": tenant.session_id, "inputs": {"text": text},
            "allow": {"tools": ["calc"], "memory": memory}}
    with client.stream("POST", "/v1/turn", headers=tenant.auth, json=body) as response:
        assert response.status_code == 200, response.read()
        lines = list(response.iter_lines())
    assert "event: done" in lines, lines[-5:]
    return str(response.headers["x-turn-id"])


def submit_waiting_job(client: httpx.Client, tenant: Tenant) -> str:
    """A job whose only step waits for an approval nobody gives: it stays in flight."""
    spec = {"name": "console: waits for approval",
            "steps": [{"name": "signoff", "approval": {"prompt": "ok?", "timeout_s": 3600}}]}
    created = client.post("/v1/jobs", json={"spec": spec}, headers=tenant.auth)
    assert created.status_code == 201, created.text
    return str(created.json()["job_id"])


def clickhouse_rows(settings: Settings, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    ch = analytics_client(settings, role="operator", timeout_s=30.0)
    try:
        return ch.query(sql, params)
    finally:
        ch.close()


def pg_rows(settings: Settings, sql: str, *args: Any) -> list[dict[str, Any]]:
    async def fetch() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(settings.postgres_dsn, timeout=10)
        try:
            return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return _run(fetch())


def _run(work: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own (Playwright's sync API owns this thread's loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def exact_quantile(values: list[float], q: float) -> float:
    """ClickHouse's ``quantileExact``: the element at ``floor(q * n)`` of the sorted values."""
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def as_number(text: str) -> float:
    return float(text.replace(",", "").replace("%", "").strip())


def uuid4() -> str:
    return str(uuid.uuid4())


def publish_and_use_agent(client: httpx.Client, tenant: Tenant, agent_id: str) -> str:
    """Publish and install a marketplace agent (signed), run one turn through it; the turn id."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from somagent.artifacts.publisher import agent_manifest, public_jwk, signed

    admin = {"Authorization": f"Bearer {tenant.api_key}"}
    key = Ed25519PrivateKey.generate()
    assert client.post("/v1/keys", headers=admin,
                       json={"public_key": public_jwk(key)}).status_code < 300
    manifest = agent_manifest(
        agent_id, "1.0.0", name="Console helper", persona="You compute.",
        policy=DEFAULT_POLICY, tools=["calc"],  # a session needs an active policy
        planner={"kind": "deterministic", "sla_ms": 10_000}, dependencies=["jsonschema"])
    published = client.post("/v1/agents/publish", headers=admin, json=signed(manifest, key))
    assert published.status_code < 300, published.text
    installed = client.post(f"/v1/agents/{agent_id}/install", headers=admin, json={})
    assert installed.status_code < 300, installed.text
    minted = client.post("/v1/session/mint", headers=admin, json={
        "tenant": tenant.tenant_id, "agent": agent_id,
        "budgets": {"tokens": 50_000, "tools_per_min": 60}})
    assert minted.status_code == 200, minted.text
    session = Tenant(tenant.tenant_id, tenant.name, tenant.api_key,
                     minted.json()["session_id"], minted.json()["jwt"])
    return run_turn(client, session, "What is 6 * 7?", memory="read")
