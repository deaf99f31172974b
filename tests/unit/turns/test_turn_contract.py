"""Every record the machine emits fits the Avro contract (schemas/avro) and round-trips."""

from __future__ import annotations

import uuid
from typing import Any

from somagent.contract import names
from somagent.contract.envelope import plain
from somagent.contract.ids import tool_call_id
from somagent.events.codec import EventCodec
from somagent.turns import events as ev
from somagent.turns import machine as m
from somagent.turns.state import Answer, Evidence, Plan, TokenUsage, ToolCall, ToolResult

TURN = str(uuid.uuid4())
SESSION = str(uuid.uuid4())
TENANT = str(uuid.uuid4())
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PRICES = ev.UsagePrices(5, 100_000, 2, 3)


def transitions() -> list[m.Transition]:
    req = m.TurnRequest(
        TURN,
        SESSION,
        TENANT,
        "what is 2+2",
        10**13,
        ("calc",),
        allow_memory_write=True,
        trace_id=TRACE,
    )
    out = [m.start(req, 1_000)]
    ev_ = [Evidence(str(uuid.uuid4()), "two and two", 0.75, "turn", 1_700_000_000_000_000, TRACE)]
    out.append(m.on_recalled(out[-1].state, ev_, 1_001))
    plan = Plan(
        (ToolCall(0, "calc", {"expression": "2+2"}), ToolCall(1, "python", {})),
        "calc it",
        "deterministic",
        TokenUsage(4, 0, "tokenizer:cl100k_base"),
    )
    out.append(m.on_planned(out[-1].state, plan, 1_002))
    out.append(m.on_tool_delta(out[-1].state, 0, 0, "4", 1_003))
    out.append(
        m.on_tool_result(
            out[-1].state, ToolResult(0, "calc", True, {"value": "4"}, duration_ms=2), 1_004
        )
    )
    cid = tool_call_id(TURN, 0)
    answer = Answer(f"4 [tool:{cid}]", (f"tool:{cid}",), TokenUsage(0, 5, "provider"))
    out.append(m.on_verified(out[-1].state, answer, [], 1_005))
    out.append(m.on_answered(out[-1].state, 1_006))
    out.append(m.on_remembered(out[-1].state, ["x"], 64, 1_007))
    failing = m.start(req, 2_000)
    out.append(m.on_step_timeout(failing.state, 7_000))
    return out


def test_every_event_encodes_and_decodes() -> None:
    codec = EventCodec()
    seen = set()
    for t in transitions():
        for e in t.events:
            record = e.to_dict()
            back = plain(codec.decode(codec.encode(record)))
            assert back["payload"] == record["payload"], e.type
            assert back["seq"] == e.seq and str(back["event_id"]) == e.event_id
            seen.add(e.type)
        for u in t.usage:
            record = u.to_dict(PRICES)
            back = plain(codec.decode(codec.encode(record)))
            assert back["payload"]["usage_id"] == u.usage_id
            seen.add(names.USAGE_RECORDED)
    assert seen == {
        names.TURN_RECALLED,
        names.TURN_PLANNED,
        names.POLICY_DENIED,
        names.TOOL_CALL_REQUESTED,
        names.TOOL_CALL_DELTA,
        names.TOOL_CALL_COMPLETED,
        names.TURN_VERIFIED,
        names.TURN_ANSWERED,
        names.TURN_COMPLETED,
        names.TURN_FAILED,
        names.USAGE_RECORDED,
    }


def test_tool_call_failed_fits_too() -> None:
    codec = EventCodec()
    t = transitions()[2]
    failed = m.on_tool_result(t.state, ToolResult(0, "calc", False, None, "timeout", "slow"), 9)
    record: dict[str, Any] = failed.events[0].to_dict()
    assert record["type"] == names.TOOL_CALL_FAILED
    assert plain(codec.decode(codec.encode(record)))["payload"] == record["payload"]
