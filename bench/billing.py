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
  offset commits.

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
from somagent.billing.pricebook import load_pricebook  # noqa: E402
from somagent.config import Settings  # noqa: E402
from somagent.events.codec import HEADER_SIZE, EventCodec  # noqa: E402
from somagent.events.envelope import make_event  # noqa: E402
from somagent.events.exceptions import NOWHERE  # noqa: E402
from somagent.events.kafka import EventProducer  # noqa: E402
from somagent.events.schema_log import kafka_registry  # noqa: E402
from somagent.projections.source import PlainDecoder  # noqa: E402
from somagent.stack.testing import throwaway_stack  # noqa: E402
from somagent.streams.billing import BillingConfig, BillingWorker, usage_from_event  # noqa: E402

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
        "target_worker_events_per_s": 50_000,
        "note": "worker time starts at its first counted batch (after group join and restore)",
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="50,000 events")
    args = parser.parse_args(argv)
    print(json.dumps(run(50_000 if args.quick else args.events)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
