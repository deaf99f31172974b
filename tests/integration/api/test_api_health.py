"""Liveness, readiness (with a server really stopped), metrics and the OpenAPI document."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable

import httpx
import pytest
import redis
from edge_helpers import Engine, Server, Tenant, mint, run_turn, sha

from somagent.api.openapi import document
from somagent.api.problems import TYPES
from somagent.policy.defaults import DEFAULT_POLICY_HASH
from somagent.stack.process import free_port
from somagent.stack.redis_server import redis_server_binary
from somagent.stack.stack import RunningStack
from somagent.wait import until

pytestmark = pytest.mark.integration

COMPONENTS = {"kafka", "postgres", "redis", "clickhouse", "memory"}


async def test_healthz_and_readyz_when_everything_answers(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready" and set(body["checks"]) == COMPONENTS
    assert all(c["ok"] and c["latency_ms"] >= 0 for c in body["checks"].values())


async def test_readyz_is_503_naming_the_stopped_server(
    server_factory: Callable[..., Server], stack: RunningStack,
    tmp_path_factory: pytest.TempPathFactory, tenant: Tenant,
) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path_factory.mktemp("redis-ready"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        until(lambda: redis.Redis.from_url(url).ping(), timeout_s=20, what="private redis")
        own = server_factory(stack.settings.model_copy(update={"redis_url": url}),
                             readiness_timeout_s=1.0)
        async with httpx.AsyncClient(base_url=own.url, timeout=30) as c:
            assert (await c.get("/readyz")).status_code == 200
            proc.terminate()
            proc.wait(10)
            r = await c.get("/readyz")
            assert r.status_code == 503
            checks = r.json()["checks"]
            assert r.json()["status"] == "unavailable"
            assert not checks["redis"]["ok"] and checks["redis"]["detail"]
            assert all(checks[n]["ok"] for n in COMPONENTS - {"redis"})
            assert (await c.get("/healthz")).status_code == 200  # alive, just not ready
            # A request that needs Redis is a 503 problem, not a 500.
            auth = {"Authorization": f"Bearer {tenant.api_key}"}
            r = await c.post("/v1/session/mint", headers=auth,
                             json={"tenant": tenant.tenant, "persona_hash": sha("p"),
                                   "policy_hash": DEFAULT_POLICY_HASH,
                                   "budgets": {"tokens": 1, "tools_per_min": 1}})
            assert r.status_code == 503 and r.json()["type"].endswith("/dependency-unavailable")
            assert r.headers["retry-after"] == "1"
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


async def test_metrics_expose_requests_latency_streams_turns_and_denials(
    server_factory: Callable[..., Server], engine: Engine, tenant: Tenant
) -> None:
    own = server_factory()  # a fresh registry: figures below come from this test only
    async with httpx.AsyncClient(base_url=own.url, timeout=30) as client:
        session = await mint(client, tenant)
        await run_turn(client, engine, session)
        await client.post("/v1/turn", json={}, headers=session.auth)  # a denial
        r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    for needle in (
        'somagent_edge_requests_total{method="POST",route="/v1/turn",status="200"}',
        'somagent_edge_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/turn"}',
        "somagent_edge_turn_duration_seconds_count",
        "somagent_edge_sse_streams_open",
        'somagent_edge_sse_events_total{event="done"}',
        "somagent_edge_sse_event_delay_seconds_count",
        'somagent_edge_denials_total{reason="invalid-body"}',
        "somagent_edge_admission_utilisation",
        "somagent_edge_admission_p_wait",
        "somagent_edge_admission_wait_p95_seconds",
    ):
        assert needle in text, needle
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line and not line.startswith("#")}
    # The one streamed turn ended with the example TurnCompleted (1834 ms).
    assert values["somagent_edge_admission_service_rate"] == pytest.approx(1 / 1.834)
    assert values["somagent_edge_turn_duration_seconds_count"] == 1


async def test_openapi_31_describes_every_route(client: httpx.AsyncClient, edge: Server) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert doc == document()
    assert doc["openapi"] == "3.1.0"
    # Path convertors (``{job_id:uuid}``) are the router's; the document names the parameter.
    routes = {re.sub(r":\w+}", "}", r.path) for r in edge.app.routes}  # type: ignore[attr-defined]
    assert routes == set(doc["paths"])
    turn = doc["paths"]["/v1/turn"]["post"]
    assert turn["requestBody"]["content"]["application/json"]["schema"]["additionalProperties"] \
        is False
    assert {"401", "402", "413", "415", "422", "429", "503"} <= set(turn["responses"])
    mentioned = " ".join(r["description"] for p in doc["paths"].values() for op in p.values()
                         for r in op["responses"].values())
    assert all(t.uri in mentioned for t in TYPES.values()
               if t.slug not in {"internal", "not-found", "method-not-allowed"})
