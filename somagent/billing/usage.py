"""Usage records as the ledger counts them: a decoded ``UsageRecorded`` envelope, priced (pure)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from somagent.billing.ledger import Usage
from somagent.billing.pricebook import PriceBook
from somagent.contract import names
from somagent.contract.envelope import plain


def usage_from_event(
    event: dict[str, Any], book: PriceBook, plan_for: Callable[[str], str | None]
) -> Usage | None:
    """The priced :class:`Usage` of a decoded ``UsageRecorded`` envelope (else None)."""
    if event["type"] != names.USAGE_RECORDED:
        return None
    p = event["payload"]
    tenant = str(event["tenant"])
    occurred = p["occurred_at"]
    return Usage(
        str(event["event_id"]),
        tenant,
        str(p["agent"]),
        None if event["session"] is None else str(event["session"]),
        occurred if isinstance(occurred, int) else int(plain(occurred)),
        int(p["tokens"]),
        int(p["tool_calls"]),
        int(p["storage_bytes"]),
        int(p["egress_bytes"]),
        book.usage_cost_picocents(p, plan_for(tenant)),
    )
