"""Hostile input (issue #19 items 7 and 9): a clear 4xx, an open server, nothing appended.

Deep nesting, a lone surrogate and a 5,000-digit number on the three JSON routes;
405 with its ``Allow`` header; a client that never finishes its request headers is
disconnected (uvicorn alone held such connections forever).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from edge_helpers import Server, Session, Tenant, read_topic_async

from somagent.events.catalog import CONVERSATION
from somagent.stack.stack import RunningStack

pytestmark = pytest.mark.integration

DEEP = b'{"inputs": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
SURROGATE = b'{"session_id": "%s", "inputs": {"text": "hi \\ud800 there"}}'
HUGE = b'{"query": "x", "top_k": ' + b"9" * 5000 + b"}"


async def test_hostile_json_is_a_4xx_and_the_server_keeps_serving(
    client: httpx.AsyncClient, session: Session, tenant: Tenant, stack: RunningStack,
    edge: Server,
) -> None:
    json_headers = {"Content-Type": "application/json"}
    key = {"Authorization": f"Bearer {tenant.api_key}"}
    cases = [
        ("/v1/turn", DEEP, session.auth),
        ("/v1/turn", SURROGATE % session.session.encode(), session.auth),
        ("/v1/turn", b'{"session_id": "x", "inputs": {"text": "a"}, "n": 1' + b"0" * 5000 + b"}",
         session.auth),
        ("/v1/session/mint", DEEP, key),
        ("/v1/session/mint", b'{"tenant": "\\udfff"}', key),
        ("/v1/memory/recall", DEEP, session.auth),
        ("/v1/memory/recall", HUGE, session.auth),
        ("/v1/memory/remember", b'{"text": "\\ud800"}', session.auth),
    ]
    for path, body, auth in cases:
        r = await client.post(path, content=body, headers={**auth, **json_headers})
        assert r.status_code in (400, 422), (path, r.status_code, r.text[:200])
        assert r.headers["content-type"] == "application/problem+json"
    assert (await client.get("/healthz")).status_code == 200
    appended = await read_topic_async(
        stack.settings, edge.ctx.codec, CONVERSATION,
        lambda e: e["type"] == "TurnRequested" and str(e["session"]) == session.session, want=0)
    assert appended == []


async def test_405_names_the_allowed_methods(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/turn")
    assert r.status_code == 405 and r.headers["content-type"] == "application/problem+json"
    assert "POST" in r.headers["allow"]


async def test_a_client_that_never_finishes_its_headers_is_disconnected(edge: Server) -> None:
    host, port = edge.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /v1/turn HTTP/1.1\r\nHost: x\r\n")  # ... and nothing more
    await writer.drain()
    # Waits for the server to close it (EOF); the deadline only bounds the test.
    data = await asyncio.wait_for(reader.read(), timeout=60)
    assert data == b""  # closed by the server, no response for a request never sent
    writer.close()
