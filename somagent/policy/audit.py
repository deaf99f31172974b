"""The ``PolicyDenied`` event a gate appends when a policy refuses (naming hash and rule)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from somagent.contract import names
from somagent.contract.envelope import Event
from somagent.events.envelope import make_event
from somagent.policy.gate import Verdict

Append = Callable[[Mapping[str, Any]], Awaitable[Any]]


def denied_event(verdict: Verdict, *, path: str, detail: str, tenant: str, producer: str,
                 session: str | None = None, turn: str | None = None,
                 trace_id: str | None = None) -> Event:
    """``PolicyDenied`` for ``verdict``: ``reason_code`` and ``rule`` = its first rule."""
    return make_event(
        names.POLICY_DENIED,
        {"reason_code": verdict.rule or "policy-denied", "detail": detail[:2000], "path": path,
         "policy_hash": verdict.policy_hash or None, "rule": verdict.rule or None},
        tenant=tenant, producer=producer, session=session, turn=turn or None,
        trace_id=trace_id,
    )
