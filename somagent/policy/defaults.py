"""The built-in default policy (pure data).

Every installation registers it and the local stack activates it with the
constitution keys it generates, so sessions minted without a policy of their own
(the examples, the test suite, a first `somagent demo`) have an active policy to
name. It grants what the platform granted before policies existed: every
registered tool, read-write memory, every capsule, no budget caps — and **no
egress hosts** (network tools such as ``http_fetch`` need a policy that lists them).
"""

from __future__ import annotations

from typing import Any, Final

from somagent.policy.document import policy_hash

DEFAULT_POLICY: Final[dict[str, Any]] = {
    "kind": "policy",
    "name": "somagent-default",
    "version": "1",
    "description": "Built-in default: every registered tool, read-write memory, no egress.",
    "data": {
        "tools": {"allowed": ["*"], "max_argument_chars": 65536},
        "egress": {"hosts": []},
        "memory": {"mode": "read-write", "capsules": ["*"]},
        "retention_days": 30,
        "budgets": {},
        "lane": "interactive",
    },
}

DEFAULT_POLICY_HASH: Final = policy_hash(DEFAULT_POLICY)
