"""The request schemas reject missing, extra and mistyped members with JSON pointers."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from somagent.api.bodies import MINT_REQUEST, RECALL_REQUEST, TURN_REQUEST, validate
from somagent.api.problems import Problem

SESSION = str(uuid.uuid4())
GOOD_TURN = {"session_id": SESSION, "inputs": {"text": "hi"},
             "allow": {"tools": ["search"], "memory": "read"}}
GOOD_MINT = {"tenant": str(uuid.uuid4()), "persona_hash": "sha256-" + "0" * 64,
             "policy_hash": "sha256-" + "f" * 64, "budgets": {"tokens": 1, "tools_per_min": 0}}


def pointers(document: Any, schema: dict[str, Any]) -> list[str]:
    with pytest.raises(Problem) as caught:
        validate(document, schema)
    assert caught.value.slug == "invalid-body" and caught.value.status == 422
    return [e["pointer"] for e in caught.value.extensions["errors"]]


def test_good_bodies_pass_unchanged() -> None:
    assert validate(GOOD_TURN, TURN_REQUEST) is GOOD_TURN
    assert validate({"session_id": SESSION, "inputs": {"text": "x"}}, TURN_REQUEST)
    assert validate(GOOD_MINT, MINT_REQUEST) is GOOD_MINT
    assert validate({**GOOD_MINT, "persona_hash": "sha256-" + "A" * 43}, MINT_REQUEST)


@pytest.mark.parametrize(("document", "expected"), [
    ([], [""]),
    ({"inputs": {"text": "x"}}, [""]),
    ({**GOOD_TURN, "extra": 1}, [""]),
    ({**GOOD_TURN, "inputs": {}}, ["/inputs"]),
    ({**GOOD_TURN, "inputs": {"text": 3}}, ["/inputs/text"]),
    ({**GOOD_TURN, "session_id": "x"}, ["/session_id"]),
    ({**GOOD_TURN, "allow": {"tools": ["a b"]}}, ["/allow/tools/0"]),
    ({**GOOD_TURN, "allow": {"tools": ["a", "a"]}}, ["/allow/tools"]),
    ({**GOOD_TURN, "allow": {"memory": "all"}}, ["/allow/memory"]),
])
def test_turn_request_violations(document: Any, expected: list[str]) -> None:
    assert pointers(document, TURN_REQUEST) == expected


def test_mint_request_violations() -> None:
    assert pointers({**GOOD_MINT, "persona_hash": "md5-x"}, MINT_REQUEST) == ["/persona_hash"]
    assert pointers({**GOOD_MINT, "budgets": {"tokens": -1, "tools_per_min": 1}},
                    MINT_REQUEST) == ["/budgets/tokens"]
    assert pointers({**GOOD_MINT, "budgets": {"tokens": 1}}, MINT_REQUEST) == ["/budgets"]
    assert pointers({**GOOD_MINT, "budgets": {"tokens": True, "tools_per_min": 1}},
                    MINT_REQUEST) == ["/budgets/tokens"]


def test_recall_request_bounds() -> None:
    assert validate({"query": "q", "top_k": 50}, RECALL_REQUEST)
    assert pointers({"query": "q", "top_k": 0}, RECALL_REQUEST) == ["/top_k"]
    assert pointers({"query": ""}, RECALL_REQUEST) == ["/query"]
