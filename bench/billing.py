"""Billing throughput: usage events/s through the billing worker, with raw fastavro decode.

In one run, on a fresh local stack (real Kafka, Postgres, Redis):

* ``raw_decode``: fastavro ``schemaless_reader`` over the same usage bodies (the
  baseline: decoding alone, no Kafka, no logic), with the contract's logical
  types (UUID and datetime objects) and, as ``raw_plain_decode``, without them
  (the schema the worker's fast path reads with);
* ``core``: the worker's decode (:class:`PlainDecoder`) + pricing +
  :class:`LedgerBook` (the pure billing core, in memory);
* ``worker``: the real :class:`BillingWorker` (one worker, one consumer group
  member) consuming the pre-appended ``billing.usage`` log until every usage
  record is counted, with transactional ledger output, changelog state and
  offset commits;
* ``faust_agent``: the Faust ``billing`` agent (:mod:`somagent.billing.agent`,
  the platform's default) over the same log, in a child process;
* ``faust_consume_only``: a Faust agent that only counts and acknowledges the
  same raw records (no decoding, no logic): Faust's own ceiling on this machine,
  the baseline the agent is compared with (``faust_agent_ratio``).

``ratio`` figures divide by ``raw_decode``. Prints one JSON object; timings are
never asserted. Target: ≥ 50,000 usage events/s per worker.
"""

from __future__ import annotations

import sys

# bench/ holds math.py, which would shadow the standard library's math module.
sys.path[:] = [p for p in sys.path if not p.endswith("bench")]

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from typing import Any  # noqa: E402

from fastavro import schemaless_reader  # noqa: E402

from somagent.billing.ledger import LedgerBook  # noqa: E402
from somagent.billing.pricebook_file import load_pricebook  # noqa: E402
from somagent.billing.state import BillingConfig  # noqa: E402
from somagent.billing.usage import usage_from_event  # noqa: E402
from somagent.billing.worker import BillingWorker  # noqa: E402
from somagent.config import Settings  # noqa: E402
from somagent.events.codec import HEADER_SIZE, EventCodec  # noqa: E402
from somagent.events.envelope import make_event  # noqa: E402
from somagent.events.exceptions import NOWHERE  # noqa: E402
from somagent.events.plain import PlainDecoder  # noqa: E402
from somagent.kafka.producer import EventProducer  # noqa: E402
from somagent.kafka.schema_log import kafka_registry  # noqa: E402
from somagent.stack.testing import throwaway_stack  # noqa: E402

MINUTE_US = 60_000_000


def bench_stack(partitions: int = 6) -> contextlib.AbstractContextManager[Settings]:
    """The real stack in a temporary directory on free loopback ports; stopped afterwards."""
    return throwaway_stack(partitions=partitions)


def usage_events(n: int, tenants: int = 50) -> list[dict[str, Any]]:
    prices = load_pricebook().prices("pro").as_payload_fields()
    ten = [str(uuid.uuid4()) for _ in range(tenants)]
    ses = {t: [str(uuid.uuid4()) for _ in range(4)] for t in ten}
    now = time.time_ns() // 1000
    out = []
    for i in range(n):
        t = ten[i % tenants]
        uid = uuid.uuid4()
        at = now - 10 * MINUTE_US + (i * 10 * MINUTE_US) // n
        payload = {
            "usage_id": uid,
            "agent": "planner" if i % 3 else "tool:search",
            "tokens": 100 + i % 900,
            "tool_calls": i % 2,
            "storage_bytes": 0,
            "egress_bytes": 512,
            **prices,
            "occurred_at": at,
        }
        out.append(
            make_event(
                "UsageRecorded",
                payload,
                tenant=t,
                session=ses[t][i % 4],
                producer="bench",
                event_id=uid,
                ts_us=at,
            )
        )
    return out


def run(n: int) -> dict[str, Any]:
    events = usage_events(n)
    with bench_stack() as settings:
        codec = EventCodec(kafka_registry(settings))
        encoded = [codec.encode(e) for e in events]
        bodies = [d[HEADER_SIZE:] for d in encoded]
        parsed = codec.writer.parsed

        start = time.perf_counter()
        for body in bodies:
            schemaless_reader(io.BytesIO(body), parsed, None)
        raw = n / (time.perf_counter() - start)
        plain_parsed = PlainDecoder(codec).parsed
        start = time.perf_counter()
        for body in bodies:
            schemaless_reader(io.BytesIO(body), plain_parsed, None)
        raw_plain = n / (time.perf_counter() - start)

        book, pricebook = LedgerBook(grace_us=10_000_000), load_pricebook()
        decoder = PlainDecoder(codec)
        start = time.perf_counter()
        for i, data in enumerate(encoded):
            u = usage_from_event(decoder.decode(data, NOWHERE), pricebook, lambda _t: None)
            assert u is not None
            book.add(u)
            if i % 5000 == 4999:
                book.close_due()
        rows = len(book.close_all())
        core = n / (time.perf_counter() - start)

        producer = EventProducer(settings, codec)
        for e in events:
            producer.send(e)
        producer.close()
        worker = BillingWorker(
            settings, BillingConfig(grace_s=10.0, group="bench-billing", batch=10_000)
        )
        start = None
        deadline = time.monotonic() + 600
        while worker.usage_in < n and time.monotonic() < deadline:
            got = worker.step(0.2)
            if got and start is None:
                start = time.perf_counter() - 0.0
        elapsed = time.perf_counter() - (start or time.perf_counter())
        counted, ledger_rows = worker.usage_in, worker.rows_out
        worker.close()
        faust_consume = _faust_rate(settings, "consume", n)
        faust_agent = _faust_rate(settings, "agent", n)
    e2e = counted / elapsed if elapsed > 0 else 0.0
    return {
        "benchmark": "billing",
        "usage_events": n,
        "raw_decode_events_per_s": round(raw),
        "raw_plain_decode_events_per_s": round(raw_plain),
        "core_events_per_s": round(core),
        "worker_events_per_s": round(e2e),
        "worker_counted": counted,
        "worker_ledger_rows": ledger_rows,
        "core_ledger_rows": rows,
        "core_ratio": round(core / raw, 3),
        "worker_ratio": round(e2e / raw, 3),
        "worker_ratio_to_plain_decode": round(e2e / raw_plain, 3),
        "faust_consume_only_events_per_s": round(faust_consume),
        "faust_agent_events_per_s": round(faust_agent),
        "faust_agent_ratio": round(faust_agent / faust_consume, 3),
        "target_worker_events_per_s": 50_000,
        "note": "worker time starts at its first counted batch (after group join and restore)",
        "python": platform.python_version(),
    }


def faust_child(mode: str, n: int) -> None:
    """In a child process: run ``mode`` (agent | consume) over the log; print events/s."""
    import os

    from somagent.billing.agent import build_billing_app
    from somagent.billing.state import BillingConfig
    from somagent.config import load_settings
    from somagent.engine.app import make_app
    from somagent.serve.worker import run_faust

    settings = load_settings()
    group = f"bench-faust-{mode}-{uuid.uuid4().hex[:6]}"
    seen = {"n": 0, "t0": 0.0}
    if mode == "agent":
        app, agent = build_billing_app(settings, BillingConfig(group=group, batch=10_000))

        def counted() -> int:
            return agent.usage_in
    else:
        app = make_app(settings, app_id=group)
        topic = app.topic("billing.usage", key_serializer="raw", value_serializer="raw")

        async def consume(stream: Any) -> None:
            async for events in stream.noack().noack_take(10_000, within=0.05):
                seen["n"] += len(events)
                for event in events:
                    await stream.ack(event)

        app.agent(topic, name="bench_consume")(consume)

        def counted() -> int:
            return seen["n"]

    async def check() -> None:
        now, got = time.perf_counter(), counted()
        if got and not seen["t0"]:
            seen["t0"] = now
        if got >= n:
            print(json.dumps({"events_per_s": round(got / (now - seen["t0"]))}), flush=True)
            os._exit(0)  # Faust's shutdown is slow and irrelevant to the figure

    app.timer(0.02)(check)
    run_faust(app, loglevel="warning")


def _faust_rate(settings: Settings, mode: str, n: int) -> float:
    import os
    import subprocess

    env = {**os.environ, **settings.to_env()}
    cmd = [sys.executable, "-P", __file__, "--faust-child", mode, "--events", str(n)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    for line in out.stdout.splitlines():
        if '{"events_per_s"' in line:  # Faust may prefix terminal control codes
            return float(json.loads(line[line.index("{") :])["events_per_s"])
    tail = (out.stdout + out.stderr)[-3000:]
    raise RuntimeError(f"faust {mode} child (rc {out.returncode}) printed no rate:\n{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="50,000 events")
    parser.add_argument("--faust-child", choices=["agent", "consume"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n = 50_000 if args.quick else args.events
    if args.faust_child:
        faust_child(args.faust_child, n)
        return 0
    print(json.dumps(run(n)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
