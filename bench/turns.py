"""Turn overhead and throughput against a running platform, next to raw Kafka round trips.

Drives real turns through the edge of a running platform (``somagent up``; the URL
is ``--api-url``, default the settings' ``api_url``) from this separate process over
HTTP + Server-Sent Events on loopback, at concurrency 1, 16 and 64 (closed loop: each
of ``c`` lanes has its own session and starts its next turn when the last one is
done), each level bounded by a number of turns and a time limit. The turns are pure
engine overhead: the deterministic planner, no tools allowed and memory ``none``, so
no tool or recall time is in the figures.

Measured per level:

* ``turn_overhead_ms``: edge receive → answer, from the log's own timestamps:
  ``TurnAnswered.ts − TurnRequested.ts`` of each turn, read back from
  ``conversation.events`` after the level (``TurnRequested.ts`` is stamped when the
  edge builds the event, after token and body checks; ``TurnAnswered.ts`` when the
  engine builds the answer, before appending it);
* ``answer_delivered_ms``: this process's wall clock when the ``answer`` SSE event
  arrived − ``TurnRequested.ts`` (same machine, same clock): edge receive → answer
  delivered to the client;
* ``client_first_byte_to_answer_ms`` and ``client_request_to_answer_ms``
  (``perf_counter`` of this process);
* ``client_request_to_done_ms`` — the **end-to-end** figure: this process's
  ``perf_counter`` from sending ``POST /v1/turn`` to reading ``event: done``
  (everything a client waits for: edge, Kafka hops, engine, SSE delivery);
* ``refused_ms``: for requests the edge refused (429/503), request sent → status
  read (a refusal must be cheap and fast);
* ``cpu_ms_per_turn``: CPU time (user + system, from ``/proc`` via psutil) the
  platform's role processes (the supervisor's children, with their own children)
  used during the level, divided by the completed turns; ``servers_cpu_ms_per_turn``
  the same for Kafka, PostgreSQL and Redis;
* ``turns_per_s``: completed turns over the level's wall time.

``--workers 1,2`` repeats every level once per turn-engine process count: the
platform is re-laid out with ``somagent up --workers N`` (same edges) before each
sweep and put back to its original layout at the end.

The baseline, measured in the same run before the load: raw confluent-kafka
round trips on a scratch topic (1 partition), one record in flight at a time:
produce → consume back (``produce_consume_ms``, ``linger.ms=0``, ``acks=all``),
produce → broker acknowledgement (``produce_ack_ms``), and produce → consume with
the project's own producer settings (``producer_config``: idempotent, ``acks=all``,
``linger.ms=5``, lz4), which is what the engine appends with.

Kafka hops a turn takes (sequential round trips on its critical path, counted from
the design in somagent/streams/driver.py, sink.py and api/routes_turns.py):

1. the edge appends ``TurnRequested``; the Faust ``turns`` agent consumes it
   (produce → consume);
2. the engine appends ``TurnRecalled`` (memory ``none``: recall is passed through)
   and waits for the broker's ack before planning (produce → ack);
3. appends ``TurnPlanned`` (+ its usage record), waits for the ack;
4. appends ``TurnVerified`` (+ usage), waits for the ack; then builds ``TurnAnswered``
   (its ``ts``: the end of ``turn_overhead_ms``);
5. appends ``TurnAnswered`` + usage + ``TurnCompleted``; the edge's tailer consumes
   the answer (produce → consume; the engine's ack wait runs beside it).

So ``turn_overhead_ms`` spans hops 1-4 and ``answer_delivered_ms`` hops 1-5.
Ratios: ``ratio_pXX = turn_overhead_pXX / (4 × raw produce_consume_pXX)`` and
``delivered_ratio_pXX = answer_delivered_pXX / (5 × raw produce_consume_pXX)``;
``ratio_project_config_pXX`` divides by 4 round trips with the project's producer
settings instead (what the linger the engine's producer uses costs is then not
counted as overhead).
Counting acked appends as full round trips makes the baseline larger than Kafka's
real floor (an ack comes before a consumer could read), so the ratios err low.

Prints one JSON object. Timings are never asserted anywhere. Run with ``-P``
(``bench/math.py`` would shadow the standard library)::

    .venv/bin/python -P bench/turns.py [--quick] [--api-url http://127.0.0.1:8787]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import httpx
import psutil
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from somagent.api.tenants import create_tenant
from somagent.config import Settings, load_settings
from somagent.events.catalog import CONVERSATION
from somagent.events.codec import EventCodec
from somagent.kafka.admin import end_offsets, partitions_of
from somagent.kafka.clients import producer_config
from somagent.kafka.reader import LogReader
from somagent.kafka.schema_log import kafka_registry
from somagent.policy.defaults import DEFAULT_POLICY_HASH
from somagent.stack.postgres import Postgres
from somagent.wait import until

LEVELS = (1, 16, 64, 256)
HOPS_LOG_SPAN = 4
HOPS_DELIVERED = 5
WANTED_TYPES = {b"TurnRequested", b"TurnPlanned", b"TurnAnswered", b"TurnCompleted"}


def percentiles(values: list[float]) -> dict[str, float]:
    """Nearest-rank P50/P95/P99, mean and max (ms, 3 decimals); ``{}`` when empty."""
    if not values:
        return {}
    ordered = sorted(values)

    def q(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))], 3)

    return {"p50": q(0.50), "p95": q(0.95), "p99": q(0.99), "mean":
            round(statistics.fmean(ordered), 3), "max": round(ordered[-1], 3), "n": len(ordered)}


# -- the baseline: raw Kafka round trips ----------------------------------------------
# Deliberately the raw confluent-kafka client, not somagent.kafka: this is the
# client's own floor that the project's layers are compared against.


def _wait_assigned(consumer: Consumer, tp: TopicPartition) -> None:
    _, high = consumer.get_watermark_offsets(tp, timeout=10)
    consumer.assign([TopicPartition(tp.topic, tp.partition, high)])
    consumer.poll(0.2)  # let the fetcher start


def _round_trips(settings: Settings, topic: str, samples: int, config: dict[str, Any],
                 deadline: float) -> tuple[list[float], list[float]]:
    """``samples`` sequential produce→ack and produce→consume times (ms) on ``topic``."""
    producer = Producer(config)
    consumer = Consumer({"bootstrap.servers": settings.kafka_servers,
                         "group.id": f"bench-rtt-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 20,
                         "socket.nagle.disable": True})
    acks: list[float] = []
    trips: list[float] = []
    try:
        _wait_assigned(consumer, TopicPartition(topic, 0))
        payload = os.urandom(600)  # about a turn event's size
        for i in range(samples + 5):
            if time.monotonic() > deadline:
                break
            acked: list[float] = []

            def on_delivery(_err: Any, _msg: Any, box: list[float] = acked) -> None:
                box.append(time.perf_counter())

            start = time.perf_counter()
            producer.produce(topic, payload, key=str(i).encode(), on_delivery=on_delivery)
            got = None
            while got is None or not acked:
                producer.poll(0)
                msg = consumer.poll(0.0005)
                if msg is not None and msg.error() is None and msg.key() == str(i).encode():
                    got = time.perf_counter()
                if time.perf_counter() - start > 10:
                    raise RuntimeError(f"no round trip on {topic} within 10 s")
            if i >= 5:  # the first few warm connections and fetch sessions
                acks.append((acked[0] - start) * 1000)
                trips.append((got - start) * 1000)
    finally:
        producer.flush(10)
        consumer.close()
    return acks, trips


def raw_kafka(settings: Settings, samples: int, time_limit_s: float) -> dict[str, Any]:
    """The baseline on a scratch topic, deleted afterwards."""
    topic = f"bench.turns.rtt.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": settings.kafka_servers})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    deadline = time.monotonic() + time_limit_s
    try:
        floor = {"bootstrap.servers": settings.kafka_servers, "acks": "all",
                 "enable.idempotence": True, "linger.ms": 0, "socket.nagle.disable": True}
        acks, trips = _round_trips(settings, topic, samples, floor, deadline)
        project = producer_config(settings)
        _, project_trips = _round_trips(settings, topic, samples, project, deadline)
    finally:
        admin.delete_topics([topic])[topic].result(30)
    return {
        "topic": "scratch, 1 partition, deleted afterwards",
        "record_bytes": 600,
        "produce_consume_ms": percentiles(trips),
        "produce_ack_ms": percentiles(acks),
        "produce_consume_project_config_ms": percentiles(project_trips),
        "producer": "acks=all, idempotent, linger.ms=0 (project config: linger.ms=5, lz4)",
        "consumer": "assigned partition, fetch.wait.max.ms=20, poll(0.5 ms) loop",
    }


# -- the load: real turns through the edge -------------------------------------------


@dataclass
class TurnSample:
    turn: str
    status: int
    sent: float
    first_byte: float | None = None
    answer: float | None = None
    answer_wall_us: int | None = None
    done: float | None = None
    outcome: str = "open"


@dataclass
class Level:
    concurrency: int
    samples: list[TurnSample] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)
    refused_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)


# -- CPU of the platform's processes ---------------------------------------------------


def _tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants (0 if gone)."""
    try:
        procs = [psutil.Process(pid)]
        procs += procs[0].children(recursive=True)
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


def platform_pids(settings: Settings) -> dict[str, list[int]]:
    """Role processes (from the supervisor's state) and server processes (pid files)."""
    roles: list[int] = []
    try:
        state = json.loads((settings.home_dir / "run" / "platform.json").read_text())
        roles = [int(r["pid"]) for r in state["instances"] if r.get("pid")]
    except (OSError, ValueError, KeyError):
        pass
    servers = []
    for name in ("kafka", "redis"):
        try:
            servers.append(int((settings.home_dir / "run" / f"{name}.pid").read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            continue
    postgres = Postgres(settings).pid()  # its pid file is postmaster.pid in the data dir
    if postgres is not None:
        servers.append(postgres)
    return {"roles": roles, "servers": servers}


def cpu_snapshot(pids: dict[str, list[int]]) -> dict[str, float]:
    return {group: sum(_tree_cpu_s(p) for p in members) for group, members in pids.items()}


async def _tenant(settings: Settings) -> tuple[str, str]:
    conn = await asyncpg.connect(settings.postgres_dsn, timeout=10)
    try:
        tenant, api_key = await create_tenant(conn, f"bench-turns-{uuid.uuid4().hex[:8]}",
                                              "enterprise", "eu")
    finally:
        await conn.close()
    return tenant.tenant_id, api_key


async def _mint(client: aiohttp.ClientSession, url: str, tenant: str, api_key: str
                ) -> tuple[str, str]:
    body = {"tenant": tenant, "persona_hash": "sha256-" + "0" * 64,
            "policy_hash": DEFAULT_POLICY_HASH,
            "budgets": {"tokens": 10**12, "tools_per_min": 0}}
    async with client.post(f"{url}/v1/session/mint", json=body,
                           headers={"Authorization": f"Bearer {api_key}"}) as r:
        r.raise_for_status()
        minted = await r.json()
    return str(minted["session_id"]), str(minted["jwt"])


async def _one_turn(client: aiohttp.ClientSession, url: str, session: str, jwt: str
                    ) -> TurnSample:
    body = {"session_id": session, "inputs": {"text": "What is the status of the launch?"},
            "allow": {"tools": [], "memory": "none"}}
    sent = time.perf_counter()
    async with client.post(f"{url}/v1/turn", json=body,
                           headers={"Authorization": f"Bearer {jwt}"}) as r:
        sample = TurnSample(r.headers.get("x-turn-id", ""), r.status, sent)
        if r.status != 200:
            await r.read()
            sample.done = time.perf_counter()
            sample.outcome = r.headers.get("retry-after", "")
            return sample
        event = ""
        async for raw in r.content:
            line = raw.decode().rstrip("\r\n")
            if sample.first_byte is None:
                sample.first_byte = time.perf_counter()
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "answer":
                sample.answer = time.perf_counter()
                sample.answer_wall_us = time.time_ns() // 1000
            elif line.startswith("data: ") and event in ("done", "error"):
                sample.done = time.perf_counter()
                sample.outcome = "completed" if event == "done" else "failed"
                break
    return sample


async def _lane(client: aiohttp.ClientSession, url: str, session: str, jwt: str, level: Level,
                budget: list[int], deadline: float) -> None:
    while budget[0] > 0 and time.monotonic() < deadline:
        budget[0] -= 1
        try:
            sample = await _one_turn(client, url, session, jwt)
        except (aiohttp.ClientError, TimeoutError) as exc:  # counted; the lane goes on
            kind = f"error:{type(exc).__name__}"
            level.refused[kind] = level.refused.get(kind, 0) + 1
            continue
        if sample.status != 200:
            level.refused[str(sample.status)] = level.refused.get(str(sample.status), 0) + 1
            if sample.done is not None:
                level.refused_ms.append((sample.done - sample.sent) * 1000)
            budget[0] += 1  # a refused turn is not a turn; back off as told (bounded)
            await asyncio.sleep(min(1.0, float(sample.outcome or 0.2)))
            continue
        level.samples.append(sample)


async def run_level(url: str, tenant: str, api_key: str, concurrency: int, turns: int,
                    time_limit_s: float, pids: dict[str, list[int]] | None = None) -> Level:
    connector = aiohttp.TCPConnector(limit=concurrency + 4, force_close=False)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        sessions = await asyncio.gather(*[_mint(client, url, tenant, api_key)
                                          for _ in range(concurrency)])
        level = Level(concurrency)
        budget = [turns]
        before = cpu_snapshot(pids or {})
        started = time.perf_counter()
        deadline = time.monotonic() + time_limit_s
        await asyncio.wait_for(
            asyncio.gather(*[_lane(client, url, s, j, level, budget, deadline)
                             for s, j in sessions]),
            timeout=time_limit_s + 90,
        )
        level.wall_s = time.perf_counter() - started
        after = cpu_snapshot(pids or {})
        level.cpu_s = {k: round(after[k] - before.get(k, 0.0), 3) for k in after}
    return level


# -- reading the log's timestamps -----------------------------------------------------


def log_positions(settings: Settings) -> dict[int, int]:
    ends = end_offsets(settings, partitions_of(settings, [CONVERSATION], 10), 10)
    return {p: high for (_, p), high in ends.items()}


def _ts_us(value: Any) -> int:
    return int(value.timestamp() * 1_000_000) if hasattr(value, "timestamp") else int(value)


def read_turn_events(settings: Settings, codec: EventCodec, start: dict[int, int],
                     turns: set[str], timeout_s: float = 60.0) -> dict[str, dict[str, Any]]:
    """Per turn id: ``ts`` (µs) of each wanted event type and the planner, from ``start`` on."""
    parts = partitions_of(settings, [CONVERSATION], 10)
    reader = LogReader(settings, parts, {tp: start.get(tp[1], 0) for tp in parts},
                       name="bench-read", config={})
    out: dict[str, dict[str, Any]] = {}
    try:
        for msg in reader.read_to_end(timeout_s):
            kind = dict(msg.headers() or []).get("event-type")
            if kind not in WANTED_TYPES:
                continue
            event = codec.decode(msg.value() or b"")
            turn = str(event.get("turn") or "")
            if turn not in turns:
                continue
            row = out.setdefault(turn, {})
            row[str(event["type"])] = _ts_us(event["ts"])
            if event["type"] == "TurnPlanned":
                row["planner"] = str(event["payload"].get("planner"))
    finally:
        reader.close()
    return out


def summarise(level: Level, logged: dict[str, dict[str, Any]], raw: dict[str, Any]
              ) -> dict[str, Any]:
    ok = [s for s in level.samples if s.outcome == "completed" and s.answer is not None]
    overhead, delivered = [], []
    for s in ok:
        row = logged.get(s.turn, {})
        if "TurnRequested" in row and "TurnAnswered" in row:
            overhead.append((row["TurnAnswered"] - row["TurnRequested"]) / 1000)
            if s.answer_wall_us is not None:
                delivered.append((s.answer_wall_us - row["TurnRequested"]) / 1000)
    first_byte = [(s.answer - s.first_byte) * 1000 for s in ok
                  if s.answer is not None and s.first_byte is not None]
    whole = [(s.answer - s.sent) * 1000 for s in ok if s.answer is not None]
    e2e = [(s.done - s.sent) * 1000 for s in ok if s.done is not None]
    cpu_ms = {k: round(v * 1000 / len(ok), 2) if ok else None for k, v in level.cpu_s.items()}
    base = raw["produce_consume_ms"]
    over_p, deliv_p = percentiles(overhead), percentiles(delivered)

    def ratios(figure: dict[str, float], hops: int, prefix: str,
               baseline: dict[str, float] = base) -> dict[str, float | None]:
        return {f"{prefix}_{k}": (round(figure[k] / (hops * baseline[k]), 2)
                                  if figure and baseline.get(k) else None)
                for k in ("p50", "p95", "p99")}

    planners = sorted({str(r.get("planner")) for r in logged.values() if r.get("planner")})
    return {
        "concurrency": level.concurrency,
        "turns_completed": len(ok),
        "turns_failed": sum(1 for s in level.samples if s.outcome == "failed"),
        "turns_unfinished": sum(1 for s in level.samples if s.outcome == "open"),
        "refused_by_status": level.refused,
        "wall_s": round(level.wall_s, 2),
        "turns_per_s": round(len(ok) / level.wall_s, 2) if level.wall_s else 0.0,
        "turn_overhead_ms": over_p,
        "answer_delivered_ms": deliv_p,
        "client_first_byte_to_answer_ms": percentiles(first_byte),
        "client_request_to_answer_ms": percentiles(whole),
        "client_request_to_done_ms": percentiles(e2e),
        "refused_ms": percentiles(level.refused_ms),
        "cpu_ms_per_turn": cpu_ms.get("roles"),
        "servers_cpu_ms_per_turn": cpu_ms.get("servers"),
        "cpu_s": level.cpu_s,
        **ratios(over_p, HOPS_LOG_SPAN, "ratio"),
        **ratios(deliv_p, HOPS_DELIVERED, "delivered_ratio"),
        **ratios(over_p, HOPS_LOG_SPAN, "ratio_project_config",
                 raw["produce_consume_project_config_ms"]),
        "planners_seen": planners,
    }


def current_layout(settings: Settings) -> Any:
    """The running platform's layout (workers, edges), or None when it runs no supervisor."""
    from somagent.stack.platform import Platform

    return Platform(settings).running_layout()


def _workers_now(settings: Settings) -> int:
    try:
        state = json.loads((settings.home_dir / "run" / "platform.json").read_text())
    except (OSError, ValueError):
        return 0
    return sum(1 for r in state.get("instances", []) if r.get("role") == "worker")


def relayout(settings: Settings, workers: int | None, original: Any) -> None:
    """``somagent up --workers N`` with the running edge count (restarts the roles)."""
    from somagent.stack.platform import Layout
    from somagent.stack.stack import Stack

    edges = original.edges if original is not None else 1
    print(f"bench/turns: platform with {workers or 'default'} worker(s), {edges} edge(s)",
          file=sys.stderr)
    Stack(settings).up(Layout(workers=workers, edges=edges))


def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = load_settings()
    url = (args.api_url or settings.api_url).rstrip("/")
    until(lambda: httpx.get(f"{url}/readyz", timeout=5).status_code == 200,
          timeout_s=60, what=f"the platform's edge at {url}/readyz (is `somagent up` running?)")
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    raw = raw_kafka(settings, args.raw_samples, time_limit_s=120)
    tenant, api_key = asyncio.run(_tenant(settings))
    codec = EventCodec(kafka_registry(settings))
    original = current_layout(settings)
    sweeps: list[dict[str, Any]] = []
    try:
        for workers in args.workers or [None]:
            if workers is not None:
                relayout(settings, workers, original)
            until(lambda: httpx.get(f"{url}/readyz", timeout=5).status_code == 200,
                  timeout_s=120, what=f"the edge at {url}/readyz after the re-layout")
            pids = platform_pids(settings)
            # Warm-up (not reported): first-use costs of the edge, engine and connections.
            asyncio.run(run_level(url, tenant, api_key, 4, 12, 30))
            levels = []
            for concurrency in args.levels:
                turns = args.turns_per_lane * concurrency if concurrency > 1 else args.turns_single
                start = log_positions(settings)
                level = asyncio.run(run_level(url, tenant, api_key, concurrency, turns,
                                              args.time_limit_s, pids))
                logged = read_turn_events(settings, codec, start, {s.turn for s in level.samples})
                levels.append(summarise(level, logged, raw))
            sweeps.append({"workers": workers if workers is not None else _workers_now(settings),
                           "levels": levels})
    finally:
        if args.workers and original is not None:
            relayout(settings, original.workers, original)
    return {
        "bench": "turns",
        "quick": args.quick,
        "api_url": url,
        "request": {"allow": {"tools": [], "memory": "none"}, "planner": "deterministic"},
        "kafka_hops": {
            "turn_overhead": HOPS_LOG_SPAN,
            "answer_delivered": HOPS_DELIVERED,
            "path": ["edge TurnRequested -> engine consume", "TurnRecalled append (ack)",
                     "TurnPlanned append (ack)", "TurnVerified append (ack)",
                     "TurnAnswered append -> edge tailer consume (delivered only)"],
        },
        "raw_kafka": raw,
        "sweeps": sweeps,
        "levels": sweeps[-1]["levels"] if sweeps else [],
        "bounds": {"turns_single": args.turns_single, "turns_per_lane": args.turns_per_lane,
                   "time_limit_s_per_level": args.time_limit_s},
        "load_avg_1m_before": round(load_before, 2),
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
        "wall_s": round(time.perf_counter() - started, 1),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "note": "load generator shares the machine's CPUs with the platform",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--api-url", default=None, help="the edge (default: settings' api_url)")
    parser.add_argument("--quick", action="store_true", help="fewer turns per level")
    parser.add_argument("--levels", type=lambda v: [int(x) for x in v.split(",")],
                        default=list(LEVELS), help="concurrency levels, e.g. 1,16,64")
    parser.add_argument("--turns-single", type=int, default=None, help="turns at concurrency 1")
    parser.add_argument("--turns-per-lane", type=int, default=None,
                        help="turns per lane at concurrency > 1")
    parser.add_argument("--time-limit-s", type=float, default=None, help="per level")
    parser.add_argument("--raw-samples", type=int, default=None, help="raw Kafka round trips")
    parser.add_argument("--workers", type=lambda v: [int(x) for x in v.split(",")], default=None,
                        help="re-lay the platform out with each turn-worker count, e.g. 1,2")
    args = parser.parse_args(argv)
    args.turns_single = args.turns_single or (100 if args.quick else 300)
    args.turns_per_lane = args.turns_per_lane or (8 if args.quick else 25)
    args.time_limit_s = args.time_limit_s or (45.0 if args.quick else 180.0)
    args.raw_samples = args.raw_samples or (500 if args.quick else 2000)
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
