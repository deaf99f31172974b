"""The OpenAI-compatible provider over real HTTP against a local chat-completions server.

The server is a real Starlette app under uvicorn on 127.0.0.1 speaking the
chat-completions streaming wire format (``data: {chunk}`` SSE lines, tool-call
deltas split across chunks, a final ``usage`` chunk, ``data: [DONE]``). It
works from the request it receives: it checks the bearer key and the body,
picks tool calls by reading the offered function schemas and the user text,
cites the ids listed in the prompt, and counts usage from the messages.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from somagent.planners.exceptions import PlannerError
from somagent.planners.openai_compat import OpenAICompatPlanner, wire_name
from somagent.planners.tokens import TiktokenCounter
from somagent.stack.wait import until
from somagent.tools.broker import ToolBroker
from somagent.tools.calc import SPEC as CALC
from somagent.tools.calc import calc_tool
from somagent.tools.memory_search import SPEC as MEMORY
from somagent.tools.registry import ToolRegistry
from somagent.turns import machine as m
from somagent.turns.ids import idem_key
from somagent.turns.planner import extract_arithmetic
from somagent.turns.state import INVALID_JSON_KEY, Evidence, ToolResult
from somagent.turns.verify import verify

KEY = "sk-local-test"
SEEN: list[dict[str, Any]] = []


def _chunk(delta: dict[str, Any] | None = None, usage: dict[str, int] | None = None) -> bytes:
    body: dict[str, Any] = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [] if delta is None else [{"index": 0, "delta": delta}],
    }
    if usage is not None:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n".encode()


def _plan_chunks(body: dict[str, Any], user: str) -> list[bytes]:
    out = [_chunk({"role": "assistant", "content": ""})]
    index = 0
    for tool in body.get("tools", []):
        fn = tool["function"]
        props = fn["parameters"].get("properties", {})
        if "expression" in props:
            for expr in extract_arithmetic(user):
                args = json.dumps({"expression": expr})
                if body["model"] == "broken-json":
                    args = '{"expression": ' + expr
                half = len(args) // 2
                out.append(
                    _chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": index,
                                    "id": f"call_{index}",
                                    "type": "function",
                                    "function": {"name": fn["name"], "arguments": args[:half]},
                                }
                            ]
                        }
                    )
                )
                out.append(
                    _chunk(
                        {"tool_calls": [{"index": index, "function": {"arguments": args[half:]}}]}
                    )
                )
                index += 1
        elif "query" in props and "remember" in user.lower():
            args = json.dumps({"query": user})
            out.append(
                _chunk(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": f"call_{index}",
                                "type": "function",
                                "function": {"name": fn["name"], "arguments": args},
                            }
                        ]
                    }
                )
            )
            index += 1
    out.append(_chunk({"content": f"Planned {index} call(s)."}))
    return out


def _answer_chunks(user: str) -> list[bytes]:
    ids = re.findall(r"\[(?:tool|mem):[^\]\s]+\]", user)
    words = ["Here", "is", "what", "I", "found", *ids]
    return [_chunk({"content": ("" if i == 0 else " ") + w}) for i, w in enumerate(words)]


async def completions(request: Request) -> Response:
    if request.headers.get("authorization") != f"Bearer {KEY}":
        return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
    body = await request.json()
    SEEN.append(body)
    if not body.get("stream") or not body.get("messages") or not body.get("model"):
        return JSONResponse({"error": {"message": "stream, model, messages required"}}, 400)
    if body["model"] == "server-error":
        return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
    user = next(msg["content"] for msg in body["messages"] if msg["role"] == "user")
    chunks = _plan_chunks(body, user) if body.get("tools") else _answer_chunks(user)
    prompt = sum(len(str(msg["content"]).split()) for msg in body["messages"])
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": len(chunks),
        "total_tokens": prompt + len(chunks),
    }

    async def stream() -> AsyncIterator[bytes]:
        for c in chunks:
            yield c
            await asyncio.sleep(0)
        if body["model"] != "no-usage" and body.get("stream_options", {}).get("include_usage"):
            yield _chunk(None, usage)
        yield b"data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    until(lambda: server.started, timeout_s=20, what="local chat-completions server")
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def planner(base_url: str, model: str = "m", key: str | None = KEY) -> OpenAICompatPlanner:
    return OpenAICompatPlanner(base_url, model, key, timeout_s=10)


def test_plan_assembles_streamed_tool_calls(base_url: str) -> None:
    p = planner(base_url)
    plan = asyncio.run(p.plan("What is 1/3 + 1/6? Also remember the launch.", [CALC, MEMORY], []))
    assert [(c.index, c.tool) for c in plan.calls] == [(0, "calc"), (1, "memory.search")]
    assert plan.calls[0].arguments == {"expression": "1/3 + 1/6"}
    assert plan.planner == "openai:m" and plan.rationale == "Planned 2 call(s)."
    assert plan.usage is not None and plan.usage.source == "provider"
    assert plan.usage.prompt_tokens > 0
    sent = SEEN[-1]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert [t["function"]["name"] for t in sent["tools"]] == ["calc", "memory__search"]
    assert sent["tools"][0]["function"]["parameters"] == CALC.args_schema


def test_answer_streams_text_and_cites(base_url: str) -> None:
    streamed: list[str] = []

    async def on_text(t: str) -> None:
        streamed.append(t)

    p = planner(base_url)
    p.on_text = on_text
    ev = [Evidence("m-1", "launch is friday", 0.9)]
    results = [
        ToolResult(0, "calc", True, {"value": "1/2"}, call_id="c-0"),
        ToolResult(1, "python", False, None, "timeout", "slow", call_id="c-1"),
    ]
    ans = asyncio.run(p.answer("q", ev, results))
    assert ans.text == "Here is what I found [mem:m-1] [tool:c-0]"
    assert ans.citations == ("mem:m-1", "tool:c-0")
    assert "".join(streamed) == ans.text and len(streamed) > 3
    assert verify(ans, ev, results) == []


def test_usage_falls_back_to_the_tokenizer(base_url: str) -> None:
    p = planner(base_url, model="no-usage")
    ans = asyncio.run(p.answer("q", [], []))
    assert ans.usage is not None and ans.usage.source == "tokenizer:cl100k_base"
    assert ans.usage.completion_tokens == TiktokenCounter().count(ans.text)


def test_http_errors_name_url_and_model(base_url: str) -> None:
    with pytest.raises(PlannerError, match="HTTP 401"):
        asyncio.run(planner(base_url, key="wrong").plan("x", [CALC], []))
    with pytest.raises(PlannerError, match=r"model server-error\) answered HTTP 503"):
        asyncio.run(planner(base_url, model="server-error").plan("x", [CALC], []))
    with pytest.raises(PlannerError, match=r"127\.0\.0\.1:1"):
        asyncio.run(OpenAICompatPlanner("http://127.0.0.1:1/v1", "m", KEY).plan("x", [], []))


def test_bad_model_arguments_fail_the_call_not_the_turn(base_url: str) -> None:
    """Through the machine and the broker: invalid JSON from the model becomes a
    ToolCallFailed(invalid-arguments) and the turn goes on to verify."""
    p = planner(base_url, model="broken-json")

    async def scenario() -> list[str]:
        req = m.TurnRequest("t-1", "s-1", "tenant", "what is 2+2", 10**13, ("calc",))
        t = m.start(req, 0)
        t = m.on_recalled(t.state, (), 1)
        plan = await p.plan(t.state.text, [CALC], [])
        t = m.on_planned(t.state, plan, 2)
        assert isinstance(t.action, m.RunToolCall)
        assert INVALID_JSON_KEY in t.action.call.arguments
        broker = ToolBroker(ToolRegistry([calc_tool()]))
        result = await broker.invoke(
            t.action.call, tenant="tenant", idem_key=idem_key("t-1", "tools", 0), timeout_ms=1000
        )
        t2 = m.on_tool_result(t.state, result, 3)
        assert isinstance(t2.action, m.RunVerify)
        return [e.payload.get("reason_code", "") for e in t2.events]

    assert asyncio.run(scenario()) == ["invalid-arguments"]


def test_wire_names_are_valid_function_names() -> None:
    assert wire_name("memory.search") == "memory__search"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", wire_name("a.b/c" * 20))
