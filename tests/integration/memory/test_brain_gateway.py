"""The brain through a real Memory Gateway process (semantic embedder, Qdrant Edge, Kafka):
evaluate → ContextBundle, feedback → events and weights, bad input changes nothing,
tenant and capsule isolation of the weights, rollback on a held-out drop, replay."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from gateway_process import GatewayProcess, memory_events

from somagent.config import Settings
from somagent.contract import names
from somagent.credentials import service_token
from somagent.kafka.schema_log import kafka_codec
from somagent.memory.client import MemoryGatewayClient

pytestmark = pytest.mark.integration

FACTS = [
    "Priya Okafor cannot eat peanuts without a bad reaction.",
    "Priya Okafor works for a shipping firm.",
    "Priya Okafor keeps a grey parrot at home.",
    "Priya Okafor plays the cello.",
]


@pytest.fixture(scope="module")
def gateway(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    process = GatewayProcess(settings, tmp_path_factory.mktemp("gw-brain"), embedder="semantic")
    process.start()
    yield process
    process.stop()


@pytest.fixture
async def client(gateway: GatewayProcess) -> AsyncIterator[MemoryGatewayClient]:
    c = MemoryGatewayClient(gateway.url, service_token(gateway.settings.home_dir), timeout_s=60)
    yield c
    await c.aclose()


async def _remember(client: MemoryGatewayClient, tenant: str, capsule: str | None = None) -> None:
    for text in FACTS:
        receipt = await client.remember(
            tenant,
            text,
            source="test",
            trace_id=uuid.uuid4().hex,
            capsule_id=capsule,
            wait_ms=30_000,
        )
        assert receipt.status == "remembered", receipt


def _post(gateway: GatewayProcess, path: str, body: dict) -> httpx.Response:
    token = service_token(gateway.settings.home_dir)
    return httpx.post(
        f"{gateway.url}{path}", json=body, timeout=60, headers={"Authorization": f"Bearer {token}"}
    )


async def test_evaluate_feedback_and_bad_input(
    gateway: GatewayProcess, client: MemoryGatewayClient
) -> None:
    tenant = str(uuid.uuid4())
    await _remember(client, tenant)
    bundle = await client.evaluate_bundle(
        tenant, "Which food must Priya Okafor stay away from?", top_k=3, directives=["be brief"]
    )
    top = bundle["evidence"][0]
    assert "peanuts" in top["text"]  # semantic: shares only the name with the question
    assert set(top["features"]) == {
        "semantic",
        "rho",
        "recency",
        "importance",
        "conductance",
        "lexical",
    }
    assert 0.0 < top["confidence"] < 1.0 and top["trace_id"] and "capsule_id" in top
    assert "be brief" in bundle["prompt"] and f"[mem:{top['memory_id']}]" in bundle["prompt"]
    # The turn engine's view: blocks ranked by the brain.
    blocks = await client.evaluate(tenant, "Which food must Priya Okafor stay away from?", 3)
    assert blocks[0].memory_id == top["memory_id"]

    codec = kafka_codec(gateway.settings)

    def brain_events() -> list[dict]:
        return memory_events(
            gateway.settings,
            codec,
            lambda e: (
                str(e["tenant"]) == tenant
                and e["type"] in (names.BRAIN_FEEDBACK_GIVEN, names.BRAIN_WEIGHTS_UPDATED)
            ),
        )

    # Bad input (unknown bundle or evidence, weights out of bounds): a problem, nothing appended.
    r = _post(
        gateway,
        "/v1/brain/feedback",
        {"tenant": tenant, "bundle_id": str(uuid.uuid4()), "useful": [top["memory_id"]]},
    )
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/bundle-not-found")
    r = _post(
        gateway,
        "/v1/brain/feedback",
        {"tenant": tenant, "bundle_id": bundle["bundle_id"], "useful": [str(uuid.uuid4())]},
    )
    assert r.status_code == 422 and r.json()["type"].endswith("/unknown-evidence")
    r = _post(
        gateway,
        "/v1/brain/evaluate",
        {"tenant": tenant, "query": "x", "weights": [9, 0, 0, 0, 0, 0, 0.1]},
    )
    assert r.status_code == 422 and r.json()["type"].endswith("/weights-out-of-bounds")
    other = str(uuid.uuid4())  # another tenant cannot give feedback on this bundle
    r = _post(
        gateway,
        "/v1/brain/feedback",
        {"tenant": other, "bundle_id": bundle["bundle_id"], "useful": [top["memory_id"]]},
    )
    assert r.status_code == 404
    assert brain_events() == []

    answer = await client.feedback(tenant, bundle["bundle_id"], [top["memory_id"]])
    assert answer["step"] == 1 and set(answer["weights"]) == {
        "lambda",
        "mu",
        "nu",
        "alpha",
        "beta",
        "gamma",
        "tau",
    }
    events = brain_events()
    assert [e["type"] for e in events] == [names.BRAIN_FEEDBACK_GIVEN, names.BRAIN_WEIGHTS_UPDATED]
    assert events[0]["payload"]["useful_ids"] == [top["memory_id"]]
    metrics = httpx.get(f"{gateway.url}/metrics").text
    assert "somabrain_feedback_updates_total" in metrics
    assert "somabrain_recall_latency_seconds_bucket" in metrics


async def test_weights_are_isolated_per_tenant_and_capsule(
    gateway: GatewayProcess, client: MemoryGatewayClient
) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    await _remember(client, a, capsule="cap-a")
    await _remember(client, b)
    prior = (await client.evaluate_bundle(b, "What music does Priya Okafor make?"))["weights"]
    bundle = await client.evaluate_bundle(
        a, "What music does Priya Okafor make?", capsule_ids=["cap-a"]
    )
    assert bundle["scope"] == "cap-a"
    useful = [e["memory_id"] for e in bundle["evidence"] if "cello" in e["text"]]
    changed = None
    for _ in range(6):  # a few steps (held-out ones do not step)
        again = await client.evaluate_bundle(
            a, "What music does Priya Okafor make?", capsule_ids=["cap-a"]
        )
        changed = await client.feedback(a, again["bundle_id"], useful)
    assert changed is not None
    after_a = (await client.evaluate_bundle(a, "cello", capsule_ids=["cap-a"]))["weights"]
    assert after_a != prior
    # The tenant's own scope of a, and tenant b, still have the initial weights.
    assert (await client.evaluate_bundle(a, "cello"))["weights"] == prior
    assert (await client.evaluate_bundle(b, "cello"))["weights"] == prior
