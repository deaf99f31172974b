"""Every malformed request gets the right RFC 9457 problem, and appends no turn events."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from edge_helpers import Server, Session, read_topic_async, turn_body

from somagent.events.catalog import CONVERSATION
from somagent.stack.stack import RunningStack

pytestmark = pytest.mark.integration

P = "https://somagent.dev/problems/"


async def post(client: httpx.AsyncClient, session: Session, content: bytes | str,
               content_type: str | None = "application/json") -> httpx.Response:
    headers = {**session.auth}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await client.post("/v1/turn", content=content, headers=headers)


def problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert body["type"] == P + slug and body["status"] == status
    assert body["title"] and body["detail"] and body["instance"] == "/v1/turn"
    assert body["trace_id"] == r.headers["x-trace-id"]
    return body


async def test_each_bad_body_gets_its_problem_and_nothing_is_appended(
    client: httpx.AsyncClient, session: Session, stack: RunningStack, edge: Server
) -> None:
    good = turn_body(session)
    problem(await post(client, session, "{not json"), 400, "malformed-json")
    problem(await post(client, session, b"\xff\xfe{}"), 400, "malformed-json")
    problem(await post(client, session, json.dumps(good), "text/plain"), 415,
            "unsupported-media-type")
    problem(await post(client, session, json.dumps(good), None), 415, "unsupported-media-type")
    problem(await post(client, session, "[1, 2]"), 422, "invalid-body")
    missing = problem(await post(client, session, json.dumps({"session_id": session.session})),
                      422, "invalid-body")
    assert "inputs" in missing["detail"]
    extra = problem(await post(client, session, json.dumps({**good, "admin": True})), 422,
                    "invalid-body")
    assert any("admin" in e["message"] for e in extra["errors"])
    nested = {**good, "inputs": {"text": "hi", "x": 1}}
    assert problem(await post(client, session, json.dumps(nested)), 422,
                   "invalid-body")["errors"][0]["pointer"] == "/inputs"
    wrong_type = {**good, "allow": {"tools": "search"}}
    assert problem(await post(client, session, json.dumps(wrong_type)), 422,
                   "invalid-body")["errors"][0]["pointer"] == "/allow/tools"
    bad_uuid = {**good, "session_id": "nope"}
    problem(await post(client, session, json.dumps(bad_uuid)), 422, "invalid-body")
    empty_text = {**good, "inputs": {"text": ""}}
    problem(await post(client, session, json.dumps(empty_text)), 422, "invalid-body")
    bad_memory = {**good, "allow": {"memory": "everything"}}
    problem(await post(client, session, json.dumps(bad_memory)), 422, "invalid-body")
    huge = {**good, "inputs": {"text": "x" * (edge.ctx.edge.max_body_bytes + 1)}}
    problem(await post(client, session, json.dumps(huge)), 413, "body-too-large")

    async def chunks() -> Any:  # no Content-Length: the limit holds while reading
        for _ in range(100):
            yield b"x" * 1024

    r = await client.post("/v1/turn", content=chunks(),
                          headers={**session.auth, "Content-Type": "application/json"})
    problem(r, 413, "body-too-large")
    events = await read_topic_async(
        stack.settings, edge.ctx.codec, CONVERSATION,
        lambda e: str(e.get("session")) == session.session and e["type"] != "SessionMinted",
        want=0)
    assert events == []


async def test_unknown_route_and_method_are_problems(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["type"] == P + "not-found"
    r = await client.get("/v1/turn")
    assert r.status_code == 405 and r.json()["type"] == P + "method-not-allowed"
    assert r.headers["content-type"] == "application/problem+json"
