"""Recall latency and quality: Qdrant (as the platform uses it) versus exact numpy search.

For each corpus size (10k and 100k memories; ``--quick``: 10k only) it builds a
synthetic corpus of short texts over a Zipf-distributed vocabulary, embeds it with
the default :class:`~somagent.memory.embedder.HrrEmbedder`, stores it through
:class:`~somagent.memory.store.QdrantMemoryStore` in embedded Qdrant, and asks
perturbed versions of stored texts (two words replaced; ``--queries`` at 10k,
``--queries-large`` at 100k, where each embedded search takes over a second). It reports:

* ``search_p50_ms``/``search_p95_ms``: ``QdrantMemoryStore.search`` (tenant filter,
  top 10), the baseline ``exact_*`` being brute-force numpy cosine over the same
  vectors measured in the same run, and their ratio;
* ``recall_end_to_end_*``: ``Recaller.recall_sync`` (embed the query + search);
* ``recall_at_10``: mean overlap of Qdrant's top 10 with the exact top 10;
* embedding and insert throughput.

Embedded Qdrant (qdrant-client local mode) answers by an exact scan: numpy over all
vectors plus a payload filter evaluated per point in Python, so recall@10 is 1.0 up to
float ties and its latency grows linearly with the corpus. The output says so.
A Qdrant server (``--qdrant-url``) uses HNSW with payload indexes instead.

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
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from qdrant_client import QdrantClient  # noqa: E402

from somagent.memory.embedder import HrrEmbedder  # noqa: E402
from somagent.memory.model import MemoryRecord  # noqa: E402
from somagent.memory.recall import Recaller  # noqa: E402
from somagent.memory.store import QdrantMemoryStore  # noqa: E402

TENANT = "bench-tenant"
OTHER_TENANT = "bench-other"
TOP_K = 10
_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]


def vocabulary(rng: np.random.Generator, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES, size=int(rng.integers(1, 4)))))
    return sorted(words)


def corpus(rng: np.random.Generator, words: list[str], n: int) -> list[str]:
    ranks = np.arange(1, len(words) + 1)
    weights = 1.0 / ranks**1.05
    weights /= weights.sum()
    lengths = rng.integers(8, 21, size=n)
    picks = rng.choice(len(words), size=int(lengths.sum()), p=weights)
    texts, start = [], 0
    for length in lengths:
        texts.append(" ".join(words[i] for i in picks[start : start + length]))
        start += length
    return texts


def perturb(rng: np.random.Generator, text: str, words: list[str]) -> str:
    tokens = text.split()
    for index in rng.choice(len(tokens), size=2, replace=False):
        tokens[index] = words[int(rng.integers(len(words)))]
    return " ".join(tokens)


def percentiles(samples_s: list[float]) -> tuple[float, float]:
    values = np.array(samples_s) * 1000.0
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def run_size(n: int, args: argparse.Namespace, client: QdrantClient) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed + n)
    words = vocabulary(rng, args.vocabulary)
    texts = corpus(rng, words, n)
    embedder = HrrEmbedder(dim=args.dim)
    vectors, embed_s = timed(lambda: embedder.embed(texts))

    store = QdrantMemoryStore(client, args.dim, f"bench_{n}_{uuid.uuid4().hex[:8]}")
    store.ensure_collection()
    # A tenth of the points belong to another tenant, so the tenant filter has work to do.
    tenants = [OTHER_TENANT if i % 10 == 9 else TENANT for i in range(n)]
    ids = [str(uuid.UUID(int=i + 1)) for i in range(n)]
    records = [
        MemoryRecord(ids[i], tenants[i], texts[i], vectors[i], "bench", i, "", None, f"{i:064x}")
        for i in range(n)
    ]
    _, insert_s = timed(lambda: store.upsert(records))

    mine = np.array([t == TENANT for t in tenants])
    exact_matrix = vectors[mine]
    exact_ids = np.array(ids)[mine]
    n_queries = args.queries if n <= 10_000 else args.queries_large
    query_rows = rng.choice(np.flatnonzero(mine), size=n_queries, replace=False)
    queries = [perturb(rng, texts[i], words) for i in query_rows]
    query_vectors = embedder.embed(queries)
    recaller = Recaller(embedder, store)

    exact_times: list[float] = []
    search_times: list[float] = []
    e2e_times: list[float] = []
    overlaps: list[float] = []
    self_hits = 0
    for row, query, q in zip(query_rows, queries, query_vectors, strict=True):
        start = time.perf_counter()
        scores = exact_matrix @ q
        top = np.argpartition(-scores, TOP_K)[:TOP_K]
        top = top[np.argsort(-scores[top])]
        exact_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        hits = store.search(TENANT, q, TOP_K)
        search_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        recaller.recall_sync(TENANT, query, TOP_K)
        e2e_times.append(time.perf_counter() - start)
        truth = set(exact_ids[top].tolist())
        overlaps.append(len(truth & {h.memory_id for h in hits}) / TOP_K)
        self_hits += int(bool(hits) and hits[0].memory_id == ids[row])

    exact_p50, exact_p95 = percentiles(exact_times)
    search_p50, search_p95 = percentiles(search_times)
    e2e_p50, e2e_p95 = percentiles(e2e_times)
    return {
        "memories": n,
        "tenant_memories": int(mine.sum()),
        "queries": n_queries,
        "embed_ms_per_text": round(embed_s / n * 1000, 4),
        "insert_s": round(insert_s, 2),
        "search_p50_ms": round(search_p50, 3),
        "search_p95_ms": round(search_p95, 3),
        "exact_p50_ms": round(exact_p50, 3),
        "exact_p95_ms": round(exact_p95, 3),
        "search_over_exact_p50": round(search_p50 / exact_p50, 2),
        "search_over_exact_p95": round(search_p95 / exact_p95, 2),
        "recall_end_to_end_p50_ms": round(e2e_p50, 3),
        "recall_end_to_end_p95_ms": round(e2e_p95, 3),
        "recall_at_10": round(float(np.mean(overlaps)), 4),
        "perturbed_query_finds_source_at_1": round(self_hits / n_queries, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k memories only")
    parser.add_argument("--queries", type=int, default=100, help="queries at 10k memories")
    parser.add_argument(
        "--queries-large",
        type=int,
        default=30,
        help="queries at 100k memories (embedded search takes ~1-2 s each there)",
    )
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--vocabulary", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--persist",
        action="store_true",
        help="embedded Qdrant in a temp directory (as `somagent up`) instead of in memory; "
        "same search code, slower inserts",
    )
    parser.add_argument("--qdrant-url", default=None, help="a Qdrant server instead of embedded")
    args = parser.parse_args(argv)
    sizes = [10_000] if args.quick else [10_000, 100_000]

    with tempfile.TemporaryDirectory(prefix="somagent-bench-qdrant-") as directory:
        if args.qdrant_url:
            client, engine = QdrantClient(url=args.qdrant_url), "qdrant server (HNSW)"
        elif args.persist:
            client, engine = QdrantClient(path=directory), "embedded qdrant, on disk"
        else:
            client, engine = QdrantClient(location=":memory:"), "embedded qdrant, in memory"
        started = time.perf_counter()
        results = [run_size(n, args, client) for n in sizes]
        client.close()
    exact_scan = not args.qdrant_url
    print(
        json.dumps(
            {
                "bench": "memory.recall",
                "engine": engine,
                "engine_is_exact_scan": exact_scan,
                "note": (
                    "qdrant-client local mode is an exact scan (numpy dot products plus a "
                    "per-point Python payload filter), so recall@10 is 1.0 by construction and "
                    "latency grows linearly; use a Qdrant server for HNSW at scale"
                    if exact_scan
                    else "server search is HNSW (approximate); recall@10 measures its loss"
                ),
                "baseline": "brute-force numpy cosine over the same float32 vectors",
                "embedder": f"HrrEmbedder(dim={args.dim})",
                "top_k": TOP_K,
                "results": results,
                "total_s": round(time.perf_counter() - started, 1),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
