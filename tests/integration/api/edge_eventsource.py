"""Reading ``text/event-stream`` the way a browser's EventSource does (WHATWG HTML §9.2).

Lines end in CRLF, LF or CR; a blank line dispatches; ``:`` lines are comments;
``field: value`` (one leading space dropped); ``data`` lines join with ``\\n``;
``id`` sets the last event id (kept across events, ignored if it contains NUL);
``retry`` (digits only) sets the reconnection time; ``event`` defaults to
``message``; an event with no data is not dispatched.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Message:
    event: str
    data: str
    last_event_id: str

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class EventSourceState:
    last_event_id: str = ""
    retry_ms: int | None = None
    comments: list[str] = field(default_factory=list)


def _split_lines(buffer: str) -> tuple[list[str], str]:
    lines: list[str] = []
    start = 0
    i = 0
    while i < len(buffer):
        ch = buffer[i]
        if ch == "\n" or ch == "\r":
            if ch == "\r" and i + 1 == len(buffer):
                break  # a CR at the end might be the first half of CRLF
            lines.append(buffer[start:i])
            if ch == "\r" and buffer[i + 1] == "\n":
                i += 1
            start = i + 1
        i += 1
    return lines, buffer[start:]


async def messages(
    response: httpx.Response, state: EventSourceState | None = None
) -> AsyncIterator[Message]:
    """Dispatched messages of an open streaming response, in order."""
    st = state or EventSourceState()
    event, data = "", []
    pending = ""
    async for text in response.aiter_text():
        lines, pending = _split_lines(pending + text)
        for line in lines:
            if line == "":
                if data:
                    yield Message(event or "message", "\n".join(data), st.last_event_id)
                event, data = "", []
                continue
            if line.startswith(":"):
                st.comments.append(line[1:].strip())
                continue
            name, sep, value = line.partition(":")
            if sep and value.startswith(" "):
                value = value[1:]
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id" and "\0" not in value:
                st.last_event_id = value
            elif name == "retry" and value.isdigit():
                st.retry_ms = int(value)
