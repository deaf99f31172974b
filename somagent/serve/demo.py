"""``somagent demo``: one real turn and one small job through the running platform.

Creates a demo tenant (Postgres), mints a session token (``POST /v1/session/mint``),
runs a turn (``POST /v1/turn``) and prints the raw Server-Sent Events as they
arrive, then asks recall (with the same text) until the memory the turn
remembered is visible: remember is acknowledged on the log first and projected
into Qdrant a moment later. Then it runs a small job (two parallel turns, an
approval the demo grants, a final tool step; :mod:`somagent.jobs.demo`) and prints
its log. Before minting it registers a policy and activates it with k of the
local constitution keys (issue 16). Then the marketplace: a signed capsule and an
agent that brings it are published, installed, and one turn runs through the agent
(:mod:`somagent.artifacts.demo`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import asyncpg
import httpx

from somagent.config import Settings
from somagent.exceptions import DeadlineExceeded
from somagent.serve.exceptions import DemoError
from somagent.serve.readiness import readiness
from somagent.wait import until


def _sha(text: str) -> str:
    return "sha256-" + hashlib.sha256(text.encode()).hexdigest()


async def _tenant(settings: Settings) -> tuple[str, str]:
    from somagent.api.tenants import create_tenant

    conn = await asyncpg.connect(settings.postgres_dsn, timeout=10)
    try:
        tenant, api_key = await create_tenant(conn, f"demo-{int(time.time())}", "free", "eu")
    finally:
        await conn.close()
    return tenant.tenant_id, api_key


def wait_ready(settings: Settings, timeout_s: float = 120.0) -> None:
    """Wait until the edge answers ``/readyz`` with 200."""

    def ready() -> bool:
        body = readiness(settings)
        return body is not None and body["http_status"] == 200

    until(ready, timeout_s=timeout_s, what=f"the edge at {settings.api_url}/readyz")


def _demo_policy(client: httpx.Client, settings: Settings) -> str:
    """Issue 16: register a policy and activate it with k constitution signatures."""
    from somagent.policy.demo import demo_policy, register_and_activate

    document = demo_policy("demo", tools=["calc", "memory.search"])
    try:
        policy = register_and_activate(client, settings, document)
    except RuntimeError as exc:
        raise DemoError(str(exc)) from exc
    k = settings.constitution_k
    print(f"# policy {policy}: registered, signed by {k} constitution keys, active")
    return policy


def run_demo(settings: Settings, text: str, *, job: bool = True) -> None:
    try:
        wait_ready(settings)
    except DeadlineExceeded as exc:
        raise DemoError(f"{exc}; is the platform running? (`somagent up`)") from exc
    tenant, api_key = asyncio.run(_tenant(settings))
    base = settings.api_url
    with httpx.Client(base_url=base, timeout=60) as client:
        policy = _demo_policy(client, settings)
        mint = client.post(
            "/v1/session/mint",
            headers={"Authorization": f"Bearer {api_key}"},
            json={
                "tenant": tenant,
                "persona_hash": _sha("demo persona"),
                "policy_hash": policy,
                "budgets": {"tokens": 100_000, "tools_per_min": 60},
            },
        )
        mint.raise_for_status()
        session = mint.json()
        auth = {"Authorization": f"Bearer {session['jwt']}"}
        print(f"# tenant {tenant}  session {session['session_id']}")
        print(f"# POST {base}/v1/turn  text={text!r}\n")
        body = {
            "session_id": session["session_id"],
            "inputs": {"text": text},
            "allow": {"tools": ["calc", "memory.search"], "memory": "readwrite"},
        }
        with client.stream("POST", "/v1/turn", headers=auth, json=body) as response:
            print(f"# {response.status_code} X-Turn-Id: {response.headers.get('x-turn-id')}")
            if response.status_code != 200:
                print(response.read().decode())
                raise DemoError(f"turn was refused with {response.status_code}")
            for line in response.iter_lines():
                print(line, flush=True)
        # Remember is asynchronous (guard, then projector); wait until recall sees it.
        print(f"\n# POST /v1/memory/recall  query={text!r}")
        found: dict[str, object] = {}

        def remembered() -> bool:
            reply = client.post("/v1/memory/recall", headers=auth, json={"query": text})
            found.update(reply.json())
            return reply.status_code == 200 and bool(found.get("evidence"))

        try:
            until(remembered, timeout_s=30.0, what="the remembered turn to be recallable")
        finally:
            print(json.dumps(found, indent=2))
        if job:
            from somagent.jobs.demo import run_job_demo

            run_job_demo(client, auth)
        # Issue 15: publish and install a small agent with a capsule; one turn through it.
        from somagent.artifacts.demo import run_marketplace_demo
        from somagent.policy.demo import register_and_activate

        try:
            run_marketplace_demo(client, tenant, api_key, activate=lambda document: (
                register_and_activate(client, settings, document)))
        except RuntimeError as exc:
            raise DemoError(str(exc)) from exc
