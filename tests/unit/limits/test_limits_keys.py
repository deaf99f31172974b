"""Key layout and decision arithmetic of the Redis guards (no server needed)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from somagent.limits.base import BudgetDecision, RateDecision
from somagent.limits.budget import RedisTokenBudget, session_key
from somagent.limits.exceptions import InvalidLimit
from somagent.limits.idempotency import idem_key
from somagent.limits.ratelimit import RedisSlidingWindow, rate_key


def test_key_layout() -> None:
    assert rate_key("t1", "search") == "rate:t1:search"
    assert session_key("s1") == "sess:s1"
    key = idem_key("turn", "t1", "client key with spaces")
    assert key.startswith("idem:turn:t1:") and len(key.rsplit(":", 1)[1]) == 64
    assert key == idem_key("turn", "t1", "client key with spaces")
    assert key != idem_key("turn", "t2", "client key with spaces")


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert RateDecision(True, 0, 3).retry_after_s == 0
    assert RateDecision(False, 1, 0).retry_after_s == 1
    assert RateDecision(False, 1000, 0).retry_after_s == 1
    assert RateDecision(False, 1001, 0).retry_after_s == 2
    assert BudgetDecision("reserved", 5, 10).reserved_ok
    assert not BudgetDecision("exhausted", 5).reserved_ok


async def test_invalid_arguments_are_refused_before_any_io() -> None:
    redis = Redis(host="127.0.0.1", port=1)  # never connected: the checks come first
    limiter, budget = RedisSlidingWindow(redis), RedisTokenBudget(redis)
    with pytest.raises(InvalidLimit):
        await limiter.acquire([], 1, 1000)
    with pytest.raises(InvalidLimit):
        await limiter.acquire(["k"], -1, 1000)
    with pytest.raises(InvalidLimit):
        await limiter.acquire(["k"], 1, 0)
    with pytest.raises(InvalidLimit):
        await budget.reserve("s", -5)
    with pytest.raises(InvalidLimit):
        await budget.settle("s", -1, 0)
