"""OPA's decision log → ``PolicyDecisionLogged`` events on ``policy.decisions`` (pure).

OPA's ``decision_logs`` plugin POSTs batches (a JSON array, usually gzip) to the
policy role's ``/logs``; :func:`decision_events` maps each entry to one event:
decision id (also the event id, so a batch OPA re-sends after a failed upload is
the same events), the queried path, ``input.policy_hash`` and ``input.action``,
``result.allow`` and ``result.rules``, the input and result as JSON, OPA's
timestamp and evaluation time. The tenant is ``input.tenant`` when it is a UUID,
else the nil tenant (the key of ``policy.decisions``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from somagent.contract import names
from somagent.contract.envelope import Event
from somagent.contract.ids import stable_id
from somagent.events.envelope import make_event

NIL_TENANT: Final = str(uuid.UUID(int=0))
PRODUCER: Final = "policy"
MAX_JSON_CHARS: Final = 16_384


def _tenant(input_: Mapping[str, Any]) -> str:
    try:
        return str(uuid.UUID(str(input_.get("tenant"))))
    except ValueError:
        return NIL_TENANT


def _ts_us(text: Any) -> int:
    """OPA's RFC 3339 timestamp (nanosecond digits allowed) in epoch microseconds."""
    raw = str(text or "")
    if not raw:
        return 0
    head, _, rest = raw.partition(".")
    frac, zone = "", rest
    for i, ch in enumerate(rest):
        if not ch.isdigit():
            frac, zone = rest[:i], rest[i:]
            break
    stamp = datetime.fromisoformat(head + (zone.replace("Z", "+00:00") or "+00:00"))
    return int(stamp.timestamp()) * 1_000_000 + int((frac + "000000")[:6])


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)[:MAX_JSON_CHARS]


def decision_event(entry: Mapping[str, Any]) -> Event:
    """One decision-log entry as a ``PolicyDecisionLogged`` event."""
    raw_input = entry.get("input")
    input_: Mapping[str, Any] = raw_input if isinstance(raw_input, Mapping) else {}
    result = entry.get("result")
    verdict: Mapping[str, Any] = result if isinstance(result, Mapping) else {}
    allow = verdict.get("allow")
    decision_id = str(entry.get("decision_id") or "")
    raw_metrics = entry.get("metrics")
    metrics: Mapping[str, Any] = raw_metrics if isinstance(raw_metrics, Mapping) else {}
    payload = {
        "decision_id": decision_id,
        "path": str(entry.get("path") or ""),
        "policy_hash": str(input_["policy_hash"]) if input_.get("policy_hash") else None,
        "action": str(input_["action"]) if input_.get("action") else None,
        "allowed": allow if isinstance(allow, bool) else None,
        "rules": [str(r) for r in verdict.get("rules") or []],
        "input_json": _json(input_),
        "result_json": _json(result),
        "decided_at_us": _ts_us(entry.get("timestamp")),
        "eval_ns": int(metrics.get("timer_rego_query_eval_ns") or 0),
    }
    return make_event(names.POLICY_DECISION_LOGGED, payload, tenant=_tenant(input_),
                      producer=PRODUCER, event_id=stable_id("opa-decision", decision_id))


def decision_events(batch: Any) -> list[Event]:
    """Every entry of a decision-log batch (a JSON array); anything else is empty."""
    if not isinstance(batch, list):
        return []
    return [decision_event(e) for e in batch if isinstance(e, Mapping)]
