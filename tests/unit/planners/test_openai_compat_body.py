"""The request body OpenAICompatPlanner sends, and its ``tool_choice`` option."""

from __future__ import annotations

from somagent.planners import OpenAICompatPlanner, PlannerSettings, make_planner

MESSAGES = [{"role": "user", "content": "hi"}]
TOOLS = [{"type": "function", "function": {"name": "calc", "parameters": {"type": "object"}}}]


def test_default_body_streams_with_usage_and_auto_tool_choice() -> None:
    planner = OpenAICompatPlanner("http://127.0.0.1:1/v1", "m")
    body = planner.request_body(MESSAGES, TOOLS)
    assert body == {
        "model": "m",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.0,
        "tools": TOOLS,
        "tool_choice": "auto",
    }


def test_no_tools_sends_neither_tools_nor_tool_choice() -> None:
    planner = OpenAICompatPlanner("http://127.0.0.1:1/v1", "m", tool_choice="required")
    body = planner.request_body(MESSAGES, None)
    assert "tools" not in body and "tool_choice" not in body


def test_tool_choice_option_is_sent_as_given() -> None:
    required = OpenAICompatPlanner("http://127.0.0.1:1/v1", "m", tool_choice="required")
    assert required.request_body(MESSAGES, TOOLS)["tool_choice"] == "required"
    named = {"type": "function", "function": {"name": "calc"}}
    by_name = OpenAICompatPlanner("http://127.0.0.1:1/v1", "m", tool_choice=named)
    sent = by_name.request_body(MESSAGES, TOOLS)["tool_choice"]
    assert sent == named and sent is not named  # a copy in the body


def test_factory_keeps_auto() -> None:
    planner = make_planner(PlannerSettings("http://127.0.0.1:1/v1", "m"))
    assert isinstance(planner, OpenAICompatPlanner)
    assert planner.tool_choice == "auto"
