"""Plan limits: defaults per plan, per-tenant overrides, and the clamp at mint (pure).

A tenant is on one plan (``tenants.plan``: ``free``, ``pro``, ``enterprise``). Its
effective limits are the plan's defaults (:data:`PLAN_DEFAULTS`), each field
replaced by the tenant's override where ``tenants.limits`` (jsonb) states one, and
its QoS lane is ``tenants.billing_profile.lane`` or the plan's default lane.

=========================== ========================================================
limit                       enforced where
=========================== ========================================================
``max_tokens_per_session``  mint: the session's token budget is at most this
``tools_per_min``           mint: the session's tool calls per minute (per tool and
                            tenant) are at most this; the tool gate enforces it
``tokens_per_min``          edge, per tenant, every turn: token bucket ``tpm:{tenant}``
                            (:mod:`somagent.limits.tenant_tokens`)
``concurrent_turns``        edge, per tenant, every turn: ``conc:{tenant}``
                            (:mod:`somagent.limits.concurrency`)
``lane``                    admission: ``batch`` is shed before ``interactive``
=========================== ========================================================

Guarantees: :func:`clamp` never raises a request above a limit and never lowers
one below what was asked when the limit allows it; the result says which fields
were lowered. A lane may be downgraded by the client (``interactive`` plan asking
``batch``), never upgraded. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from somagent.math.queueing import LANES
from somagent.plans.exceptions import InvalidPlanLimits

INTERACTIVE: Final = "interactive"
BATCH: Final = "batch"
#: QoS lanes in shedding order (:data:`somagent.math.queueing.LANES`: shed first, first).
DEFAULT_LANE: Final = INTERACTIVE
DEFAULT_PLAN: Final = "free"

_INT_FIELDS: Final = ("max_tokens_per_session", "tools_per_min", "tokens_per_min",
                      "concurrent_turns")
_MAX_VALUE: Final = 10**15


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """The limits of one tenant (units: tokens, calls per minute, turns)."""

    max_tokens_per_session: int
    tools_per_min: int
    tokens_per_min: int
    concurrent_turns: int
    lane: str = DEFAULT_LANE

    def as_dict(self) -> dict[str, int | str]:
        return {
            "max_tokens_per_session": self.max_tokens_per_session,
            "tools_per_min": self.tools_per_min,
            "tokens_per_min": self.tokens_per_min,
            "concurrent_turns": self.concurrent_turns,
            "lane": self.lane,
        }


#: Defaults per plan. ``tools_per_min`` is also the tool gate's plan ceiling
#: (:mod:`somagent.tools.quotas`).
PLAN_DEFAULTS: Final[Mapping[str, PlanLimits]] = {
    "free": PlanLimits(1_000_000, 1_000, 200_000, 8),
    "pro": PlanLimits(100_000_000, 10_000, 5_000_000, 64),
    "enterprise": PlanLimits(10**12, 100_000, 10**12, 100_000),
}


def plan_defaults(plan: str | None) -> PlanLimits:
    """The plan's defaults; an unknown or missing plan gets :data:`DEFAULT_PLAN`'s."""
    return PLAN_DEFAULTS.get(plan or DEFAULT_PLAN, PLAN_DEFAULTS[DEFAULT_PLAN])


def _int_field(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_VALUE:
        raise InvalidPlanLimits(f"tenants.limits.{name} must be an integer in "
                                f"0..{_MAX_VALUE}, got {value!r}")
    return value


def check_lane(lane: Any, where: str) -> str:
    """``lane`` if it is one of :data:`LANES`, else :class:`InvalidPlanLimits` naming ``where``."""
    if lane not in LANES:
        raise InvalidPlanLimits(f"{where} must be one of {', '.join(LANES)}, got {lane!r}")
    return str(lane)


def tenant_limits(
    plan: str | None,
    limits: Mapping[str, Any] | None = None,
    billing_profile: Mapping[str, Any] | None = None,
) -> PlanLimits:
    """The effective limits: plan defaults, overridden by ``limits`` and the profile's lane.

    Unknown keys in ``limits`` are refused (a typo must not silently mean "no
    limit"). Raises :class:`InvalidPlanLimits` naming the bad field.
    """
    base = plan_defaults(plan)
    overrides: dict[str, Any] = {}
    for key, value in (limits or {}).items():
        if key in _INT_FIELDS:
            overrides[key] = _int_field(key, value)
        elif key == "lane":
            overrides["lane"] = check_lane(value, "tenants.limits.lane")
        else:
            raise InvalidPlanLimits(f"tenants.limits has unknown field {key!r}; known: "
                                    f"{', '.join((*_INT_FIELDS, 'lane'))}")
    profile_lane = (billing_profile or {}).get("lane")
    if profile_lane is not None:
        overrides["lane"] = check_lane(profile_lane, "tenants.billing_profile.lane")
    return replace(base, **overrides)


@dataclass(frozen=True, slots=True)
class Clamped:
    """A session's budgets after the clamp, and which requested fields were lowered."""

    tokens: int
    tools_per_min: int
    lane: str
    lowered: tuple[str, ...]


def clamp(limits: PlanLimits, tokens: int, tools_per_min: int, lane: str | None,
          policy_lane: str | None = None) -> Clamped:
    """Clamp requested session budgets and lane to ``limits`` and the session's policy.

    ``tokens`` → ``min(tokens, max_tokens_per_session)``; ``tools_per_min`` →
    ``min(tools_per_min, limits.tools_per_min)``. The lane ceiling is the lower of the
    plan's lane and ``policy_lane`` (the policy document's ``lane``): a batch policy
    makes every session minted under it batch, whatever the plan. ``lane`` (None = the
    ceiling) may only move from ``interactive`` to ``batch``: asking ``interactive``
    under a batch ceiling gives ``batch`` and is listed in ``lowered``.
    """
    lowered: list[str] = []
    if tokens > limits.max_tokens_per_session:
        lowered.append("tokens")
    if tools_per_min > limits.tools_per_min:
        lowered.append("tools_per_min")
    granted = limits.lane
    if policy_lane is not None:
        check_lane(policy_lane, "the policy's lane")
        granted = min(granted, policy_lane, key=LANES.index)  # shed first wins
    if lane is not None:
        check_lane(lane, "lane")
        if LANES.index(lane) <= LANES.index(granted):  # same lane or shed earlier
            granted = lane
        else:
            lowered.append("lane")
    return Clamped(min(tokens, limits.max_tokens_per_session),
                   min(tools_per_min, limits.tools_per_min), granted, tuple(lowered))
