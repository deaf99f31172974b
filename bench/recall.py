"""Recall latency and quality: Qdrant Edge (HNSW) against exact numpy search, same run.

For each corpus size (10k and 100k memories; ``--quick``: 10k only) it generates a
*clustered* corpus: ``--topics`` subjects, each with its own 40 words; a memory is
8-20 words, 60% drawn from its subject's words and the rest from a Zipf-distributed
general vocabulary, embedded with the platform's :class:`HrrEmbedder` (1024 dims).
Memories about one subject are therefore close to each other, as real memories of a
tenant are. A tenth of the points belong to another tenant (the filter has work to
do). Queries are half "find this memory" (a stored memory with two words replaced)
and half "ask about a subject" (a fresh text from a subject's words, not stored).

It stores the corpus through :class:`EdgeMemoryStore` (as the Memory Gateway does),
builds the HNSW index (``optimize``; with ``--incremental-batch N`` after every N
points, as the gateway's indexer does, reporting the longest pass: the gateway
stalls for that long), and reports for ``top_k=10`` with the tenant filter:

* ``search_p50_ms``/``search_p95_ms``: ``EdgeMemoryStore.search`` at the default
  ``search_ef``; the baseline ``exact_*`` is brute-force numpy cosine over the tenant's
  float32 vectors (pre-filtered, so the baseline gets the filter for free), measured on
  the same queries in the same run, and the ratios;
* ``recall_at_10``: mean overlap of Edge's top 10 with the exact top 10;
  ``ef_sweep``: the same for other ``search_ef`` values;
* ``recall_in_process_*``: ``Recaller.recall_sync`` (PII redaction + embedding +
  search), and ``recall_http_*``: the same queries through the Memory Gateway's HTTP
  app (``create_gateway_app`` under uvicorn in a child process that owns the shard,
  called with :class:`MemoryGatewayClient`), and their ratio;
* ``local_mode`` (10k only): qdrant-client local mode, the previous embedded engine
  (an exact scan in Python), on the same corpus and queries.

Prints one JSON object. Timings are never asserted anywhere.
"""

from __future__ import annotations

import os
import sys

# ``python bench/recall.py`` puts bench/ first on the import path, where bench/math.py
# would shadow the standard library's math (imported by tempfile, numpy, ...).
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from somagent.memory.edge_store import EdgeMemoryStore, EdgeTuning  # noqa: E402
from somagent.memory.embedder import HrrEmbedder  # noqa: E402
from somagent.memory.model import MemoryRecord  # noqa: E402
from somagent.memory.recall import Recaller  # noqa: E402

TENANT = "0b0e5c1e-0000-4000-8000-000000000001"
OTHER_TENANT = "0b0e5c1e-0000-4000-8000-000000000002"
TOP_K = 10
PII_KEY = b"bench-pii-key-0123456789abcdef!!"
TOKEN = "bench-service-token"
_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]


def vocabulary(rng: np.random.Generator, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES, size=int(rng.integers(1, 4)))))
    return sorted(words)


class Corpus:
    """Subjects with their own words; texts mix a subject's words with general Zipf words."""

    def __init__(self, rng: np.random.Generator, words: list[str], topics: int) -> None:
        self.rng, self.words = rng, words
        weights = 1.0 / np.arange(1, len(words) + 1) ** 1.05
        self.weights = weights / weights.sum()
        self.topic_words = [rng.choice(len(words), size=40, replace=False) for _ in range(topics)]

    def text(self, topic: int) -> str:
        length = int(self.rng.integers(8, 21))
        own = self.rng.random(length) < 0.6
        picks = np.where(
            own,
            self.rng.choice(self.topic_words[topic], size=length),
            self.rng.choice(len(self.words), size=length, p=self.weights),
        )
        return " ".join(self.words[i] for i in picks)

    def perturb(self, text: str) -> str:
        tokens = text.split()
        for index in self.rng.choice(len(tokens), size=2, replace=False):
            tokens[index] = self.words[int(self.rng.integers(len(self.words)))]
        return " ".join(tokens)


def percentiles(samples_s: Sequence[float]) -> tuple[float, float]:
    values = np.array(samples_s) * 1000.0
    return round(float(np.percentile(values, 50)), 3), round(float(np.percentile(values, 95)), 3)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def measure(search: Callable[[np.ndarray], list[str]], queries: np.ndarray,
            truth: list[set[str]]) -> dict[str, float]:
    """P50/P95 of ``search`` over ``queries`` and its mean recall@10 against ``truth``."""
    times, overlaps = [], []
    for q, exact in zip(queries, truth, strict=True):
        ids, elapsed = timed(lambda q=q: search(q))
        times.append(elapsed)
        overlaps.append(len(exact & set(ids)) / TOP_K)
    p50, p95 = percentiles(times)
    return {"p50_ms": p50, "p95_ms": p95, "recall_at_10": round(float(np.mean(overlaps)), 4)}


def exact_search(matrix: np.ndarray, ids: np.ndarray, q: np.ndarray) -> list[str]:
    scores = matrix @ q
    top = np.argpartition(-scores, TOP_K)[:TOP_K]
    return list(ids[top[np.argsort(-scores[top])]])


def build(n: int, args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed + n)
    corpus = Corpus(rng, vocabulary(rng, args.vocabulary), args.topics)
    topics = rng.integers(0, args.topics, size=n)
    texts = [corpus.text(int(t)) for t in topics]
    embedder = HrrEmbedder(dim=args.dim)
    vectors, embed_s = timed(lambda: embedder.embed(texts))
    tenants = [OTHER_TENANT if i % 10 == 9 else TENANT for i in range(n)]
    ids = np.array([str(uuid.UUID(int=i + 1)) for i in range(n)])
    mine = np.array([t == TENANT for t in tenants])
    half = args.queries // 2
    stored = rng.choice(np.flatnonzero(mine), size=half, replace=False)
    queries = [corpus.perturb(texts[i]) for i in stored]
    queries += [corpus.text(int(t)) for t in rng.integers(0, args.topics, size=args.queries - half)]
    records = [MemoryRecord(ids[i], tenants[i], texts[i], vectors[i], "bench", i, "", None,
                            f"{i:064x}") for i in range(n)]
    return {"texts": texts, "vectors": vectors, "ids": ids, "mine": mine, "records": records,
            "queries": queries, "query_vectors": embedder.embed(queries), "embed_s": embed_s,
            "embedder": embedder}


def serve_gateway(path: str, dim: int, port: int, tuning: EdgeTuning) -> None:
    """Child process: the gateway's HTTP app over the shard at ``path`` (recall only)."""
    import uvicorn

    from somagent.memory.gateway import GatewayDeps, create_gateway_app
    from somagent.memory.guard import RememberGuard
    from somagent.memory.metrics import GatewayMetrics
    from somagent.memory.remember import MemoryProjector

    store = EdgeMemoryStore(Path(path).parent, dim, Path(path).name, tuning=tuning)
    store.ensure_collection()
    embedder = HrrEmbedder(dim=dim)

    async def no_append(event: Any) -> tuple[int, int]:
        raise RuntimeError("the recall benchmark does not remember")

    deps = GatewayDeps(
        recaller=Recaller(embedder, store, pii_key=PII_KEY), guard=RememberGuard(PII_KEY),
        projector=MemoryProjector(embedder, store), store=store, append=no_append, token=TOKEN,
        engine="edge", collection=store.collection, metrics=GatewayMetrics(lambda: 0, lambda: 0),
    )
    uvicorn.run(create_gateway_app(deps), host="127.0.0.1", port=port, log_level="warning")


def gateway_http(store: EdgeMemoryStore, data: dict[str, Any], args: argparse.Namespace,
                 tuning: EdgeTuning) -> tuple[float, float]:
    """P50/P95 (ms) of recall through the gateway's HTTP app in a child process."""
    import httpx

    from somagent.memory.client import MemoryGatewayClient
    from somagent.stack.process import free_port
    from somagent.wait import until

    store.close()  # the child becomes the shard's one owner
    port = free_port()
    child = multiprocessing.get_context("spawn").Process(
        target=serve_gateway, args=(str(store.path), args.dim, port, tuning), daemon=True
    )
    child.start()
    try:
        until(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200,
              timeout_s=300, what="benchmark gateway")

        async def run() -> list[float]:
            client = MemoryGatewayClient(f"http://127.0.0.1:{port}", TOKEN, timeout_s=30)
            await client.recall(TENANT, data["queries"][0], TOP_K)  # open the connection
            times = []
            for query in data["queries"]:
                start = time.perf_counter()
                await client.recall(TENANT, query, TOP_K)
                times.append(time.perf_counter() - start)
            await client.aclose()
            return times

        return percentiles(asyncio.run(run()))
    finally:
        child.terminate()
        child.join(30)
        store.ensure_collection()  # back to this process


def local_mode(data: dict[str, Any], args: argparse.Namespace,
               truth: list[set[str]]) -> dict[str, Any]:
    from qdrant_client import QdrantClient

    from somagent.memory.store import QdrantMemoryStore

    store = QdrantMemoryStore(QdrantClient(location=":memory:"), args.dim, "bench_local")
    store.ensure_collection()
    _, insert_s = timed(lambda: store.upsert(data["records"]))
    n = args.local_queries
    figures = measure(lambda q: [h.memory_id for h in store.search(TENANT, q, TOP_K)],
                      data["query_vectors"][:n], truth[:n])
    store.close()
    return {"queries": n, "insert_s": round(insert_s, 2), **figures}


def run_size(n: int, args: argparse.Namespace, tuning: EdgeTuning, root: Path) -> dict[str, Any]:
    data = build(n, args)
    matrix, mine_ids = data["vectors"][data["mine"]], data["ids"][data["mine"]]
    queries = data["query_vectors"]
    store = EdgeMemoryStore(root, args.dim, f"bench_{n}", tuning=tuning)
    store.ensure_collection()
    passes: list[float] = []
    if args.incremental_batch:  # as the gateway's indexer: optimize after every batch
        step = args.incremental_batch
        insert_s = 0.0
        for start in range(0, n, step):
            insert_s += timed(lambda s=start: store.upsert(data["records"][s : s + step]))[1]
            changed, elapsed = timed(store.optimize)
            if changed:
                passes.append(elapsed)
        optimize_s = sum(passes)
    else:
        _, insert_s = timed(lambda: store.upsert(data["records"]))
        _, optimize_s = timed(store.optimize)
    stats = store.stats()
    exact = measure(lambda q: exact_search(matrix, mine_ids, q), queries,
                    [set() for _ in queries])
    truth = [set(exact_search(matrix, mine_ids, q)) for q in queries]

    def edge(q: np.ndarray) -> list[str]:
        return [h.memory_id for h in store.search(TENANT, q, TOP_K)]

    sweep = []
    for ef in sorted({*args.ef_sweep, tuning.search_ef}):
        store.search_ef = ef
        sweep.append({"search_ef": ef, **measure(edge, queries, truth)})
    store.search_ef = tuning.search_ef
    main = measure(edge, queries, truth)
    recaller = Recaller(data["embedder"], store, pii_key=PII_KEY)
    in_process = percentiles([timed(lambda t=t: recaller.recall_sync(TENANT, t, TOP_K))[1]
                              for t in data["queries"]])
    result: dict[str, Any] = {
        "memories": n, "tenant_memories": int(data["mine"].sum()), "queries": len(queries),
        "embed_ms_per_text": round(data["embed_s"] / n * 1000, 4),
        "insert_s": round(insert_s, 2), "optimize_s": round(optimize_s, 2),
        "optimize_passes": len(passes) or 1,
        "longest_optimize_pass_s": round(max(passes, default=optimize_s), 2),
        "segments": stats.segments, "indexed_points": stats.indexed_points,
        "search_p50_ms": main["p50_ms"], "search_p95_ms": main["p95_ms"],
        "exact_p50_ms": exact["p50_ms"], "exact_p95_ms": exact["p95_ms"],
        "search_over_exact_p50": round(main["p50_ms"] / exact["p50_ms"], 2),
        "search_over_exact_p95": round(main["p95_ms"] / exact["p95_ms"], 2),
        "recall_at_10": main["recall_at_10"], "ef_sweep": sweep,
        "recall_in_process_p50_ms": in_process[0], "recall_in_process_p95_ms": in_process[1],
    }
    if not args.no_gateway:
        http = gateway_http(store, data, args, tuning)
        result.update(recall_http_p50_ms=http[0], recall_http_p95_ms=http[1],
                      http_over_in_process_p50=round(http[0] / in_process[0], 2))
    if n <= 10_000 and not args.no_local:
        result["local_mode"] = local_mode(data, args, truth)
    store.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k memories only")
    parser.add_argument("--sizes", type=int, nargs="*", default=None)
    parser.add_argument("--queries", type=int, default=200, help="queries per corpus size")
    parser.add_argument("--local-queries", type=int, default=50,
                        help="queries for local mode (~0.2 s each at 10k)")
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--topics", type=int, default=500)
    parser.add_argument("--vocabulary", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    defaults = EdgeTuning()
    parser.add_argument("--m", type=int, default=defaults.m)
    parser.add_argument("--ef-construct", type=int, default=defaults.ef_construct)
    parser.add_argument("--search-ef", type=int, default=defaults.search_ef)
    parser.add_argument("--ef-sweep", type=int, nargs="*", default=[32, 64, 128, 256])
    parser.add_argument("--max-segment-kb", type=int, default=defaults.max_segment_size_kb)
    parser.add_argument("--incremental-batch", type=int, default=0,
                        help="insert in batches of N, optimizing after each (as the gateway's "
                        "indexer does) instead of one bulk load and one optimize")
    parser.add_argument("--no-gateway", action="store_true", help="skip the HTTP measurement")
    parser.add_argument("--no-local", action="store_true", help="skip local mode at 10k")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([10_000] if args.quick else [10_000, 100_000])
    tuning = EdgeTuning(m=args.m, ef_construct=args.ef_construct, search_ef=args.search_ef,
                        max_segment_size_kb=args.max_segment_kb)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="somagent-bench-edge-") as directory:
        results = [run_size(n, args, tuning, Path(directory)) for n in sizes]
    print(json.dumps({
        "bench": "memory.recall",
        "engine": f"qdrant-edge HNSW m={tuning.m} ef_construct={tuning.ef_construct} "
                  f"search_ef={tuning.search_ef} max_segment_size_kb={tuning.max_segment_size_kb}",
        "baseline": "brute-force numpy cosine over the tenant's float32 vectors",
        "data": f"{args.topics} subjects x 40 words, 60% subject words, Zipf rest; "
                f"HrrEmbedder(dim={args.dim}); queries: half perturbed memories, half fresh "
                "subject texts",
        "target": "search P95 <= 10 ms at 100k with recall@10 >= 0.95",
        "top_k": TOP_K, "results": results,
        "total_s": round(time.perf_counter() - started, 1),
        "python": platform.python_version(), "cpus": os.cpu_count(),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
