"""A planner backed by an OpenAI-compatible chat-completions endpoint.

Speaks ``POST {base_url}/chat/completions`` with ``stream: true`` and
``stream_options.include_usage`` and reads the Server-Sent-Events stream
(``data: {chunk}`` lines, ending with ``data: [DONE]``):

* **plan** – offers the allowed tools as ``tools`` (type ``function``; names
  with characters outside ``[A-Za-z0-9_-]`` are escaped, ``memory.search`` →
  ``memory__search``, and mapped back), and assembles streamed ``tool_calls``
  deltas by index into :class:`~somagent.turns.state.ToolCall` s. With tools it
  sends ``tool_choice`` (:attr:`OpenAICompatPlanner.tool_choice`, ``"auto"``
  unless set; ``"required"`` makes servers that support it constrain the
  output to a tool call). Arguments
  that are not a JSON object become ``{"__invalid_json__": <text>}`` so the
  broker fails that call with ``invalid-arguments`` instead of the turn.
* **answer** – asks for an answer citing only the listed ``[mem:<id>]`` and
  ``[tool:<call_id>]`` ids; streamed text can be forwarded through ``on_text``.

A chunk carrying an ``error`` object (what OpenAI and llama.cpp's server send when
generation fails after the ``200`` status line) raises :class:`PlannerError`.

Token usage comes from the provider's final ``usage`` chunk (source
``provider``); a provider that reports none is counted with the local
tokenizer (source ``tokenizer:<name>``).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from somagent.planners.exceptions import PlannerError
from somagent.planners.token_count import TokenCounter, default_counter
from somagent.turns.planner import ToolDescription
from somagent.turns.state import (
    INVALID_JSON_KEY,
    Answer,
    Evidence,
    Plan,
    TokenUsage,
    ToolCall,
    ToolResult,
)
from somagent.turns.verify import cited_ids

_NAME_OK = re.compile(r"[^A-Za-z0-9_-]")

PLAN_SYSTEM: Final = (
    "You plan tool calls for a user's request. Call the tools that are needed to answer "
    "it, with arguments matching their JSON schemas; call none if the evidence suffices. "
    "Reply with one short sentence explaining the plan."
)
ANSWER_SYSTEM: Final = (
    "Answer the user's request using only the evidence and tool results given. After each "
    "statement cite its source exactly as written in brackets, e.g. [mem:<id>] or "
    "[tool:<call_id>]; cite nothing else. Never reveal e-mail addresses, phone numbers or "
    "pii: tokens."
)


def offered_tools(tools: Sequence[ToolDescription]) -> list[dict[str, Any]]:
    """The request's ``tools``: one ``function`` per tool, under its :func:`wire_name`."""
    return [
        {
            "type": "function",
            "function": {
                "name": wire_name(t.name),
                "description": t.description,
                "parameters": dict(t.args_schema),
            },
        }
        for t in tools
    ]


def wire_name(tool: str) -> str:
    """A tool name as a chat-completions function name (``[A-Za-z0-9_-]``, ≤ 64 chars)."""
    return _NAME_OK.sub(lambda m: "__" if m.group(0) == "." else f"_x{ord(m.group(0)):x}_", tool)[
        :64
    ]


def _evidence_block(evidence: Sequence[Evidence]) -> str:
    if not evidence:
        return "Evidence: none."
    lines = [f"[mem:{e.memory_id}] {e.text}" for e in evidence]
    return "Evidence:\n" + "\n".join(lines)


def _results_block(results: Sequence[ToolResult]) -> str:
    lines = []
    for r in results:
        if r.ok:
            out = json.dumps(r.output, sort_keys=True, default=str)
            lines.append(f"[tool:{r.call_id}] {r.tool} returned {out}")
        else:
            lines.append(f"{r.tool} failed ({r.error_code}): {r.error} (not citable)")
    return "Tool results:\n" + ("\n".join(lines) if lines else "none.")


@dataclass
class _Stream:
    """What one streamed completion produced."""

    text: str = ""
    tool_calls: dict[int, dict[str, str]] = field(default_factory=dict)
    usage: Mapping[str, Any] | None = None

    def add(self, chunk: Mapping[str, Any]) -> str:
        """Fold one chunk in; returns the text it added."""
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        added = ""
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                added += str(delta["content"])
            for tc in delta.get("tool_calls") or []:
                slot = self.tool_calls.setdefault(int(tc.get("index", 0)), {"name": "", "args": ""})
                fn = tc.get("function") or {}
                slot["name"] += str(fn.get("name") or "")
                slot["args"] += str(fn.get("arguments") or "")
        self.text += added
        return added


@dataclass
class OpenAICompatPlanner:
    """Planner over an OpenAI-compatible API (see the module doc)."""

    base_url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 60.0
    counter: TokenCounter = field(default_factory=default_counter)
    temperature: float = 0.0
    client: httpx.AsyncClient | None = None
    on_text: Callable[[str], Awaitable[None]] | None = None
    # A remote model: its plans and answers are made durable before the turn goes on.
    local: bool = False
    # ``tool_choice`` sent with the offered tools, as the chat-completions API defines it:
    # "auto" (the model decides; the default), "required" (at least one tool call),
    # "none", or {"type": "function", "function": {"name": ...}} (that function; not every
    # server supports the object form).
    tool_choice: str | Mapping[str, Any] = "auto"

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    async def _chunks(self, body: dict[str, Any]) -> AsyncIterator[Mapping[str, Any]]:
        url = self.base_url.rstrip("/") + "/chat/completions"
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        client = self.client or httpx.AsyncClient(timeout=self.timeout_s)
        try:
            async with client.stream("POST", url, json=body, headers=headers) as resp:
                if resp.status_code != 200:
                    detail = (await resp.aread()).decode(errors="replace")[:500]
                    raise PlannerError(
                        f"{url} (model {self.model}) answered HTTP {resp.status_code}: {detail}"
                    )
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    try:
                        chunk = json.loads(data)
                    except ValueError as exc:
                        raise PlannerError(f"{url}: malformed stream chunk {data[:200]!r}") from exc
                    if isinstance(chunk, dict) and chunk.get("error"):
                        detail = json.dumps(chunk["error"])[:500]
                        raise PlannerError(
                            f"{url} (model {self.model}) failed mid-stream: {detail}"
                        )
                    yield chunk
        except httpx.HTTPError as exc:
            raise PlannerError(f"{url} (model {self.model}): {exc!r}") from exc
        finally:
            if self.client is None:
                await client.aclose()

    def request_body(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> dict[str, Any]:
        """The JSON body of one streamed chat-completions request."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": self.temperature,
        }
        if tools:
            body["tools"] = tools
            body["tool_choice"] = (
                self.tool_choice if isinstance(self.tool_choice, str) else dict(self.tool_choice)
            )
        return body

    async def _complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        stream_text: bool,
    ) -> _Stream:
        out = _Stream()
        async for chunk in self._chunks(self.request_body(messages, tools)):
            added = out.add(chunk)
            if added and stream_text and self.on_text is not None:
                await self.on_text(added)
        return out

    def _usage(self, out: _Stream, prompt: str) -> TokenUsage:
        if out.usage is not None:
            return TokenUsage(
                int(out.usage.get("prompt_tokens", 0)),
                int(out.usage.get("completion_tokens", 0)),
                "provider",
            )
        completion = out.text + "".join(c["args"] for c in out.tool_calls.values())
        return TokenUsage(
            self.counter.count(prompt),
            self.counter.count(completion),
            f"tokenizer:{self.counter.name}",
        )

    async def plan(
        self, text: str, tools: Sequence[ToolDescription], evidence: Sequence[Evidence]
    ) -> Plan:
        names = {wire_name(t.name): t.name for t in tools}
        offered = offered_tools(tools)
        user = f"{text}\n\n{_evidence_block(evidence)}"
        messages = [{"role": "system", "content": PLAN_SYSTEM}, {"role": "user", "content": user}]
        out = await self._complete(messages, offered or None, stream_text=False)
        calls = []
        for i, key in enumerate(sorted(out.tool_calls)):
            slot = out.tool_calls[key]
            calls.append(ToolCall(i, names.get(slot["name"], slot["name"]), _arguments(slot)))
        prompt = PLAN_SYSTEM + user + json.dumps(offered)
        return Plan(tuple(calls), out.text.strip(), self.name, self._usage(out, prompt))

    async def answer(
        self,
        text: str,
        evidence: Sequence[Evidence],
        tool_results: Sequence[ToolResult],
        calls: Sequence[ToolCall] = (),
    ) -> Answer:
        user = f"{text}\n\n{_evidence_block(evidence)}\n\n{_results_block(tool_results)}"
        messages = [{"role": "system", "content": ANSWER_SYSTEM}, {"role": "user", "content": user}]
        out = await self._complete(messages, None, stream_text=True)
        body = out.text.strip()
        return Answer(
            body, tuple(dict.fromkeys(cited_ids(body))), self._usage(out, ANSWER_SYSTEM + user)
        )


def _arguments(slot: Mapping[str, str]) -> dict[str, Any]:
    raw = slot["args"].strip() or "{}"
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {INVALID_JSON_KEY: raw}
    return parsed if isinstance(parsed, dict) else {INVALID_JSON_KEY: raw}
