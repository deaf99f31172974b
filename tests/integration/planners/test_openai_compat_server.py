"""OpenAICompatPlanner against a real OpenAI-compatible server (llama.cpp's llama-server).

The model is SmolLM2-135M-Instruct: real weights, but far too small to plan well, so
these tests check the protocol, not answer quality: streamed SSE, assembled
``tool_calls`` deltas under a server-side grammar (``tool_choice: "required"``),
tool-name escaping both ways, ``on_text`` streaming, provider-reported usage and
error reporting. Decoding is greedy (temperature 0).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema
import pytest
from llama_server_helpers import CONTEXT_TOKENS, MAX_TOKENS, LlamaServer

from somagent.planners.exceptions import PlannerError
from somagent.planners.openai_compat import (
    ANSWER_SYSTEM,
    PLAN_SYSTEM,
    offered_tools,
)
from somagent.stack.process import free_port
from somagent.turns.state import INVALID_JSON_KEY, Evidence, ToolResult

pytestmark = pytest.mark.timeout(120)


@dataclass(frozen=True)
class Tool:
    """A tool as planners see it (``ToolDescription``). The project's own ``calc`` and
    ``memory.search`` names, with argument schemas whose strings are short enough that
    any call the grammar admits fits in the server's token cap (the real schemas allow
    2000 characters, which a 135M model can fill with one run-on string)."""

    name: str
    description: str
    args_schema: Mapping[str, Any]


CALC = Tool(
    "calc",
    "Exact arithmetic calculator: compute the value of an expression.",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["expression"],
        "properties": {"expression": {"type": "string", "minLength": 1, "maxLength": 24}},
    },
)
MEMORY_SEARCH = Tool(
    "memory.search",
    "Search and recall the user's long-term memory notes about a topic.",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["query"],
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 24},
            "top_k": {"type": "integer", "minimum": 1, "maximum": 9},
        },
    },
)
TOOLS = (CALC, MEMORY_SEARCH)
SCHEMAS = {t.name: t.args_schema for t in TOOLS}


async def _raw_stream(server: LlamaServer, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The chunks of one streamed request made without the planner."""
    chunks: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {server.api_key}"}
    async with (
        httpx.AsyncClient(timeout=60.0) as client,
        client.stream(
            "POST", f"{server.base_url}/chat/completions", json=body, headers=headers
        ) as resp,
    ):
        assert resp.status_code == 200, (await resp.aread()).decode()
        async for line in resp.aiter_lines():
            if line.startswith("data:") and line[5:].strip() != "[DONE]":
                chunks.append(json.loads(line[5:]))
    return chunks


async def _prompt_tokens(server: LlamaServer, body: dict[str, Any]) -> int:
    """The server's own count of a request's prompt: its template, then its tokenizer."""
    root = server.base_url.removesuffix("/v1")
    headers = {"Authorization": f"Bearer {server.api_key}"}
    async with httpx.AsyncClient(timeout=30.0) as client:
        applied = await client.post(
            f"{root}/apply-template",
            json={k: body[k] for k in ("messages", "tools", "tool_choice") if k in body},
            headers=headers,
        )
        applied.raise_for_status()
        tokens = await client.post(
            f"{root}/tokenize",
            json={"content": applied.json()["prompt"], "add_special": True, "parse_special": True},
            headers=headers,
        )
        tokens.raise_for_status()
    return len(tokens.json()["tokens"])


async def test_forced_tool_call_maps_escaped_name_back(llama_server: LlamaServer) -> None:
    planner = llama_server.planner(tool_choice="required")
    plan = await planner.plan("Search my memory for my name.", [MEMORY_SEARCH], ())

    # The grammar only admits offered wire names; the planner must map memory__search back.
    assert [c.tool for c in plan.calls] == ["memory.search"], plan
    (call,) = plan.calls
    assert call.index == 0
    assert INVALID_JSON_KEY not in call.arguments, call.arguments
    jsonschema.validate(dict(call.arguments), MEMORY_SEARCH.args_schema)
    assert plan.planner == f"openai:{llama_server.model}"
    assert plan.usage is not None and plan.usage.source == "provider"

    # The same request without the planner streams the escaped name in tool_calls deltas.
    body = planner.request_body(
        [
            {"role": "system", "content": PLAN_SYSTEM},
            {"role": "user", "content": "Search my memory for my name.\n\nEvidence: none."},
        ],
        offered_tools([MEMORY_SEARCH]),
    )
    deltas = [
        tc
        for chunk in await _raw_stream(llama_server, body)
        for choice in chunk.get("choices") or []
        for tc in (choice.get("delta") or {}).get("tool_calls") or []
    ]
    names = "".join((tc.get("function") or {}).get("name") or "" for tc in deltas)
    arguments = "".join((tc.get("function") or {}).get("arguments") or "" for tc in deltas)
    assert names == "memory__search"
    assert json.loads(arguments) == dict(call.arguments)


async def test_forced_plan_over_two_tools_returns_schema_valid_calls(
    llama_server: LlamaServer,
) -> None:
    planner = llama_server.planner(tool_choice="required")
    plan = await planner.plan("What is 17 * 23? Use the calculator.", TOOLS, ())

    assert len(plan.calls) == 1, plan  # the template allows one call per message
    call = plan.calls[0]
    assert call.tool in SCHEMAS, call  # an offered tool, under its own (unescaped) name
    assert isinstance(call.arguments, dict)
    assert INVALID_JSON_KEY not in call.arguments, call.arguments
    jsonschema.validate(dict(call.arguments), SCHEMAS[call.tool])


async def test_plan_usage_is_what_the_server_reported(llama_server: LlamaServer) -> None:
    planner = llama_server.planner(tool_choice="required")
    text = "Search my memory for the word apple."
    plan = await planner.plan(text, [MEMORY_SEARCH], ())

    body = planner.request_body(
        [
            {"role": "system", "content": PLAN_SYSTEM},
            {"role": "user", "content": f"{text}\n\nEvidence: none."},
        ],
        offered_tools([MEMORY_SEARCH]),
    )
    reported = [c["usage"] for c in await _raw_stream(llama_server, body) if c.get("usage")]
    assert len(reported) == 1, reported  # one usage chunk, at the end (include_usage)

    usage = plan.usage
    assert usage is not None and usage.source == "provider"
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    # Greedy decoding: the identical request is answered identically.
    assert usage.prompt_tokens == reported[0]["prompt_tokens"]
    assert usage.completion_tokens == reported[0]["completion_tokens"]
    # And the prompt count is the server's template + tokenizer, not the local cl100k count.
    assert usage.prompt_tokens == await _prompt_tokens(llama_server, body)


async def test_answer_streams_text_through_on_text(llama_server: LlamaServer) -> None:
    chunks: list[str] = []

    async def on_text(piece: str) -> None:
        chunks.append(piece)

    planner = llama_server.planner(on_text=on_text)
    evidence = [Evidence("m1", "The user's favourite colour is green.", 0.9)]
    results = [ToolResult(0, "calc", True, {"value": "391"}, call_id="c1")]
    answer = await planner.answer("What is my favourite colour?", evidence, results)

    assert answer.text, answer
    assert len(chunks) > 1, chunks  # streamed piece by piece, not in one block
    assert "".join(chunks).strip() == answer.text
    usage = answer.usage
    assert usage is not None and usage.source == "provider"
    assert 0 < usage.completion_tokens <= MAX_TOKENS
    user = (
        "What is my favourite colour?\n\nEvidence:\n[mem:m1] The user's favourite colour is "
        'green.\n\nTool results:\n[tool:c1] calc returned {"value": "391"}'
    )
    body = planner.request_body(
        [{"role": "system", "content": ANSWER_SYSTEM}, {"role": "user", "content": user}], None
    )
    assert usage.prompt_tokens == await _prompt_tokens(llama_server, body)


async def test_wrong_api_key_is_a_planner_error(llama_server: LlamaServer) -> None:
    planner = llama_server.planner(api_key="not-the-key")
    with pytest.raises(PlannerError) as info:
        await planner.plan("What is 1 + 1?", TOOLS, ())
    message = str(info.value)
    assert "HTTP 401" in message and "Invalid API Key" in message, message
    assert llama_server.base_url in message and llama_server.model in message


async def test_prompt_over_the_context_is_a_planner_error(llama_server: LlamaServer) -> None:
    planner = llama_server.planner()
    with pytest.raises(PlannerError) as info:
        await planner.answer("apple " * (CONTEXT_TOKENS + 100), (), ())
    message = str(info.value)
    assert "HTTP 400" in message and "context" in message, message


async def test_error_after_the_stream_started_is_a_planner_error(
    llama_server: LlamaServer,
) -> None:
    # With tool_choice "auto" no grammar applies, and this model answers in plain text,
    # which the test template's output format (<reply>...</reply> or a JSON call) does not
    # admit: llama-server has already sent "200" and a first chunk, then streams
    # {"error": {"code": 500, ...}}. The planner must fail, not return an empty plan.
    planner = llama_server.planner()  # tool_choice "auto", the default
    with pytest.raises(PlannerError) as info:
        await planner.plan("What is 17 * 23? Use the calculator.", TOOLS, ())
    message = str(info.value)
    assert "failed mid-stream" in message and "does not match" in message, message
    assert llama_server.model in message


async def test_unreachable_server_is_a_planner_error() -> None:
    from somagent.planners import OpenAICompatPlanner

    planner = OpenAICompatPlanner(f"http://127.0.0.1:{free_port()}/v1", "any", timeout_s=5.0)
    with pytest.raises(PlannerError, match="ConnectError"):
        await planner.answer("hello", (), ())
