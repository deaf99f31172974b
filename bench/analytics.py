"""The analytics service (ClickHouse's HTTP interface over chDB) versus chDB in-process.

In one run, the same engine (chDB, the same DDL) two ways:

* ``inproc``: :class:`ChdbClickHouse` in this process (today's projector path);
* ``http``: ``somagent serve analytics`` in a child process, through
  :class:`HttpClickHouse` on loopback (the path every other process will use).

Measured, best of ``--rounds``, alternating the two sides:

* ``insert_columns``: ``--rows`` events-shaped rows (JSONCompactColumns) into ``events``;
* ``insert_avro``: the same rows as one Avro container through
  ``INSERT INTO events SELECT ... FROM input('<structure>') FORMAT Avro`` (HTTP)
  versus ``... FROM file('<path>', 'Avro', '<structure>')`` in-process (replay's
  fast path today: the container written to a file first, both sides timed with it);
* ``select``: a small SELECT round trip (``--queries`` of them; median and p95),
  also as a tenant (the service acting for one: filters plus EXPLAIN AST/QUERY TREE).

``*_ratio`` = http time / in-process time (>1: HTTP is slower). Prints one JSON
object; timings are never asserted.
"""

from __future__ import annotations

import os
import sys

# bench/ holds scripts named like standard modules (bench/math.py): drop it from
# sys.path so `import math` gets the standard library. Hence imports after code:
# ruff: noqa: E402
_HERE = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != _HERE]

import argparse
import io
import json
import platform
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
import httpx

from somagent.analytics.client import HttpClickHouse
from somagent.config import load_settings
from somagent.credentials import service_token
from somagent.projections.chproj import EVENT_COLUMNS
from somagent.projections.clickhouse import ChdbClickHouse, apply_ddl
from somagent.stack.process import free_port
from somagent.wait import until

STRUCTURE = (
    "event_id String, type String, ts_us Int64, tenant String, session String, turn String, "
    "trace_id String, seq Int64, producer String, topic String, kafka_partition Int32, "
    "kafka_offset Int64, payload String"
)
AVRO_TYPES = {"ts_us": "long", "seq": "long", "kafka_partition": "int", "kafka_offset": "long"}


def columns(n: int, tenants: list[str]) -> list[list[Any]]:
    """``n`` events-shaped rows, column-major, with a ~150-byte JSON payload."""
    base = 1_700_000_000_000_000
    ids = [str(uuid.uuid4()) for _ in range(n)]
    payload = '{"text":"%s","tokens":%d,"tool":"calc","ok":true}'
    return [
        ids,
        ["ToolResultRecorded"] * n,
        [base + i for i in range(n)],
        [tenants[i % len(tenants)] for i in range(n)],
        [f"s-{i % 97}" for i in range(n)],
        [f"t-{i % 997}" for i in range(n)],
        ["trace"] * n,
        list(range(n)),
        ["bench"] * n,
        ["conversation.events"] * n,
        [i % 6 for i in range(n)],
        list(range(n)),
        [payload % ("x" * (80 + i % 40), i) for i in range(n)],
    ]


def avro_container(data: list[list[Any]]) -> bytes:
    schema = {
        "type": "record",
        "name": "Event",
        "fields": [{"name": c, "type": AVRO_TYPES.get(c, "string")} for c in EVENT_COLUMNS],
    }
    records = [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in zip(*data, strict=True)]
    out = io.BytesIO()
    fastavro.writer(out, schema, records, codec="null")
    return out.getvalue()


def best(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def latencies(fn: Callable[[], object], n: int) -> dict[str, float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"median_ms": statistics.median(times), "p95_ms": times[int(0.95 * (n - 1))]}


def start_service(home: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    home.mkdir(parents=True, exist_ok=True)
    settings = load_settings(home=home, clickhouse_http_port=free_port(), postgres_port=free_port())
    log = (home / "analytics.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "somagent.cli", "serve", "analytics"],
        env={**os.environ, **settings.to_env()},
        stdout=log,
        stderr=log,
    )
    url = settings.clickhouse_http_url
    until(lambda: httpx.get(f"{url}/ping").text == "Ok.\n", timeout_s=120, what="analytics")
    return proc, url, service_token(settings.home_dir)


def run(rows: int, rounds: int, queries: int) -> dict[str, Any]:
    tenants = [str(uuid.uuid4()) for _ in range(4)]
    data = columns(rows, tenants)
    avro = avro_container(data)
    with tempfile.TemporaryDirectory(prefix="somagent-bench-analytics-") as tmp:
        home = Path(tmp)
        proc, url, key = start_service(home / "service")
        try:
            http = HttpClickHouse(url, user="service", key=key, database="somagent")
            scoped = HttpClickHouse(
                url, user="service", key=key, database="somagent", tenant=tenants[0]
            )
            local = ChdbClickHouse(home / "inproc", "somagent")
            apply_ddl(local)
            avro_path = home / "batch.avro"

            def local_avro() -> None:
                avro_path.write_bytes(avro)
                local.execute(
                    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) SELECT * FROM "
                    f"file('{avro_path}', 'Avro', '{STRUCTURE}')"
                )

            http_avro = (
                f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) SELECT * "
                f"FROM input('{STRUCTURE}') FORMAT Avro"
            )
            out: dict[str, Any] = {"rows": rows, "avro_bytes": len(avro), "rounds": rounds}
            t_local = best(lambda: local.insert_columns("events", EVENT_COLUMNS, data), rounds)
            t_http = best(lambda: http.insert_columns("events", EVENT_COLUMNS, data), rounds)
            out["insert_columns"] = {
                "inproc_rows_per_s": rows / t_local,
                "http_rows_per_s": rows / t_http,
            }
            out["insert_columns_ratio"] = t_http / t_local
            t_local = best(local_avro, rounds)
            t_http = best(lambda: http.insert_body(http_avro, avro), rounds)
            out["insert_avro"] = {
                "inproc_rows_per_s": rows / t_local,
                "http_rows_per_s": rows / t_http,
            }
            out["insert_avro_ratio"] = t_http / t_local
            sql = "SELECT count() AS c FROM events WHERE tenant = {t:String}"
            params = {"t": tenants[0]}
            small = {
                "inproc": latencies(lambda: local.query(sql, params), queries),
                "http": latencies(lambda: http.query(sql, params), queries),
                "http_tenant": latencies(
                    lambda: scoped.query("SELECT count() AS c FROM events"), queries
                ),
            }
            out["select"] = small
            out["select_ratio"] = small["http"]["median_ms"] / small["inproc"]["median_ms"]
            out["select_tenant_ratio"] = (
                small["http_tenant"]["median_ms"] / small["inproc"]["median_ms"]
            )
            counts = (
                local.query("SELECT count() AS c FROM events")[0]["c"],
                http.query("SELECT count() AS c FROM events")[0]["c"],
            )
            # both sides hold the same rows (ReplacingMergeTree may have merged repeats)
            out["events_rows"] = {"inproc": counts[0], "http": counts[1]}
            http.close()
            scoped.close()
            return out
        finally:
            proc.terminate()
            proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="20k rows, 2 rounds, 100 queries")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.rounds, args.queries = 20_000, 2, 100
    result = run(args.rows, args.rounds, args.queries)
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
