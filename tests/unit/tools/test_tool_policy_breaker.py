"""Policy intersection, circuit breaker and backoff (pure), schema validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from somagent.tools import breaker as cb
from somagent.tools.calc import SPEC as CALC
from somagent.tools.exceptions import ToolSpecError
from somagent.tools.policy import SessionPolicy, decide
from somagent.tools.spec import ToolSpec
from somagent.tools.validation import errors

REGISTERED = {"calc", "python", "sql", "memory.search"}


def test_allowed_is_request_intersect_session() -> None:
    d = decide(
        ["calc", "python", "sql", "weather", "calc"],
        SessionPolicy(frozenset({"calc", "sql", "memory.search"}), frozenset({"sql"})),
        REGISTERED,
    )
    assert d.allowed == ("calc",)
    assert [(x.tool, x.reason_code) for x in d.denied] == [
        ("python", "tool-not-in-session-policy"),
        ("sql", "tool-denied-by-session"),
        ("weather", "tool-not-registered"),
    ]


def test_open_session_policy_allows_every_registered_tool_requested() -> None:
    assert decide(["sql", "calc"], SessionPolicy(), REGISTERED).allowed == ("sql", "calc")
    assert decide([], SessionPolicy(), REGISTERED).allowed == ()


@given(
    st.lists(st.sampled_from(sorted(REGISTERED | {"x"})), max_size=6),
    st.none() | st.frozensets(st.sampled_from(sorted(REGISTERED))),
)
def test_policy_partitions_the_request(requested: list[str], grant: frozenset[str] | None) -> None:
    d = decide(requested, SessionPolicy(grant), REGISTERED)
    assert set(d.allowed) | {x.tool for x in d.denied} == set(requested)
    assert not set(d.allowed) & {x.tool for x in d.denied}
    assert set(d.allowed) <= REGISTERED & (grant if grant is not None else REGISTERED)


CFG = cb.BreakerConfig(failure_threshold=3, reset_timeout_ms=1000, half_open_max_calls=1)


def test_breaker_opens_half_opens_and_closes() -> None:
    b = cb.Breaker()
    for t in range(3):
        ok, b = cb.allow(b, CFG, t)
        assert ok
        b = cb.record_failure(b, CFG, t)
    assert b.state is cb.BreakerState.OPEN
    assert cb.allow(b, CFG, 500) == (False, b)
    ok, half = cb.allow(b, CFG, 2 + 1000)
    assert ok and half.state is cb.BreakerState.HALF_OPEN
    assert cb.allow(half, CFG, 1003)[0] is False  # one trial at a time
    reopened = cb.record_failure(half, CFG, 1004)
    assert reopened.state is cb.BreakerState.OPEN and reopened.opened_at_ms == 1004
    ok, half2 = cb.allow(reopened, CFG, 2004)
    assert ok
    assert cb.record_success(half2, CFG, 2005) == cb.Breaker()


def test_success_resets_failure_count() -> None:
    b = cb.record_failure(cb.record_failure(cb.Breaker(), CFG, 0), CFG, 1)
    b = cb.record_success(b, CFG, 2)
    b = cb.record_failure(cb.record_failure(b, CFG, 3), CFG, 4)
    assert b.state is cb.BreakerState.CLOSED and b.failures == 2


def test_backoff_schedule() -> None:
    assert cb.backoff_schedule(cb.RetryPolicy(max_attempts=5, base_ms=100, max_ms=500)) == [
        100,
        200,
        400,
        500,
    ]
    jittered = cb.RetryPolicy(max_attempts=4, base_ms=100, jitter_seed=7)
    a, b = cb.backoff_schedule(jittered), cb.backoff_schedule(jittered)
    assert a == b and all(0 <= d <= c for d, c in zip(a, [100, 200, 400], strict=True))


def test_only_idempotent_transient_failures_retry() -> None:
    p = cb.RetryPolicy(max_attempts=3)
    assert cb.should_retry(True, "timeout", 1, p)
    assert not cb.should_retry(True, "timeout", 3, p)
    assert not cb.should_retry(False, "timeout", 1, p)
    assert not cb.should_retry(True, "invalid-arguments", 1, p)


def test_validation_messages_name_the_path() -> None:
    problems = errors(CALC.args_schema, {"expression": 5, "extra": True}, "argument")
    assert problems == [
        "argument (root): Additional properties are not allowed ('extra' was unexpected)",
        "argument /expression: 5 is not of type 'string'",
    ]
    assert errors(CALC.args_schema, {"expression": "1+1"}) == []


def test_spec_rejects_bad_definitions() -> None:
    with pytest.raises(ToolSpecError, match="must match"):
        ToolSpec("Bad Name", "d", {}, {})
    with pytest.raises(ToolSpecError, match="args_schema is not a valid"):
        ToolSpec("ok", "d", {"type": "nonsense"}, {})
    with pytest.raises(ToolSpecError, match="timeout_s"):
        ToolSpec("ok", "d", {}, {}, timeout_s=0)
