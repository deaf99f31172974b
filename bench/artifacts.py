"""Capsule upload and revoke timings against a private real stack, with same-run baselines.

Starts a throw-away stack (Kafka, Postgres, Redis, the versitygw S3 server, the
Memory Gateway, the analytics service) and the edge in this process (uvicorn in a
thread), registers a key and, ``--rounds`` times:

* uploads a signed capsule of ``--blocks`` blocks (``POST /v1/memory/capsule/upload``
  answers once every block is recallable); baseline: the same number of
  ``remember(wait_ms)`` calls straight to the Memory Gateway, 8 at a time, as the
  upload makes them;
* revokes it (``DELETE``) and polls recall (every 5 ms) until no block of the capsule
  comes back: the **revoke delay**; baseline: one ``remember(wait_ms)`` (append to
  ``memory.events`` → applied by the gateway's memory agent), the same path;
* verifies the capsule's DSSE signature in process (securesystemslib); baseline: a
  bare Ed25519 verify of the same bytes (cryptography).

Prints one JSON object (medians and P95 in ms, ratios). Timings are never asserted.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from somagent.api.app import create_app  # noqa: E402
from somagent.api.settings import EdgeSettings  # noqa: E402
from somagent.api.tenants import create_tenant  # noqa: E402
from somagent.artifacts import signing  # noqa: E402
from somagent.artifacts.publisher import public_jwk, signed  # noqa: E402
from somagent.config import Settings  # noqa: E402
from somagent.memory.client import MemoryGatewayClient  # noqa: E402
from somagent.policy.defaults import DEFAULT_POLICY_HASH  # noqa: E402
from somagent.stack.process import free_port  # noqa: E402
from somagent.stack.testing import throwaway_stack  # noqa: E402
from somagent.wait import until  # noqa: E402


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 3),
            "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
            "n": len(ordered)}


def _capsule(capsule_id: str, blocks: int) -> dict[str, Any]:
    return {"kind": "capsule", "id": capsule_id, "version": "1.0.0", "name": "bench",
            "memory_blocks": [{"id": f"b{i}", "text": f"Bench fact {i} of {capsule_id}: "
                               f"the value of item {i} is {i * 7}."} for i in range(blocks)]}


async def _tenant(settings: Settings) -> tuple[str, str]:
    import asyncpg

    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        tenant, key = await create_tenant(conn, f"bench-{uuid.uuid4().hex[:6]}")
    finally:
        await conn.close()
    return tenant.tenant_id, key


async def _baseline_remember(settings: Settings, tenant: str, blocks: int) -> float:
    client = MemoryGatewayClient.from_settings(settings)
    gate = asyncio.Semaphore(8)
    tag = uuid.uuid4().hex

    async def one(i: int) -> None:
        async with gate:
            await client.remember(tenant, f"baseline {tag} fact {i} value {i * 3}",
                                  source="bench", trace_id=uuid.uuid4().hex, wait_ms=15_000)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(blocks)))
        return (time.perf_counter() - started) * 1000
    finally:
        await client.aclose()


async def _rounds(url: str, settings: Settings, rounds: int, blocks: int) -> dict[str, Any]:
    tenant, api_key = await _tenant(settings)
    admin = {"Authorization": f"Bearer {api_key}"}
    key = Ed25519PrivateKey.generate()
    upload_ms, revoke_ms, base_upload_ms, base_one_ms = [], [], [], []
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        (await client.post("/v1/keys", headers=admin,
                           json={"public_key": public_jwk(key)})).raise_for_status()
        for _ in range(rounds):
            capsule_id = f"bench-{uuid.uuid4().hex[:10]}"
            envelope = signed(_capsule(capsule_id, blocks), key)
            started = time.perf_counter()
            (await client.post("/v1/memory/capsule/upload", headers=admin,
                               json=envelope)).raise_for_status()
            upload_ms.append((time.perf_counter() - started) * 1000)
            base_upload_ms.append(await _baseline_remember(settings, tenant, blocks))
            base_one_ms.append(await _baseline_remember(settings, tenant, 1))
            mint = await client.post("/v1/session/mint", headers=admin, json={
                "tenant": tenant, "persona_hash": "sha256-" + "0" * 64,
                "policy_hash": DEFAULT_POLICY_HASH, "capsule_ids": [capsule_id],
                "budgets": {"tokens": 1000, "tools_per_min": 1}})
            auth = {"Authorization": f"Bearer {mint.json()['jwt']}"}
            body = {"query": "bench fact value", "capsule_ids": [capsule_id]}
            started = time.perf_counter()
            (await client.delete(f"/v1/memory/capsule/{capsule_id}",
                                 headers=admin)).raise_for_status()
            while (await client.post("/v1/memory/recall", headers=auth,
                                     json=body)).json()["evidence"]:
                await asyncio.sleep(0.005)
            revoke_ms.append((time.perf_counter() - started) * 1000)
    return {"upload_ms": upload_ms, "revoke_ms": revoke_ms, "base_upload_ms": base_upload_ms,
            "base_one_ms": base_one_ms, "envelope": envelope, "key": key}


def _verify_us(envelope: dict[str, Any], key: Ed25519PrivateKey, n: int = 300) -> tuple[float,
                                                                                        float]:
    keys = {signing.thumbprint(key.public_key()): key.public_key()}
    parsed = signing.parse_envelope(envelope)
    started = time.perf_counter()
    for _ in range(n):
        signing.verify(parsed, keys)
    dsse = (time.perf_counter() - started) / n * 1e6
    pae = parsed.pae()
    sig = key.sign(pae)
    started = time.perf_counter()
    for _ in range(n):
        key.public_key().verify(sig, pae)
    return dsse, (time.perf_counter() - started) / n * 1e6


def run(rounds: int, blocks: int) -> dict[str, Any]:
    with throwaway_stack(partitions=3, prefix="somagent-bench-artifacts-") as settings:
        port = free_port()
        app = create_app(settings, EdgeSettings())
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{port}"
        until(lambda: httpx.get(url + "/healthz").status_code == 200, timeout_s=60,
              what="edge")
        try:
            got = asyncio.run(_rounds(url, settings, rounds, blocks))
        finally:
            server.should_exit = True
            thread.join(30)
    dsse_us, raw_us = _verify_us(got["envelope"], got["key"])
    upload, base_upload = _ms(got["upload_ms"]), _ms(got["base_upload_ms"])
    revoke, base_one = _ms(got["revoke_ms"]), _ms(got["base_one_ms"])
    return {
        "blocks_per_capsule": blocks,
        "upload_ms": upload, "baseline_remember_blocks_ms": base_upload,
        "upload_ratio_p50": round(upload["p50"] / base_upload["p50"], 2),
        "revoke_to_no_recall_ms": revoke, "baseline_one_remember_applied_ms": base_one,
        "revoke_ratio_p50": round(revoke["p50"] / base_one["p50"], 2),
        "dsse_verify_us": round(dsse_us, 1), "raw_ed25519_verify_us": round(raw_us, 1),
        "verify_ratio": round(dsse_us / raw_us, 2),
        "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="5 rounds")
    args = parser.parse_args()
    print(json.dumps(run(5 if args.quick else args.rounds, args.blocks), indent=2))


if __name__ == "__main__":
    main()
