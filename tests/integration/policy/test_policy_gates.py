"""Enforcement at the gates by the real OPA server: the tool broker (tool allowed,
egress host allowed for ``http_fetch`` against a local HTTP server, a policy's own
Rego rule), the Memory Gateway (a memory write), each refused with the rule named,
audited as ``PolicyDenied``, counted in the metrics, and shipped in OPA's decision log."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from edge_helpers import Tenant
from policy_helpers import activate, events, mint_under, unique_policy
from prometheus_client import generate_latest
from redis import asyncio as aioredis

from somagent.credentials import service_token
from somagent.events.catalog import GATEWAY_AUDIT, MEMORY, POLICY_DECISIONS
from somagent.events.codec import EventCodec
from somagent.kafka.producer import EventProducer
from somagent.serve.tool_wiring import tool_broker
from somagent.stack.stack import RunningStack
from somagent.tools.calc import calc_tool
from somagent.tools.http_fetch import http_fetch_tool
from somagent.tools.registry import ToolRegistry
from somagent.turns.state import ToolCall
from somagent.wait import until_async

pytestmark = pytest.mark.integration

NO_ADMIN = 'deny contains "no-admin-paths" if {\n  input.action == "tool"\n' \
           '  contains(input.arguments.url, "/admin")\n}'


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello from {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 (a free port) for ``http_fetch``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def _session(client: httpx.AsyncClient, stack: RunningStack, tenant: Tenant,
                   document: dict[str, Any]) -> tuple[str, str]:
    hash_ = await activate(client, stack.settings, document)
    minted = await mint_under(client, tenant, hash_)
    assert minted.status_code == 200, minted.text
    return hash_, str(minted.json()["session_id"])


async def test_tool_and_egress_refused_by_the_session_policy(
        client: httpx.AsyncClient, stack: RunningStack, tenant: Tenant, codec: EventCodec,
        web: str) -> None:
    settings = stack.settings
    document = unique_policy("egress", tools=["http_fetch"], hosts=["127.0.0.1"], rego=NO_ADMIN)
    hash_, session = await _session(client, stack, tenant, document)
    redis = aioredis.Redis.from_url(settings.redis_dsn)
    producer = EventProducer(settings, codec)
    broker = tool_broker(settings, redis, ToolRegistry([calc_tool(), http_fetch_tool()]),
                         append=producer.append)
    port = web.rsplit(":", 1)[1]

    async def call(tool: str, arguments: dict[str, Any]) -> Any:
        return await broker.invoke(
            ToolCall(0, tool, arguments, call_id=uuid.uuid4().hex), tenant=tenant.tenant,
            idem_key=uuid.uuid4().hex, timeout_ms=10_000, turn_id=str(uuid.uuid4()),
            session=session)

    try:
        ok = await call("http_fetch", {"url": f"http://{web}/page"})
        assert ok.ok, ok.error
        assert ok.output["status"] == 200 and ok.output["body"] == "hello from /page"
        outside = f"http://localhost:{port}/page"  # the same server, a name not on the list
        cases = [("http_fetch", {"url": outside}, "egress-host-not-allowed"),
                 ("calc", {"expression": "1+1"}, "tool-not-allowed"),
                 ("http_fetch", {"url": f"http://{web}/admin"}, "no-admin-paths")]
        for tool, arguments, rule in cases:
            refused = await call(tool, arguments)
            assert not refused.ok and refused.error_code == "policy-denied", refused
            assert hash_ in refused.error and rule in refused.error
            audited = await events(settings, codec, GATEWAY_AUDIT, "PolicyDenied",
                                   policy_hash=hash_, rule=rule, path=f"tool:{tool}")
            assert str(audited[0]["session"]) == session
        # A session nobody minted has no policy: refused.
        ghost = await broker.invoke(ToolCall(0, "calc", {"expression": "1"}, call_id="g"),
                                    tenant=tenant.tenant, idem_key=uuid.uuid4().hex,
                                    timeout_ms=5_000, session=str(uuid.uuid4()))
        assert ghost.error_code == "policy-denied" and "unknown or expired" in ghost.error
    finally:
        await broker.policy.gate.opa.close()  # type: ignore[union-attr]
        await redis.aclose()
        producer.close()
    metrics = generate_latest().decode()
    for rule in ("egress-host-not-allowed", "tool-not-allowed", "no-admin-paths"):
        assert (f'somagent_policy_decisions_total{{outcome="denied",point="tool",rule="{rule}"}}'
                in metrics), rule
    assert 'somagent_policy_decisions_total{outcome="accepted",point="tool",rule="none"}' in metrics

    # OPA's decision log reaches policy.decisions through the policy role.
    logged = await events(settings, codec, POLICY_DECISIONS, "PolicyDecisionLogged",
                          timeout_s=60, policy_hash=hash_, allowed=False,
                          rules=["egress-host-not-allowed"])
    assert logged[0]["payload"]["path"] == "somagent/gate/decision"
    assert str(logged[0]["tenant"]) == tenant.tenant
    # Only the gates' decisions are logged (OPA's drop rule), not the sync's data reads.
    every = await events(settings, codec, POLICY_DECISIONS, "PolicyDecisionLogged", want=0,
                         timeout_s=10)
    assert {e["payload"]["path"] for e in every} == {"somagent/gate/decision"}


async def test_memory_write_refused_by_a_read_only_policy(
        client: httpx.AsyncClient, stack: RunningStack, tenant: Tenant, codec: EventCodec
) -> None:
    settings = stack.settings
    hash_ = await activate(client, settings, unique_policy("readonly", tools=["calc"],
                                                            memory="read"))
    minted = (await mint_under(client, tenant, hash_)).json()
    session = str(minted["session_id"])
    request_id = str(uuid.uuid4())
    body = {"tenant": tenant.tenant, "text": "Remember that the vault code is 1234.",
            "source": "test", "trace_id": uuid.uuid4().hex, "session": session,
            "request_id": request_id}
    auth = {"Authorization": f"Bearer {service_token(settings.home_dir)}"}
    async with httpx.AsyncClient(base_url=settings.memory_url, timeout=30) as gateway:
        r = await gateway.post("/v1/remember", json=body, headers=auth)
        assert r.status_code == 403, r.text
        assert r.json()["type"].endswith("/policy-denied")
        assert "memory-write-not-allowed" in r.json()["detail"] and hash_ in r.json()["detail"]
        # Under the default policy (read-write) the same write is accepted.
        _, writable = await _session(client, stack, tenant,
                                     unique_policy("rw", tools=["calc"], memory="read-write"))
        ok = await gateway.post("/v1/remember", headers=auth, json={
            **body, "session": writable, "request_id": str(uuid.uuid4())})
        assert ok.status_code == 202, ok.text
        metrics = (await gateway.get("/metrics")).text
    await events(settings, codec, GATEWAY_AUDIT, "PolicyDenied", policy_hash=hash_,
                 rule="memory-write-not-allowed", path="memory.write")
    # Through the edge (session token): the same refusal, 403 with hash and rule.
    r = await client.post("/v1/memory/remember", json={"text": "Remember this."},
                          headers={"Authorization": f"Bearer {minted['jwt']}"})
    assert r.status_code == 403 and r.json()["type"].endswith("/policy-denied"), r.text
    assert r.json()["rule"] == "memory-write-not-allowed" and r.json()["policy_hash"] == hash_
    # A read-only policy still reads; a policy with memory off does not.
    read = await client.post("/v1/memory/recall", json={"query": "vault code"},
                             headers={"Authorization": f"Bearer {minted['jwt']}"})
    assert read.status_code == 200, read.text
    off = await activate(client, settings, unique_policy("nomemory", tools=["calc"], memory="off"))
    blind = (await mint_under(client, tenant, off)).json()
    r = await client.post("/v1/memory/recall", json={"query": "vault code"},
                          headers={"Authorization": f"Bearer {blind['jwt']}"})
    assert r.status_code == 403 and r.json()["rule"] == "memory-read-not-allowed", r.text
    await events(settings, codec, GATEWAY_AUDIT, "PolicyDenied", policy_hash=off,
                 rule="memory-read-not-allowed", path="/v1/memory/recall")
    # The brain's evaluate returns memory evidence too: the same read gate refuses it.
    r = await client.post("/v1/brain/evaluate", json={"query": "vault code"},
                          headers={"Authorization": f"Bearer {blind['jwt']}"})
    assert r.status_code == 403 and r.json()["rule"] == "memory-read-not-allowed", r.text
    await events(settings, codec, GATEWAY_AUDIT, "PolicyDenied", policy_hash=off,
                 rule="memory-read-not-allowed", path="/v1/brain/evaluate")
    # The refused write appended nothing to memory.events.
    written = await events(settings, codec, MEMORY, "MemoryRememberRequested", want=0,
                           timeout_s=10)
    assert request_id not in {str(e["event_id"]) for e in written}
    assert ('somagent_policy_decisions_total{outcome="denied",point="memory",'
            'rule="memory-write-not-allowed"}') in metrics

    async def logged() -> list[dict[str, Any]] | None:
        found = await events(settings, codec, POLICY_DECISIONS, "PolicyDecisionLogged",
                             want=0, timeout_s=5, policy_hash=hash_, action="memory.write")
        return found or None

    await until_async(logged, timeout_s=60, what="the memory decision in policy.decisions")


async def test_a_batch_policy_makes_its_sessions_batch(
        client: httpx.AsyncClient, stack: RunningStack, tenant: Tenant
) -> None:
    """Turn admission's lane comes from the plan and the policy: a session minted under
    a policy whose ``lane`` is ``batch`` is batch (shed first), even on an interactive
    plan and even when it asks for interactive; the answer lists the lowered lane."""
    document = unique_policy("batchlane", tools=["calc"])
    document["data"]["lane"] = "batch"
    hash_ = await activate(client, stack.settings, document)
    plain = await mint_under(client, tenant, hash_)
    assert plain.status_code == 200 and plain.json()["lane"] == "batch", plain.text
    asked = await client.post("/v1/session/mint", headers={
        "Authorization": f"Bearer {tenant.api_key}"}, json={
        "tenant": tenant.tenant, "persona_hash": "sha256-" + "0" * 64, "policy_hash": hash_,
        "budgets": {"tokens": 1000, "tools_per_min": 60}, "lane": "interactive"})
    assert asked.status_code == 200, asked.text
    assert asked.json()["lane"] == "batch" and "lane" in asked.json()["clamped"]
    claims = jwt.decode(asked.json()["jwt"], options={"verify_signature": False})
    assert claims["lane"] == "batch"
