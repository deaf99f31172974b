"""Register and activate a policy over the edge's HTTP API with the local constitution
keys (``somagent demo`` and the tests do it this way; a real installation's key
holders sign elsewhere and send only their signatures)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from somagent.config import Settings
from somagent.credentials import operator_token
from somagent.policy import constitution


def operator_headers(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {operator_token(settings.home_dir)}"}


def demo_policy(name: str, *, tools: list[str], hosts: list[str] | None = None,
                memory: str = "read-write", max_tokens: int = 200_000,
                rego: str | None = None) -> dict[str, Any]:
    """A policy document granting ``tools`` and egress to ``hosts``."""
    document: dict[str, Any] = {
        "kind": "policy", "name": name, "version": "1",
        "data": {"tools": {"allowed": tools, "max_argument_chars": 8192},
                 "egress": {"hosts": hosts or []},
                 "memory": {"mode": memory, "capsules": ["*"]},
                 "retention_days": 30,
                 "budgets": {"max_tokens": max_tokens, "max_tools_per_min": 600},
                 "lane": "interactive"},
    }
    if rego is not None:
        document["rego"] = rego
    return document


def register_and_activate(client: httpx.Client, settings: Settings,
                          document: Mapping[str, Any]) -> str:
    """POST the document, then k signatures of the local keys; return the active hash."""
    headers = operator_headers(settings)
    reply = client.post("/v1/policies", headers=headers, json=dict(document))
    if reply.status_code not in (200, 201):
        raise RuntimeError(f"POST /v1/policies: {reply.status_code} {reply.text}")
    hash_ = str(reply.json()["policy_hash"])
    status = reply.json()["status"]
    for key in constitution.local_private_keys(settings)[: settings.constitution_k]:
        if status == "active":
            break
        key_id, signature = constitution.sign(key, hash_)
        signed = client.post(f"/v1/policies/{hash_}/signatures", headers=headers,
                             json={"key_id": key_id, "signature": signature})
        if signed.status_code != 200:
            raise RuntimeError(f"signing {hash_}: {signed.status_code} {signed.text}")
        status = signed.json()["status"]
    if status != "active":
        raise RuntimeError(f"policy {hash_} is {status}: not enough local constitution keys")
    return hash_
