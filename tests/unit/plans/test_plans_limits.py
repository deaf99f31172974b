"""Plan limits: defaults, per-tenant overrides, the clamp at mint, lane downgrades."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from somagent.math.queueing import LANES
from somagent.plans.exceptions import InvalidPlanLimits
from somagent.plans.limits import PLAN_DEFAULTS, clamp, plan_defaults, tenant_limits
from somagent.tools.quotas import PLAN_TOOLS_PER_MIN


def test_every_plan_has_defaults_and_an_unknown_plan_is_free() -> None:
    assert set(PLAN_DEFAULTS) == {"free", "pro", "enterprise"}
    assert plan_defaults(None) == plan_defaults("nonsense") == PLAN_DEFAULTS["free"]
    order = [PLAN_DEFAULTS[p] for p in ("free", "pro", "enterprise")]
    for lower, higher in itertools.pairwise(order):
        assert lower.tokens_per_min < higher.tokens_per_min
        assert lower.concurrent_turns < higher.concurrent_turns
        assert lower.max_tokens_per_session < higher.max_tokens_per_session


def test_the_tool_gate_caps_come_from_the_same_plans() -> None:
    assert {p: lim.tools_per_min for p, lim in PLAN_DEFAULTS.items()} == PLAN_TOOLS_PER_MIN


def test_overrides_replace_single_fields_and_the_profile_sets_the_lane() -> None:
    limits = tenant_limits("pro", {"tokens_per_min": 500, "concurrent_turns": 2},
                           {"lane": "batch"})
    assert limits.tokens_per_min == 500 and limits.concurrent_turns == 2
    assert limits.tools_per_min == PLAN_DEFAULTS["pro"].tools_per_min
    assert limits.lane == "batch"
    assert tenant_limits("pro", {"lane": "batch"}).lane == "batch"
    assert tenant_limits("pro").lane == "interactive"


@pytest.mark.parametrize(("limits", "profile", "named"), [
    ({"tokens_per_minute": 5}, {}, "tokens_per_minute"),
    ({"tokens_per_min": -1}, {}, "tokens_per_min"),
    ({"tokens_per_min": "5"}, {}, "tokens_per_min"),
    ({"concurrent_turns": True}, {}, "concurrent_turns"),
    ({"lane": "express"}, {}, "lane"),
    ({}, {"lane": 3}, "billing_profile.lane"),
])
def test_malformed_limits_are_refused_naming_the_field(
    limits: dict[str, object], profile: dict[str, object], named: str
) -> None:
    with pytest.raises(InvalidPlanLimits, match=named):
        tenant_limits("free", limits, profile)


@given(tokens=st.integers(0, 10**13), tools=st.integers(0, 10**6),
       plan=st.sampled_from(["free", "pro", "enterprise"]))
def test_clamp_never_exceeds_a_limit_and_never_lowers_what_fits(
    tokens: int, tools: int, plan: str
) -> None:
    limits = PLAN_DEFAULTS[plan]
    got = clamp(limits, tokens, tools, None)
    assert got.tokens == min(tokens, limits.max_tokens_per_session)
    assert got.tools_per_min == min(tools, limits.tools_per_min)
    assert ("tokens" in got.lowered) == (tokens > limits.max_tokens_per_session)
    assert ("tools_per_min" in got.lowered) == (tools > limits.tools_per_min)
    assert got.lane == limits.lane


def test_a_lane_can_be_downgraded_never_upgraded() -> None:
    interactive = tenant_limits("pro")
    batch = tenant_limits("pro", {}, {"lane": "batch"})
    assert clamp(interactive, 1, 1, "batch").lane == "batch"
    assert clamp(interactive, 1, 1, "interactive").lane == "interactive"
    upgraded = clamp(batch, 1, 1, "interactive")
    assert upgraded.lane == "batch" and upgraded.lowered == ("lane",)
    assert set(LANES) == {"interactive", "batch"}
    with pytest.raises(InvalidPlanLimits):
        clamp(interactive, 1, 1, "express")


def test_the_policy_lane_is_a_ceiling_below_the_plan() -> None:
    interactive = tenant_limits("pro")
    assert clamp(interactive, 1, 1, None, "batch").lane == "batch"
    assert clamp(interactive, 1, 1, None, "interactive").lane == "interactive"
    asked = clamp(interactive, 1, 1, "interactive", "batch")
    assert asked.lane == "batch" and asked.lowered == ("lane",)
    batch_plan = tenant_limits("pro", {}, {"lane": "batch"})
    assert clamp(batch_plan, 1, 1, None, "interactive").lane == "batch"
    with pytest.raises(InvalidPlanLimits):
        clamp(interactive, 1, 1, None, "express")
