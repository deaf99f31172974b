"""Tool calls per minute: the session's value, capped by the tenant's plan (pure).

A session is minted with ``budgets.tools_per_min`` (0 … 100,000); every turn of the
session carries it (``TurnRequested.tools_per_min``) and the tool gate admits at
most that many calls per tool and tenant in any minute — but never more than the
tenant's plan allows (:data:`PLAN_TOOLS_PER_MIN`). A request that states no value
(events written before the field existed) gets :data:`DEFAULT_TOOLS_PER_MIN`,
also capped by the plan. A tenant with no known plan is on :data:`DEFAULT_PLAN`.
"""

from __future__ import annotations

from typing import Final

from somagent.plans.limits import DEFAULT_PLAN, PLAN_DEFAULTS

#: The most tool calls per minute (per tool and tenant) each plan allows: the plans'
#: ``tools_per_min`` (:data:`somagent.plans.limits.PLAN_DEFAULTS`, the one place).
PLAN_TOOLS_PER_MIN: Final = {plan: p.tools_per_min for plan, p in PLAN_DEFAULTS.items()}
__all__ = ["DEFAULT_PLAN", "DEFAULT_TOOLS_PER_MIN", "PLAN_TOOLS_PER_MIN",
           "effective_tools_per_min", "plan_cap"]
#: For a request that does not state the session's value.
DEFAULT_TOOLS_PER_MIN: Final = 60


def plan_cap(plan: str | None) -> int:
    """The plan's ceiling; an unknown or missing plan is :data:`DEFAULT_PLAN`'s."""
    return PLAN_TOOLS_PER_MIN.get(plan or DEFAULT_PLAN, PLAN_TOOLS_PER_MIN[DEFAULT_PLAN])


def effective_tools_per_min(session_value: int | None, plan: str | None) -> int:
    """The calls per minute the gate enforces: ``min(session value, plan cap)``, the
    default when the session value is not stated; never negative."""
    wanted = DEFAULT_TOOLS_PER_MIN if session_value is None else session_value
    return max(0, min(wanted, plan_cap(plan)))
