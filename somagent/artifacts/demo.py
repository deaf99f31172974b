"""The marketplace part of ``somagent demo``: sign and upload a capsule, publish an agent
that brings it, install it, mint a session for it and run one turn through it.

Every step is a real request to the running edge; the printed lines are what it answered.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from somagent.artifacts.publisher import agent_manifest, public_jwk, signed
from somagent.policy.demo import demo_policy

QUESTION = "What is the travel budget cap? Also what is 6 * 7?"


def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 300:
        raise RuntimeError(f"{what} was refused with {response.status_code}: {response.text}")
    body: dict[str, Any] = response.json()
    return body


def _capsule(capsule_id: str) -> dict[str, Any]:
    return {
        "kind": "capsule", "id": capsule_id, "version": "1.0.0", "name": "Demo handbook",
        "description": "Two facts the demo agent brings with it.",
        "memory_blocks": [
            {"id": "travel", "text": "The travel budget cap is 40000 euros per quarter."},
            {"id": "approvals", "text": "Invoices above 5000 euros need two approvals."},
        ],
    }


#: The demo agent's policy: a constitution policy document (docs/policy.md).
AGENT_POLICY: dict[str, Any] = demo_policy("demo-helper", tools=["calc", "memory.search"])


def run_marketplace_demo(client: httpx.Client, tenant: str, api_key: str,
                         activate: Callable[[dict[str, Any]], str] | None = None) -> None:
    """Publish, install and use a small agent with a capsule (prints each step).
    ``activate`` registers and activates the agent's policy document (issue 16: a
    session is minted only under an active policy)."""
    admin = {"Authorization": f"Bearer {api_key}"}
    key = Ed25519PrivateKey.generate()
    registered = _check(client.post("/v1/keys", headers=admin,
                                    json={"public_key": public_jwk(key)}), "key registration")
    print(f"\n# marketplace: signing key {registered['key_id']} registered")
    capsule_id, agent_id = f"handbook-{tenant[:8]}", f"helper-{tenant[:8]}"
    up = _check(client.post("/v1/memory/capsule/upload", headers=admin,
                            json=signed(_capsule(capsule_id), key, fmt="yaml")), "capsule upload")
    print(f"# capsule {capsule_id}@{up['version']} sha256 {up['sha256'][:16]}… "
          f"blocks {up['blocks']} blob {up['blob_key'][:20]}…")
    manifest = agent_manifest(
        agent_id, "1.0.0", name="Demo helper", persona="You answer from the handbook.",
        policy=AGENT_POLICY,
        tools=["calc", "memory.search"], capsules=[(capsule_id, "1.0.0")],
        planner={"kind": "deterministic", "sla_ms": 10_000}, dependencies=["jsonschema"],
    )
    published = _check(client.post("/v1/agents/publish", headers=admin,
                                   json=signed(manifest, key)), "agent publish")
    print(f"# agent {agent_id}@{published['version']} published (signed by {published['key_id']})")
    installed = _check(client.post(f"/v1/agents/{agent_id}/install", headers=admin, json={}),
                       "agent install")
    print(f"# installed {agent_id}@{installed['version']} with capsules {installed['capsule_ids']}")
    if activate is not None:
        print(f"# agent policy {activate(AGENT_POLICY)} active")
    minted = _check(client.post("/v1/session/mint", headers=admin, json={
        "tenant": tenant, "agent": agent_id, "budgets": {"tokens": 50_000, "tools_per_min": 60}}),
        "mint for the agent")
    print(f"# session {minted['session_id']} for agent {json.dumps(minted['agent'])}")
    auth = {"Authorization": f"Bearer {minted['jwt']}"}
    body = {"session_id": minted["session_id"], "inputs": {"text": QUESTION},
            "allow": {"tools": ["calc", "memory.search"], "memory": "read"}}
    print(f"# POST /v1/turn as {agent_id}  text={QUESTION!r}\n")
    with client.stream("POST", "/v1/turn", headers=auth, json=body) as response:
        if response.status_code != 200:
            raise RuntimeError(f"agent turn refused with {response.status_code}: "
                               f"{response.read().decode()}")
        for line in response.iter_lines():
            print(line, flush=True)
    catalog = _check(client.get("/v1/agents?sort=rank&window_s=3600", headers=admin), "catalog")
    mine = [a for a in catalog["agents"] if a["id"] == agent_id]
    print("\n# GET /v1/agents?sort=rank (this agent)")
    print(json.dumps(mine, indent=2, default=str)[:3000])
