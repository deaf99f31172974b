"""OPA decision-log entries as PolicyDecisionLogged events; the projection's fold (pure)."""

from __future__ import annotations

from somagent.contract import names
from somagent.events.codec import EventCodec
from somagent.events.envelope import make_event
from somagent.events.examples import example_payloads
from somagent.policy.decision_log import NIL_TENANT, decision_events
from somagent.policy.projection import statements, table_names

TENANT = "7d0c6f7e-2f8e-4a47-9d5a-1f0c2b3a4d5e"

ENTRY = {
    "decision_id": "4ca636c1-55e4-417a-b1d8-4aceb67960d1",
    "path": "somagent/gate/decision",
    "input": {"policy_hash": "sha256-" + "a" * 64, "action": "tool", "tenant": TENANT,
              "tool": "http_fetch", "egress_hosts": ["evil.example"]},
    "result": {"allow": False, "rules": ["egress-host-not-allowed"]},
    "timestamp": "2026-12-01T06:55:02.123456789Z",
    "metrics": {"timer_rego_query_eval_ns": 41234},
}


def test_an_entry_becomes_one_event_keyed_by_its_decision_id() -> None:
    [event] = decision_events([ENTRY, "not an entry"])
    p = event["payload"]
    assert event["type"] == names.POLICY_DECISION_LOGGED and str(event["tenant"]) == TENANT
    assert (p["allowed"], p["rules"], p["action"]) == (False, ["egress-host-not-allowed"], "tool")
    assert p["decided_at_us"] == 1_796_108_102_123_456 and p["eval_ns"] == 41234
    again = decision_events([ENTRY])[0]
    assert again["event_id"] == event["event_id"]  # a re-sent batch is the same events
    back = EventCodec().decode(EventCodec().encode(event))
    assert back["payload"]["rules"] == ["egress-host-not-allowed"]


def test_entries_without_a_tenant_or_result_still_decode() -> None:
    [event] = decision_events([{"decision_id": "x", "path": "p", "input": {"x": 1}}])
    assert str(event["tenant"]) == NIL_TENANT and event["payload"]["allowed"] is None
    assert decision_events({"not": "a list"}) == []


def test_projection_fold_activation_only_from_registered() -> None:
    t = table_names()
    payloads = example_payloads(1)
    kinds = (names.POLICY_REGISTERED, names.POLICY_SIGNED, names.POLICY_ACTIVATED,
             names.POLICY_REVOKED)
    for kind in kinds:
        event = make_event(kind, payloads[kind], tenant=NIL_TENANT, producer="test")
        [(sql, args)] = statements(event, t)
        assert args[0] == payloads[kind]["policy_hash"]
        if kind == names.POLICY_ACTIVATED:
            assert "status = 'registered'" in sql
        if kind in (names.POLICY_REGISTERED, names.POLICY_SIGNED):
            assert "ON CONFLICT" in sql and "DO NOTHING" in sql
