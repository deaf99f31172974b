"""Helpers for the edge tests: a real uvicorn server on a free loopback port, in a thread,
against the session's real stack; plus helpers to create tenants, mint sessions,
append the engine's events to the real topic and read what was appended.

Memory goes to the stack's Memory Gateway, ClickHouse to its analytics service,
as in a running platform.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from edge_eventsource import EventSourceState, Message, messages
from starlette.applications import Starlette

from somagent.api.app import create_app
from somagent.api.context import EdgeContext
from somagent.api.http_protocol import HeaderTimeoutProtocol
from somagent.api.settings import EdgeSettings
from somagent.api.tenants import create_tenant
from somagent.config import Settings
from somagent.contract.ids import event_id
from somagent.events.codec import EventCodec
from somagent.events.envelope import make_event
from somagent.events.examples import example_payloads
from somagent.events.registry import SchemaRegistry
from somagent.kafka.admin import partitions_of
from somagent.kafka.producer import EventProducer
from somagent.kafka.reader import LogReader
from somagent.kafka.schema_log import KafkaSchemaLog
from somagent.policy.defaults import DEFAULT_POLICY_HASH
from somagent.stack.process import free_port
from somagent.wait import until


@dataclass
class Server:
    url: str
    app: Starlette
    thread: threading.Thread
    server: uvicorn.Server

    @property
    def ctx(self) -> EdgeContext:
        ctx: EdgeContext = self.app.state.edge
        return ctx

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def start_server(settings: Settings, edge: EdgeSettings) -> Server:
    """Run ``create_app`` under uvicorn in a thread; return once ``/healthz`` answers."""
    port = free_port()
    app = create_app(settings, edge)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            timeout_graceful_shutdown=2, backlog=4096,
                            http=HeaderTimeoutProtocol)  # as `somagent serve api` runs it
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if not thread.is_alive():
            raise RuntimeError("uvicorn thread exited during start-up")
        return httpx.get(url + "/healthz", timeout=1.0).status_code == 200

    until(healthy, timeout_s=60, what=f"edge on {url}")
    return Server(url, app, thread, server)


EDGE = EdgeSettings(heartbeat_s=1.0, stream_grace_s=5.0, turn_deadline_ms=60_000)


def sha(text: str) -> str:
    return "sha256-" + hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Tenant:
    tenant: str
    api_key: str


async def new_tenant(settings: Settings, name: str = "acme") -> Tenant:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        tenant, key = await create_tenant(conn, f"{name}-{uuid.uuid4().hex[:6]}", "pro", "eu")
    finally:
        await conn.close()
    return Tenant(tenant.tenant_id, key)


@dataclass
class Session:
    tenant: str
    session: str
    jwt: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.jwt}"}


async def mint(
    client: httpx.AsyncClient, tenant: Tenant, *, tokens: int = 100_000, tools_per_min: int = 60,
    capsules: list[str] | None = None,
) -> Session:
    body: dict[str, Any] = {
        "tenant": tenant.tenant, "persona_hash": sha("persona"), "policy_hash": DEFAULT_POLICY_HASH,
        "budgets": {"tokens": tokens, "tools_per_min": tools_per_min},
    }
    if capsules is not None:
        body["capsule_ids"] = capsules
    r = await client.post("/v1/session/mint", json=body,
                          headers={"Authorization": f"Bearer {tenant.api_key}"})
    assert r.status_code == 200, r.text
    data = r.json()
    return Session(tenant.tenant, data["session_id"], data["jwt"])


class Engine:
    """Appends events of the engine's types to the real topic, with the real codec and
    producer, so a protocol test chooses when each lands (resume mid-turn, a heartbeat
    while the turn is idle, a failure after a cancel). The edge under test reads the
    real log either way; what the real engine (``somagent serve worker``) appends is
    streamed, resumed and replayed by the same guarantees in test_api_engine.py."""

    SCRIPT = ("TurnRecalled", "TurnPlanned", "ToolCallRequested", "ToolCallDelta",
              "ToolCallDelta", "ToolCallCompleted", "TurnVerified", "TurnAnswered",
              "TurnCompleted")

    def __init__(self, settings: Settings) -> None:
        self.schema_log = KafkaSchemaLog(settings)
        self.codec = EventCodec(SchemaRegistry(self.schema_log))
        self.producer = EventProducer(settings, self.codec)

    def append(self, tenant: str, session: str, turn: str, trace_id: str,
               types: tuple[str, ...] = SCRIPT, first_seq: int = 1) -> None:
        payloads = example_payloads(1)
        for i, kind in enumerate(types):
            payload = dict(payloads[kind])
            if kind == "ToolCallDelta":
                payload = {**payload, "index": i}
            self.producer.send(make_event(
                kind, payload, tenant=tenant, producer="turns", session=session, turn=turn,
                trace_id=trace_id, seq=first_seq + i, event_id=event_id(turn, kind, i),
            ))
        self.producer.flush()

    def close(self) -> None:
        self.producer.close()
        self.schema_log.close()


def read_topic(settings: Settings, codec: EventCodec, topic: str,
               match: Callable[[dict[str, Any]], bool], *, want: int = 1,
               timeout_s: float = 20.0) -> list[dict[str, Any]]:
    """Events of ``topic`` (from the start) that ``match``, once at least ``want`` are found
    or, for ``want=0``, everything up to the current end."""
    reader = LogReader(settings, partitions_of(settings, [topic], 10), {},
                       name=f"test-{uuid.uuid4().hex}", config={})
    try:
        ends = {tp: high for tp, (_, high) in reader.watermarks(10).items()}
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for msg in reader.messages(500, 0.2):
                event = codec.decode(msg.value())
                if match(event):
                    found.append(event)
            if want and len(found) >= want:
                return found
            if not want and reader.caught_up(ends):
                return found
        return found
    finally:
        reader.close()


async def read_topic_async(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    return await asyncio.to_thread(read_topic, *args, **kwargs)


def default_root() -> Path:
    return Path(__file__).resolve().parents[3]


EXPECTED = ["recall", "plan", "tool.delta", "tool.delta", "tool.delta", "tool.delta",
            "verify", "answer", "done"]


def turn_body(session: Session, text: str = "What did we decide about Q1?",
              tools: list[str] | None = None) -> dict[str, Any]:
    return {"session_id": session.session, "inputs": {"text": text},
            "allow": {"tools": tools if tools is not None else ["search"], "memory": "readwrite"}}


def post_turn(client: httpx.AsyncClient, session: Session, **kw: Any) -> Any:
    return client.stream("POST", "/v1/turn", json=turn_body(session, **kw), headers=session.auth)


async def collect(response: httpx.Response, state: EventSourceState | None = None,
                  *, stop_after: int | None = None) -> list[Message]:
    got: list[Message] = []
    async for msg in messages(response, state):
        got.append(msg)
        if stop_after is not None and len(got) >= stop_after:
            break
    return got


async def run_turn(client: httpx.AsyncClient, engine: Engine, session: Session,
                   headers: dict[str, str] | None = None) -> tuple[str, list[Message], str]:
    """Start a turn, play the engine's events, read the stream to its end."""
    async with client.stream("POST", "/v1/turn", json=turn_body(session),
                             headers={**session.auth, **(headers or {})}) as r:
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("text/event-stream")
        turn = r.headers["x-turn-id"]
        trace = r.headers["x-trace-id"]
        await asyncio.to_thread(engine.append, session.tenant, session.session, turn, trace)
        got = await asyncio.wait_for(collect(r), 30)
    return turn, got, trace
