"""Cost of sealing PII fields in the codec (``SOMAGENT_SEAL_PII``), against the plain codec.

Starts a private real stack (Postgres holds the tenants' data keys; Kafka holds the
schemas topic) on free loopback ports and times, in this process, three codecs over
the same events (``TurnRequested`` and ``TurnAnswered`` of ``--tenants`` tenants,
text of ``--text-bytes`` bytes):

* ``plain``: sealing off (the baseline, same run);
* ``seal``: encode seals the PII fields (what every producer does with sealing on);
* ``seal_open``: encode seals and decode opens (the edge, turn workers, Memory Gateway).

Keys are fetched once per tenant before timing (the cache then serves them for
``refresh_s``), so the figures are the steady-state cost of AES-GCM per field and
the extra dict copies, not the Postgres round trip of a cache miss (reported
separately as ``first_key_fetch_ms``). Prints one JSON object; timings are never
asserted anywhere::

    .venv/bin/python -P bench/sealing.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from typing import Any

import asyncpg

from somagent.api.tenants import create_tenant
from somagent.config import Settings
from somagent.erasure.sealer import FieldSealer
from somagent.events.codec import EventCodec
from somagent.events.envelope import make_event
from somagent.events.examples import example_payloads
from somagent.kafka.schema_log import kafka_registry
from somagent.stack.testing import throwaway_stack


async def _tenants(settings: Settings, n: int) -> list[str]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        return [(await create_tenant(conn, f"seal-bench-{i}-{uuid.uuid4().hex[:4]}"))[0].tenant_id
                for i in range(n)]
    finally:
        await conn.close()


def _events(tenants: list[str], text_bytes: int) -> list[dict[str, Any]]:
    text = ("x" * text_bytes)
    out = []
    for tenant in tenants:
        for kind in ("TurnRequested", "TurnAnswered"):
            payload = {**example_payloads(0)[kind], "text": text}
            out.append(make_event(kind, payload, tenant=tenant, producer="bench",
                                  session=str(uuid.uuid4()), turn=str(uuid.uuid4()),
                                  trace_id=uuid.uuid4().hex))
    return out


def _time(codec: EventCodec, events: list[dict[str, Any]], rounds: int) -> dict[str, float]:
    encode_us, decode_us = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        blobs = [codec.encode(e) for e in events]
        t1 = time.perf_counter()
        for b in blobs:
            codec.decode(b)
        t2 = time.perf_counter()
        encode_us.append((t1 - t0) / len(events) * 1e6)
        decode_us.append((t2 - t1) / len(events) * 1e6)
    return {"encode_us": round(statistics.median(encode_us), 2),
            "decode_us": round(statistics.median(decode_us), 2)}


def run(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    tenants = asyncio.run(_tenants(settings, args.tenants))
    events = _events(tenants, args.text_bytes)
    sealing = settings.model_copy(update={"seal_pii": True})
    seal = FieldSealer(sealing, open_fields=False)
    seal_open = FieldSealer(sealing, open_fields=True)
    codecs = {
        "plain": EventCodec(kafka_registry(settings)),
        "seal": EventCodec(kafka_registry(settings), sealer=seal),
        "seal_open": EventCodec(kafka_registry(settings), sealer=seal_open),
    }
    t0 = time.perf_counter()
    codecs["seal"].encode(events[0])  # creates the first tenant's key, fetches it
    first_fetch_ms = (time.perf_counter() - t0) * 1000
    for e in events:  # warm both caches (keys, by id) outside the timing
        codecs["seal_open"].decode(codecs["seal_open"].encode(e))
    try:
        figures = {name: _time(codec, events, args.rounds) for name, codec in codecs.items()}
    finally:
        seal.close()
        seal_open.close()
    base = figures["plain"]
    return {
        "bench": "sealing",
        "events_per_round": len(events),
        "rounds": args.rounds,
        "text_bytes": args.text_bytes,
        "first_key_fetch_ms": round(first_fetch_ms, 2),
        "codecs": figures,
        "ratios": {name: {k: round(f[k] / base[k], 2) for k in f}
                   for name, f in figures.items() if name != "plain"},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--text-bytes", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = min(args.rounds, 5)
    with throwaway_stack(prefix="somagent-bench-sealing-") as settings:
        print(json.dumps(run(settings, args), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
