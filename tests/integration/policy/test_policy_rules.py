"""The gate rules (gate.rego) decided by the real OPA server, rule by rule."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from policy_helpers import activate

from somagent.policy.demo import demo_policy
from somagent.policy.opa import OpaClient
from somagent.stack.stack import RunningStack

pytestmark = pytest.mark.integration

TOOL = {"action": "tool", "tool": "http_fetch", "arguments": {"url": "http://a.example.org/"}}
CASES: list[tuple[dict[str, Any], list[str]]] = [
    ({**TOOL, "egress_hosts": ["a.example.org"]}, []),  # *.example.org matches a subdomain
    ({**TOOL, "egress_hosts": ["example.org"]}, ["egress-host-not-allowed"]),  # not the apex
    ({**TOOL, "egress_hosts": ["127.0.0.1"]}, []),
    ({**TOOL, "tool": "python", "egress_hosts": []}, ["tool-not-allowed"]),
    ({**TOOL, "arguments": {"url": "http://a.example.org/" + "x" * 200}, "egress_hosts": []},
     ["tool-arguments-too-large"]),
    ({"action": "mint", "budgets": {"tokens": 10, "tools_per_min": 1}, "capsules": ["c1"]}, []),
    ({"action": "mint", "budgets": {"tokens": 10, "tools_per_min": 61}, "capsules": []},
     ["tools-per-min-over-cap"]),
    ({"action": "mint", "budgets": {"tokens": 10, "tools_per_min": 1}, "capsules": ["c2"]},
     ["capsule-not-allowed"]),
    ({"action": "memory.write", "capsules": []}, ["memory-write-not-allowed"]),
    ({"action": "memory.read", "capsules": ["c1"]}, []),
]


async def test_each_rule_decides_as_documented(stack: RunningStack,
                                               client: httpx.AsyncClient) -> None:
    document = demo_policy(f"rules-{uuid.uuid4().hex[:6]}", tools=["http_fetch"],
                           hosts=["*.example.org", "127.0.0.1"], memory="read")
    document["data"]["tools"]["max_argument_chars"] = 100
    document["data"]["budgets"]["max_tools_per_min"] = 60
    document["data"]["memory"]["capsules"] = ["c1"]
    hash_ = await activate(client, stack.settings, document)
    opa = OpaClient(stack.settings.opa_endpoint)
    try:
        for input_, rules in CASES:
            result = await opa.decide({"policy_hash": hash_, **input_})
            assert result == {"allow": not rules, "rules": rules}, (input_, result)
        unknown = await opa.decide({"policy_hash": "sha256-" + "0" * 64, **CASES[0][0]})
        assert unknown == {"allow": False, "rules": ["policy-not-active"]}
    finally:
        await opa.close()
