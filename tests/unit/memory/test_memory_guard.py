"""Remember-guard decisions: limits, redaction, deterministic ids, duplicates."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from somagent.memory.guard import (
    Accepted,
    Rejected,
    RememberGuard,
    RememberRequest,
    memory_id_for,
    normalise,
    text_sha256,
)

KEY = b"guard-test-key-0123456789abcdef"
NOW_US = 1_764_000_000_000_000


def request(text: str, tenant: str = "tenant-a", **extra: object) -> RememberRequest:
    return RememberRequest(tenant=tenant, text=text, created_at_us=NOW_US, **extra)  # type: ignore[arg-type]


def test_accepts_and_redacts_pii() -> None:
    decision = RememberGuard(KEY).decide(
        request("Alice's email is alice@example.com, call +14155552671")
    )
    assert isinstance(decision, Accepted)
    assert "alice@example.com" not in decision.text
    assert "4155552671" not in decision.text
    assert decision.pii_kinds == ("email", "phone")
    assert decision.text_sha256 == text_sha256(decision.text)
    assert decision.memory_id == memory_id_for("tenant-a", decision.text_sha256, None)
    assert uuid.UUID(decision.memory_id).version == 5
    assert decision.size_bytes == len(decision.text.encode())


def test_memory_id_is_deterministic_and_per_tenant() -> None:
    guard = RememberGuard(KEY)
    a1 = guard.decide(request("The launch is on Monday"))
    a2 = guard.decide(request("the  launch is on MONDAY "))
    b = guard.decide(request("The launch is on Monday", tenant="tenant-b"))
    assert isinstance(a1, Accepted) and isinstance(a2, Accepted) and isinstance(b, Accepted)
    assert a1.memory_id == a2.memory_id
    assert a1.text != a2.text  # the stored text keeps its original form
    assert a1.memory_id != b.memory_id
    assert a1.text_sha256 == b.text_sha256
    in_capsule = guard.decide(request("The launch is on Monday", capsule_id="cap"))
    assert isinstance(in_capsule, Accepted) and in_capsule.memory_id != a1.memory_id


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_is_rejected(text: str) -> None:
    decision = RememberGuard(KEY).decide(request(text))
    assert isinstance(decision, Rejected) and decision.reason_code == "empty"


def test_size_limit_in_bytes() -> None:
    guard = RememberGuard(KEY, max_text_bytes=10)
    assert isinstance(guard.decide(request("x" * 10)), Accepted)
    too_big = guard.decide(request("é" * 6))  # 12 bytes in UTF-8
    assert isinstance(too_big, Rejected) and too_big.reason_code == "too_large"
    assert "tenant-a" in too_big.detail
    assert too_big.memory_id == ""  # refused before redaction


def test_redacted_text_over_limit_is_rejected() -> None:
    guard = RememberGuard(KEY, max_text_bytes=20)
    decision = guard.decide(request("a@b.io c@d.io"))  # 13 bytes, two 20-byte tokens
    assert isinstance(decision, Rejected) and decision.reason_code == "too_large"
    assert decision.memory_id  # judged after redaction: the id is known


def test_exact_duplicate_is_rejected() -> None:
    guard = RememberGuard(KEY)
    first = guard.decide(request("Paris is the capital of France"))
    assert isinstance(first, Accepted)
    again = guard.decide(request("paris is  the capital of france"), {first.text_sha256})
    assert isinstance(again, Rejected)
    assert again.reason_code == "duplicate"
    assert again.text_sha256 == first.text_sha256
    assert again.memory_id == first.memory_id
    assert first.memory_id in again.detail


def test_near_duplicate_uses_the_callable_only_when_enabled() -> None:
    asked: list[str] = []

    def nearest(text: str) -> float | None:
        asked.append(text)
        return 0.99

    off = RememberGuard(KEY).decide(request("hello there"), nearest_cosine=nearest)
    assert isinstance(off, Accepted) and asked == []
    on = RememberGuard(KEY, near_duplicate_cosine=0.97).decide(
        request("mail bob@example.com"), nearest_cosine=nearest
    )
    assert isinstance(on, Rejected) and on.reason_code == "near_duplicate"
    assert asked and "bob@example.com" not in asked[0]  # only redacted text is compared
    low = RememberGuard(KEY, near_duplicate_cosine=0.97).decide(
        request("hello"), nearest_cosine=lambda _: 0.5
    )
    assert isinstance(low, Accepted)


@pytest.mark.parametrize(
    "bad",
    [
        {"tenant": ""},
        {"source": "has spaces"},
        {"capsule_id": ""},
        {"created_at_us": -1},
    ],
)
def test_invalid_fields(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {"tenant": "t", "text": "hi", "created_at_us": NOW_US, **bad}
    decision = RememberGuard(KEY).decide(RememberRequest(**fields))  # type: ignore[arg-type]
    assert isinstance(decision, Rejected) and decision.reason_code == "invalid_field"


def test_constructor_checks() -> None:
    with pytest.raises(ValueError):
        RememberGuard(b"short")
    with pytest.raises(ValueError):
        RememberGuard(KEY, max_text_bytes=0)
    with pytest.raises(ValueError):
        RememberGuard(KEY, near_duplicate_cosine=1.5)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.text(alphabet=" \t\n", max_size=3))
def test_normalisation_ignores_case_and_spacing(text: str, padding: str) -> None:
    assert normalise(padding + text.upper() + padding) == normalise(text.upper())
    assert text_sha256(padding + text + padding) == text_sha256(text)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=300))
def test_decision_is_deterministic(text: str) -> None:
    guard = RememberGuard(KEY)
    assert guard.decide(request(text)) == guard.decide(request(text))
