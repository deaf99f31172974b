"""The session's tool calls per minute, capped by the tenant's plan (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from somagent.api.tenants import PLANS
from somagent.tools.quotas import (
    DEFAULT_TOOLS_PER_MIN,
    PLAN_TOOLS_PER_MIN,
    effective_tools_per_min,
    plan_cap,
)


def test_every_plan_has_a_cap_and_unknown_plans_get_the_default_plans() -> None:
    assert set(PLAN_TOOLS_PER_MIN) == set(PLANS)
    assert plan_cap(None) == plan_cap("no-such-plan") == PLAN_TOOLS_PER_MIN["free"]


def test_the_sessions_value_is_honoured_up_to_the_plan() -> None:
    """Issue 19 item 8: a session minted with 100,000 got 60."""
    assert effective_tools_per_min(100_000, "enterprise") == 100_000
    assert effective_tools_per_min(100_000, "pro") == PLAN_TOOLS_PER_MIN["pro"]
    assert effective_tools_per_min(100_000, None) == PLAN_TOOLS_PER_MIN["free"]
    assert effective_tools_per_min(7, "free") == 7
    assert effective_tools_per_min(0, "enterprise") == 0
    assert effective_tools_per_min(None, "enterprise") == DEFAULT_TOOLS_PER_MIN


@given(st.none() | st.integers(-10, 10**6), st.none() | st.sampled_from([*PLANS, "x"]))
def test_never_above_the_plan_nor_negative(value: int | None, plan: str | None) -> None:
    got = effective_tools_per_min(value, plan)
    assert 0 <= got <= plan_cap(plan)
    if value is not None and 0 <= value <= plan_cap(plan):
        assert got == value
