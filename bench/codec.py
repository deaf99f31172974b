"""Codec throughput: SomaGent's single-object codec versus raw fastavro schemaless.

Both sides encode and decode the same envelopes (one example per payload type,
``--seeds`` variants of each, so every record type is in the mix) with the same
parsed schema in the same run. The raw baseline gets the best case fastavro
offers: records already in union tuple notation, ``schemaless_writer`` into a
``BytesIO`` and ``schemaless_reader`` with no reader schema. The codec adds the
``C3 01`` + fingerprint header, the payload-type lookup, fingerprint resolution and
the trailing-bytes check.

Each measurement is the best of ``--rounds`` rounds, alternating codec and raw so
that both see the same machine state. Prints one JSON object; ``encode_ratio`` and
``decode_ratio`` are codec events/s over raw events/s, ``ratio`` the same for a
full round trip (encode then decode), to compare with the target ≥ 0.8. Timings
are never asserted.
"""

from __future__ import annotations

import os
import sys

# Python puts this script's folder first on sys.path, and bench/ holds scripts named
# like standard modules (bench/math.py): drop it so `import math` (datetime, numpy,
# fastavro) gets the standard library. Hence imports after code:
# ruff: noqa: E402
_HERE = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != _HERE]

import argparse
import io
import json
import platform
import time
from collections.abc import Callable
from typing import Any

import fastavro
from fastavro import schemaless_reader, schemaless_writer

from somagent.events.codec import HEADER_SIZE, EventCodec
from somagent.events.examples import example_events


def _rate(fn: Callable[[], None], count: int) -> float:
    start = time.perf_counter()
    fn()
    return count / (time.perf_counter() - start)


def run(seeds: int, rounds: int) -> dict[str, Any]:
    codec = EventCodec()
    parsed = codec.writer.parsed
    events = [e for seed in range(seeds) for e in example_events(seed)]
    tupled = [dict(e, payload=(f"somagent.{e['type']}", e["payload"])) for e in events]
    encoded = [codec.encode(e) for e in events]
    bodies = [data[HEADER_SIZE:] for data in encoded]
    n = len(events)

    def codec_encode() -> None:
        encode = codec.encode
        for e in events:
            encode(e)

    def raw_encode() -> None:
        for r in tupled:
            out = io.BytesIO()
            schemaless_writer(out, parsed, r)
            out.getvalue()

    def codec_decode() -> None:
        decode = codec.decode
        for data in encoded:
            decode(data)

    def raw_decode() -> None:
        for body in bodies:
            schemaless_reader(io.BytesIO(body), parsed, None)

    best = {"codec_encode": 0.0, "raw_encode": 0.0, "codec_decode": 0.0, "raw_decode": 0.0}
    fns = {
        "codec_encode": codec_encode,
        "raw_encode": raw_encode,
        "codec_decode": codec_decode,
        "raw_decode": raw_decode,
    }
    for fn in fns.values():  # warm-up: first-call costs are not throughput
        fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = max(best[name], _rate(fn, n))
    total_codec = 2 / (1 / best["codec_encode"] + 1 / best["codec_decode"])
    total_raw = 2 / (1 / best["raw_encode"] + 1 / best["raw_decode"])
    return {
        "benchmark": "codec",
        "events_per_round": n,
        "record_types": len({e["type"] for e in events}),
        "rounds": rounds,
        "mean_encoded_bytes": round(sum(map(len, encoded)) / n, 1),
        "codec_encode_events_per_s": round(best["codec_encode"]),
        "raw_encode_events_per_s": round(best["raw_encode"]),
        "codec_decode_events_per_s": round(best["codec_decode"]),
        "raw_decode_events_per_s": round(best["raw_decode"]),
        "encode_ratio": round(best["codec_encode"] / best["raw_encode"], 3),
        "decode_ratio": round(best["codec_decode"] / best["raw_decode"], 3),
        "ratio": round(total_codec / total_raw, 3),
        "target_ratio": 0.8,
        "fastavro": fastavro.__version__,
        "fastavro_compiled": schemaless_reader.__module__ == "fastavro._read",
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and rounds")
    parser.add_argument("--seeds", type=int, default=None, help="variants of each event type")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (best is kept)")
    args = parser.parse_args(argv)
    seeds = args.seeds or (40 if args.quick else 200)
    rounds = args.rounds or (5 if args.quick else 7)
    print(json.dumps(run(seeds, rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
