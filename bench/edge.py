"""The edge under load: open SSE streams held by one process, and its added latency per event.

Starts a private stack (real Kafka, Postgres, Redis; chDB and Qdrant embedded) in a
temporary directory on free loopback ports, runs ``somagent serve api`` as a
subprocess (one edge process), and from this process:

1. opens ``--streams`` concurrent ``POST /v1/turn`` streams (one turn each) and checks
   the server's own gauge ``somagent_edge_sse_streams_open`` and its RSS;
2. appends each turn's engine events (the nine-event script the engine writes) to
   ``conversation.events`` at ``--rate`` events/s, recording the send time;
3. receives every event twice: through the edge's SSE streams and, as the baseline
   in the same run, through one plain Kafka consumer assigned to the topic.

``edge_added_ms`` is, per event, SSE receipt minus direct-consumer receipt (both
clocks are this process's ``perf_counter``), so it isolates what the edge adds
(tailer, fan-out, HTTP) on top of Kafka delivery. ``ratio_p50`` is SSE p50 latency
over direct p50 latency. Also reported: events lost or repeated (must be 0), the
server's own histogram of tailer-read → SSE-write delay, and ramp-up time.
Prints one JSON object. Timings are never asserted anywhere.

Run: ``.venv/bin/python -P bench/edge.py [--streams 1000] [--rate 2000]`` (``-P``
keeps ``bench/`` off ``sys.path``: ``bench/math.py`` would shadow the standard library).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from confluent_kafka import Consumer, TopicPartition

from somagent.api.tenants import create_tenant
from somagent.config import Settings
from somagent.contract.ids import event_id
from somagent.events.catalog import CONVERSATION
from somagent.events.codec import EventCodec
from somagent.events.envelope import make_event
from somagent.events.examples import example_payloads
from somagent.events.registry import SchemaRegistry
from somagent.kafka.producer import EventProducer
from somagent.kafka.schema_log import KafkaSchemaLog
from somagent.policy.defaults import DEFAULT_POLICY_HASH
from somagent.stack.process import free_port
from somagent.stack.stack import Stack
from somagent.stack.testing import fresh_stack_settings
from somagent.wait import until

SCRIPT = ("TurnRecalled", "TurnPlanned", "ToolCallRequested", "ToolCallDelta", "ToolCallDelta",
          "ToolCallCompleted", "TurnVerified", "TurnAnswered", "TurnCompleted")


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def q(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 3)

    return {"p50": q(0.50), "p95": q(0.95), "p99": q(0.99), "max": round(ordered[-1], 3),
            "mean": round(statistics.fmean(ordered), 3), "n": len(ordered)}


def _env(settings: Settings, api_port: int) -> dict[str, str]:
    """The private stack's settings (every port) for the edge process."""
    return {**os.environ, **settings.to_env(),
            "SOMAGENT_API_PORT": str(api_port),
            "SOMAGENT_EDGE_WORKERS": "100000",  # measure streaming, not admission
            "SOMAGENT_EDGE_HEARTBEAT_S": "15"}


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


class DirectConsumer:
    """The baseline: one plain consumer from the log end, recording receipt times by event id.

    Deliberately the raw confluent-kafka client, not ``somagent.kafka``: it is what
    the edge (which reads through the project's layer) is compared against.
    """

    def __init__(self, settings: Settings, codec: EventCodec) -> None:
        self.consumer = Consumer({"bootstrap.servers": settings.kafka_servers,
                                  "group.id": f"bench-{uuid.uuid4().hex}",
                                  "enable.auto.commit": False, "fetch.wait.max.ms": 20})
        meta = self.consumer.list_topics(CONVERSATION, timeout=10).topics[CONVERSATION]
        parts = []
        for p in meta.partitions:
            _, high = self.consumer.get_watermark_offsets(TopicPartition(CONVERSATION, p), 10)
            parts.append(TopicPartition(CONVERSATION, p, high))
        self.consumer.assign(parts)
        self.codec = codec
        self.received: dict[str, float] = {}
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            first = self.consumer.poll(0.05)  # same read pattern as the edge's tailer
            if first is None:
                continue
            batch = [first, *self.consumer.consume(499, timeout=0)]
            now = time.perf_counter()
            for msg in batch:
                value = msg.value()
                if msg.error() is None and value is not None:
                    self.received[str(self.codec.decode(value)["event_id"])] = now

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.consumer.close()


async def _hold(client: httpx.AsyncClient, body: dict[str, Any], auth: dict[str, str],
                opened: asyncio.Queue[str], sse: dict[str, list[tuple[str, float]]]) -> None:
    async with client.stream("POST", "/v1/turn", json=body, headers=auth) as r:
        if r.status_code != 200:
            raise RuntimeError(f"turn refused: {r.status_code} {await r.aread()!r}")
        turn = r.headers["x-turn-id"]
        got = sse.setdefault(turn, [])
        await opened.put(turn)
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                got.append((json.loads(line[6:])["event_id"], time.perf_counter()))


async def _scrape(client: httpx.AsyncClient) -> dict[str, float]:
    text = (await client.get("/metrics")).text
    return {ln.split(" ")[0]: float(ln.split(" ")[1]) for ln in text.splitlines()
            if ln and not ln.startswith("#")}


async def _append_all(producer: EventProducer, tenant: str, session: str, turns: list[str],
                      rate: float) -> dict[str, float]:
    payloads = example_payloads(1)
    sent: dict[str, float] = {}
    gap = 1.0 / rate
    started = time.perf_counter()
    n = 0
    for i, kind in enumerate(SCRIPT):
        for turn in turns:
            eid = str(event_id(turn, kind, i))
            payload = {**payloads[kind], "index": i} if kind == "ToolCallDelta" else payloads[kind]
            sent[eid] = time.perf_counter()
            producer.send(make_event(kind, payload, tenant=tenant, producer="bench",
                                     session=session, turn=turn, trace_id=uuid.uuid4().hex,
                                     seq=i + 1, event_id=eid))
            n += 1
            ahead = started + n * gap - time.perf_counter()
            if ahead > 0:
                await asyncio.sleep(ahead)
    await asyncio.to_thread(producer.flush)
    return sent


async def measure(settings: Settings, streams: int, rate: float, url: str, pid: int
                  ) -> dict[str, Any]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    tenant, api_key = await create_tenant(conn, "bench", "enterprise")
    await conn.close()
    limits = httpx.Limits(max_connections=60, max_keepalive_connections=60)
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(120, read=None),
                                 limits=limits) as client:
        mint = {"tenant": tenant.tenant_id, "persona_hash": "sha256-" + "0" * 64,
                "policy_hash": DEFAULT_POLICY_HASH,
                "budgets": {"tokens": 10**12, "tools_per_min": 0}}
        r = await client.post("/v1/session/mint", json=mint,
                              headers={"Authorization": f"Bearer {api_key}"})
        r.raise_for_status()
        session, jwt = r.json()["session_id"], r.json()["jwt"]
        auth = {"Authorization": f"Bearer {jwt}"}
        body = {"session_id": session, "inputs": {"text": "bench"}, "allow": {"tools": []}}
        opened: asyncio.Queue[str] = asyncio.Queue()
        sse: dict[str, list[tuple[str, float]]] = {}
        ramp_start = time.perf_counter()
        # One client per wave of 50 streams: httpx's pool does O(connections) work per
        # request and release, which would bill the client's cost to the edge.
        tasks: list[asyncio.Task[None]] = []
        turns: list[str] = []
        shards: list[AsyncExitStack] = []
        while len(tasks) < streams:  # open in waves of 50, each wave once the last is open
            wave = min(50, streams - len(tasks))
            shard = AsyncExitStack()
            shards.append(shard)
            stream_client = await shard.enter_async_context(httpx.AsyncClient(
                base_url=url, timeout=httpx.Timeout(120, read=None), limits=limits))
            tasks += [asyncio.create_task(_hold(stream_client, body, auth, opened, sse))
                      for _ in range(wave)]
            turns += [await asyncio.wait_for(opened.get(), 120) for _ in range(wave)]
        ramp_s = time.perf_counter() - ramp_start
        held = await _scrape(client)
        rss = _rss_mib(pid)
        schema_log = KafkaSchemaLog(settings)
        codec = EventCodec(SchemaRegistry(schema_log))
        direct = DirectConsumer(settings, codec)
        producer = EventProducer(settings, codec, config={"linger.ms": 0})
        sent = await _append_all(producer, tenant.tenant_id, session, turns, rate)
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
        for shard in shards:
            await shard.aclose()
        until(lambda: len(direct.received) >= len(sent), timeout_s=60, what="direct consumer")
        direct.close()
        schema_log.close()
        after = await _scrape(client)
    delivered = [eid for got in sse.values() for eid, _ in got]
    sse_at = {eid: t for got in sse.values() for eid, t in got}
    common = [e for e in sent if e in sse_at and e in direct.received]
    ms = 1000.0
    delay_sum = after.get("somagent_edge_sse_event_delay_seconds_sum", 0.0)
    delay_n = after.get("somagent_edge_sse_event_delay_seconds_count", 0.0)
    sse_lat = [(sse_at[e] - sent[e]) * ms for e in common]
    direct_lat = [(direct.received[e] - sent[e]) * ms for e in common]
    kinds = {str(event_id(t, k, i)): k for t in turns for i, k in enumerate(SCRIPT)}
    by_kind = {k: _percentiles([(sse_at[e] - sent[e]) * ms for e in common if kinds[e] == k])
               for k in dict.fromkeys(SCRIPT)}
    return {
        "streams_requested": streams,
        "streams_open_server_gauge": held.get("somagent_edge_sse_streams_open"),
        "server_rss_mib_with_streams_open": rss,
        "ramp_s": round(ramp_s, 2),
        "events_sent": len(sent),
        "events_delivered_sse": len(delivered),
        "events_lost": len(set(sent) - set(delivered)),
        "events_repeated": len(delivered) - len(set(delivered)),
        "send_rate_per_s": rate,
        "direct_consumer_latency_ms": _percentiles(direct_lat),
        "sse_latency_ms": _percentiles(sse_lat),
        "edge_added_ms": _percentiles([a - b for a, b in zip(sse_lat, direct_lat, strict=True)]),
        "ratio_p50": round(statistics.median(sse_lat) / max(1e-9, statistics.median(direct_lat)), 3)
        if sse_lat else None,
        "sse_latency_p50_p95_ms_by_type": {k: (v.get("p50"), v.get("p95"))
                                            for k, v in by_kind.items()},
        "server_tailer_to_write_mean_ms": round(delay_sum / delay_n * ms, 4) if delay_n else None,
        "streams_open_after": after.get("somagent_edge_sse_streams_open"),
    }


def run(streams: int, rate: float) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="somagent-bench-edge-"))
    # Every server on a free port: a platform from `somagent up` may run beside it.
    settings = fresh_stack_settings(home, partitions=3)
    stack = Stack(settings)
    api_port = free_port()
    log = open(home / "edge.log", "w")  # noqa: SIM115 - closed in finally
    server: subprocess.Popen[bytes] | None = None
    url = f"http://127.0.0.1:{api_port}"
    try:  # a start-up that fails half-way still stops what it started
        stack.up()
        server = subprocess.Popen([sys.executable, "-m", "somagent.cli", "serve", "api"],
                                  env=_env(settings, api_port), stdout=log,
                                  stderr=subprocess.STDOUT)
        until(lambda: httpx.get(url + "/healthz", timeout=1).status_code == 200,
              timeout_s=120, what="edge subprocess")
        result = asyncio.run(measure(settings, streams, rate, url, server.pid))
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        log.close()
        stack.down()
    return {
        "bench": "edge",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        **result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000, help="concurrent SSE streams")
    parser.add_argument("--rate", type=float, default=2000.0, help="engine events per second")
    args = parser.parse_args()
    print(json.dumps(run(args.streams, args.rate), indent=2))


if __name__ == "__main__":
    main()
