"""The Memory Gateway as a real child process (``somagent serve memory``) on the session's
Kafka, through :class:`MemoryGatewayClient` and raw HTTP, for both embedded engines."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from gateway_process import GatewayProcess, memory_events

from somagent.config import Settings
from somagent.credentials import service_token
from somagent.events.codec import EventCodec
from somagent.memory.client import MemoryGatewayClient, MemoryGatewayError, Recall
from somagent.memory.exceptions import InvalidRecallRequest, InvalidRememberRequest
from somagent.memory.remember import MEMORY_REMEMBER_REQUESTED

pytestmark = pytest.mark.integration

WAIT_MS = 30_000  # the first request may wait for the gateway's Faust group to form


def trace() -> str:
    return uuid.uuid4().hex


def new_tenant() -> str:
    return str(uuid.uuid4())


@pytest.fixture(scope="module", params=["edge", "local"])
def gateway(
    request: pytest.FixtureRequest, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    process = GatewayProcess(
        settings, tmp_path_factory.mktemp(f"gw-{request.param}"), vector_engine=request.param
    )
    process.start()
    yield process
    process.stop()


def _client(gateway: GatewayProcess) -> MemoryGatewayClient:
    return MemoryGatewayClient(
        gateway.url, service_token(gateway.settings.home_dir), timeout_s=30.0
    )


@pytest.fixture
async def client(gateway: GatewayProcess) -> AsyncIterator[MemoryGatewayClient]:
    c = _client(gateway)
    yield c
    await c.aclose()


async def test_remember_then_recall_is_tenant_isolated(client: MemoryGatewayClient) -> None:
    recall: Recall = client  # what the worker, the edge and memory.search depend on
    a, b = new_tenant(), new_tenant()
    fact = "The launch of project Orion is on Friday in Lisbon"
    receipt = await client.remember(a, fact, source="test", trace_id=trace(), wait_ms=WAIT_MS)
    assert receipt.status == "remembered" and receipt.position.count("-") == 1
    assert receipt.size_bytes == len(fact)
    evidence = await recall.recall(a, "when is the Orion launch?", 3)
    assert [e.memory_id for e in evidence] == [receipt.memory_id]
    assert evidence[0].text == fact and evidence[0].source == "unknown"
    assert 0.3 < evidence[0].score <= 1.0
    assert await recall.recall(b, fact, 50) == []
    other = await client.remember(
        b, fact + " (b)", source="test", trace_id=trace(), wait_ms=WAIT_MS
    )
    assert other.status == "remembered" and other.memory_id != receipt.memory_id
    assert [e.memory_id for e in await recall.recall(a, fact, 50)] == [receipt.memory_id]
    again = await client.remember(a, fact.upper(), source="test", trace_id=trace(), wait_ms=WAIT_MS)
    assert (again.status, again.reason_code, again.memory_id) == (
        "rejected", "duplicate", receipt.memory_id,
    )


async def test_capsule_filters(client: MemoryGatewayClient) -> None:
    tenant = new_tenant()
    for text, capsule in [("Capsule one says the sky is green", "c1"),
                          ("Capsule two says the sky is purple", "c2"),
                          ("Outside any capsule the sky is blue", None)]:
        receipt = await client.remember(
            tenant, text, source="test", trace_id=trace(), capsule_id=capsule, wait_ms=WAIT_MS
        )
        assert receipt.status == "remembered"
    assert len(await client.recall(tenant, "what colour is the sky", 10)) == 3
    only_c2 = await client.recall(tenant, "what colour is the sky", 10, ["c2"])
    assert [e.capsule_id for e in only_c2] == ["c2"]
    both = await client.recall(tenant, "sky", 10, ["c1", "c2"])
    assert sorted(e.capsule_id or "" for e in both) == ["c1", "c2"]
    assert await client.recall(tenant, "sky", 10, []) == []
    assert await client.recall(tenant, "sky", 10, ["nope"]) == []


async def test_pii_is_redacted_by_the_gateway(client: MemoryGatewayClient) -> None:
    tenant = new_tenant()
    receipt = await client.remember(
        tenant, "Send the contract to alice@example.com today", source="test",
        trace_id=trace(), wait_ms=WAIT_MS,
    )
    evidence = await client.recall(tenant, "alice@example.com", 1)
    assert evidence[0].memory_id == receipt.memory_id
    assert "alice@example.com" not in evidence[0].text and "pii:" in evidence[0].text


def _problem(response: httpx.Response, status: int, slug: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == f"https://somagent.dev/problems/{slug}" and body["status"] == status
    return str(body["detail"])


async def test_bad_input_is_a_problem_and_appends_nothing(
    gateway: GatewayProcess, client: MemoryGatewayClient, settings: Settings
) -> None:
    tenant = new_tenant()
    auth = {"Authorization": f"Bearer {service_token(gateway.settings.home_dir)}"}
    good = {"tenant": tenant, "text": "fine", "source": "test", "trace_id": trace()}
    async with httpx.AsyncClient(base_url=gateway.url, headers=auth, timeout=30) as http:
        recall_bad = [({"query": "q"}, "tenant"), ({"tenant": tenant, "query": "q", "top_k": 0},
                      "top_k"), ({"tenant": tenant, "query": "   "}, "empty")]
        for body, named in recall_bad:
            assert named in _problem(await http.post("/v1/recall", json=body), 422, "invalid-body")
        response = await http.post(
            "/v1/recall", content=b"{nope", headers={"content-type": "application/json"}
        )
        _problem(response, 400, "malformed-json")
        remember_bad = [({**good, "tenant": "not-a-uuid"}, "tenant"),
                        ({**good, "trace_id": "0" * 32}, "trace_id"),
                        ({**good, "source": "bad source!"}, "source"),
                        ({**good, "wait_ms": 10**9}, "wait_ms"),
                        ({**good, "surprise": 1}, "surprise")]
        for body, named in remember_bad:
            detail = _problem(await http.post("/v1/remember", json=body), 422, "invalid-body")
            assert named in detail
        too_big = {**good, "text": "ü" * 5000}  # 5000 characters, 10000 UTF-8 bytes
        assert "bytes" in _problem(await http.post("/v1/remember", json=too_big), 413,
                                   "body-too-large")
        _problem(await http.get("/v1/nothing"), 404, "not-found")
    with pytest.raises(InvalidRecallRequest):
        await client.recall(tenant, "q", 51)
    with pytest.raises(InvalidRememberRequest):
        await client.remember(tenant, "ü" * 5000, source="test", trace_id=trace())
    # One good request afterwards: the only events of this tenant are it and its decision.
    receipt = await client.remember(tenant, "the one good fact", source="test",
                                    trace_id=trace(), wait_ms=WAIT_MS)
    events = await asyncio.to_thread(
        memory_events, settings, EventCodec(), lambda e: str(e["tenant"]) == tenant
    )
    assert events and events[0]["type"] == MEMORY_REMEMBER_REQUESTED
    assert {str(e["event_id"]) for e in events if e["type"] == MEMORY_REMEMBER_REQUESTED} == {
        receipt.request_id
    }


async def test_credentials_are_required(gateway: GatewayProcess) -> None:
    body = {"tenant": new_tenant(), "query": "anything"}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        _problem(await http.post("/v1/recall", json=body), 401, "unauthorized")
        wrong = {"Authorization": "Bearer not-the-service-token"}
        _problem(await http.post("/v1/recall", json=body, headers=wrong), 401, "invalid-token")
        basic = {"Authorization": "Basic c2VydmljZTp4"}
        _problem(await http.post("/v1/remember", json=body, headers=basic), 401, "invalid-token")
    stranger = MemoryGatewayClient(gateway.url, "not-the-service-token")
    with pytest.raises(MemoryGatewayError) as caught:
        await stranger.recall(body["tenant"], "anything")
    assert caught.value.status == 401
    await stranger.aclose()


async def test_healthz_and_metrics(gateway: GatewayProcess, client: MemoryGatewayClient) -> None:
    tenant = new_tenant()
    await client.remember(tenant, "metrics fact", source="test", trace_id=trace(), wait_ms=WAIT_MS)
    await client.recall(tenant, "metrics", 1)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        await http.post("/v1/recall", json={"tenant": tenant, "query": "x"})  # no credential
        health = (await http.get("/healthz")).json()
        metrics = (await http.get("/metrics")).text
    assert health["engine"] == gateway.settings.vector_engine and health["points"] >= 1
    assert health["collection"] == "memories-minilm-l6-int8" and health["projector"]
    assert set(health["consumer_lag"]) == set(health["projector"])
    assert "somagent_memory_recall_duration_seconds_bucket" in metrics
    assert 'somagent_memory_remember_requests_total{outcome="remembered"}' in metrics
    assert 'somagent_memory_errors_total{kind="unauthorized",route="recall"}' in metrics


async def test_same_answers_as_the_in_process_recaller(client: MemoryGatewayClient) -> None:
    """The client rebuilds the gateway's blocks with exact score and creation time."""
    tenant = new_tenant()
    receipt = await client.remember(tenant, "Invoices are paid on the first Monday",
                                    source="test", trace_id=trace(), wait_ms=WAIT_MS)
    [block] = await client.recall(tenant, "when are invoices paid", 1)
    assert block.memory_id == receipt.memory_id and block.created_at_us > 0
    assert isinstance(block.score, float) and block.to_dict()["text"] == block.text
