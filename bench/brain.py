"""SomaBrain on the labelled recall set: hashing vs semantic vs semantic + brain (+ tuning).

Corpus: ``tests/data/brain_recall_set.json`` (300 facts about 60 fictional people,
two paraphrased questions per fact; ``bench/brain_recall_set.py`` writes it). The
facts are stored in a real Qdrant Edge shard (a temp directory) once per embedder,
one tenant, capsules by topic. People 0-39 are the *training* people (their questions
give feedback), people 40-59 the *test* people (never trained on).

Printed JSON (one run, baselines in the same run):

* ``recall_at_10`` / ``mrr`` on the test questions for: the hashing embedder's plain
  recall, the semantic embedder's plain recall, the brain with its initial weights
  (semantic only, so equal to plain recall up to ties), fixed-weight ablations, and
  the brain after feedback on the training questions;
* ``tuning``: the learned weights, the number of feedbacks, rollbacks, held-out MRR;
* ``calibration``: Brier score and ECE of the confidence on the test questions
  before (fixed logistic) and after (Platt fitted on held-out feedback);
* ``frgo``: effective resistance between the most co-used memory pairs after the
  first and the last training epoch;
* ``latency_ms``: per-stage P50/P95 of evaluate (embed, search, score = features +
  utility, bundle) at this corpus size.

Run: ``.venv/bin/python bench/brain.py [--epochs 2]`` (about 3 minutes on the shared
2-core machine).
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from somagent.math.calibration import brier, expected_calibration_error  # noqa: E402
from somagent.memory.brain.config import BrainConfig  # noqa: E402
from somagent.memory.brain.service import Brain  # noqa: E402
from somagent.memory.edge_store import EdgeMemoryStore  # noqa: E402
from somagent.memory.embedder import Embedder, HrrEmbedder  # noqa: E402
from somagent.memory.model import MemoryRecord  # noqa: E402
from somagent.memory.semantic import MiniLmEmbedder  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "brain_recall_set.json"
TENANT = "7d9f6c7e-0000-4000-8000-00000000b7a1"
TRAIN_PEOPLE = 40
T0_US = 1_767_225_600_000_000


def load() -> list[dict[str, Any]]:
    return list(json.loads(DATA.read_text())["facts"])


def memory_id(fact: dict[str, Any]) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"brain-bench/{fact['id']}"))


def build_store(root: Path, embedder: Embedder, facts: list[dict[str, Any]]) -> EdgeMemoryStore:
    store = EdgeMemoryStore(root, embedder.dim, "bench")
    store.ensure_collection()
    vectors = embedder.embed([f["text"] for f in facts])
    store.upsert(
        [
            MemoryRecord(
                memory_id(f),
                TENANT,
                f["text"],
                vectors[i],
                "bench",
                T0_US + i,
                "ab" * 16,
                f["capsule"],
                hashlib.sha256(f["text"].encode()).hexdigest(),
            )
            for i, f in enumerate(facts)
        ]
    )
    return store


def questions(facts: list[dict[str, Any]], train: bool) -> list[tuple[str, str]]:
    return [
        (q, memory_id(f))
        for f in facts
        if (f["person"] < TRAIN_PEOPLE) == train
        for q in f["questions"]
    ]


def score(ranked_ids: list[list[str]], wanted: list[str]) -> dict[str, float]:
    ranks = [
        ids.index(w) + 1 if w in ids else None for ids, w in zip(ranked_ids, wanted, strict=True)
    ]
    return {
        "recall_at_1": round(float(np.mean([r == 1 for r in ranks])), 4),
        "recall_at_10": round(float(np.mean([r is not None and r <= 10 for r in ranks])), 4),
        "mrr": round(float(np.mean([1 / r if r else 0.0 for r in ranks])), 4),
        "questions": len(ranks),
    }


def plain_recall(
    store: EdgeMemoryStore, embedder: Embedder, qs: list[tuple[str, str]]
) -> dict[str, float]:
    vectors = embedder.embed([q for q, _ in qs])
    ranked = [[b.memory_id for b in store.search(TENANT, v, 10)] for v in vectors]
    return score(ranked, [w for _, w in qs])


def brain_recall(
    brain: Brain, qs: list[tuple[str, str]], weights: Any = None
) -> tuple[dict[str, float], list[float], list[float], dict[str, list[float]]]:
    ranked, conf, labels = [], [], []
    stages: dict[str, list[float]] = {}
    for q, wanted in qs:
        bundle = brain.evaluate_sync(TENANT, q, 10, weights=weights)
        ids = [e.block.memory_id for e in bundle.evidence]
        ranked.append(ids)
        for e in bundle.evidence:
            conf.append(e.confidence)
            labels.append(float(e.block.memory_id == wanted))
        for k, v in brain.timings_s.items():
            stages.setdefault(k, []).append(v * 1000)
    return score(ranked, [w for _, w in qs]), conf, labels, stages


def train(brain: Brain, qs: list[tuple[str, str]], epochs: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    stats = {"feedbacks": 0, "held_out": 0, "rolled_back": 0, "skipped_not_in_pool": 0}
    resistances: list[dict[str, float]] = []
    pairs: list[tuple[str, str]] = []
    for epoch in range(epochs):
        for i in rng.permutation(len(qs)):
            q, wanted = qs[int(i)]
            bundle = brain.evaluate_sync(TENANT, q, 10)
            event = None
            try:
                event = brain.feedback_event(TENANT, bundle.bundle_id, [wanted], "ab" * 16)
            except ValueError:
                stats["skipped_not_in_pool"] += 1
                continue
            update = brain.apply_event(event)
            assert update is not None
            stats["feedbacks"] += 1
            stats["held_out"] += int(event["payload"]["held_out"])
            stats["rolled_back"] += int(update.rolled_back)
        graph = brain.graphs[TENANT]
        if epoch == 0:
            strongest = sorted(graph._index, key=lambda e: -graph.conductance(*e))[:10]
            pairs = list(strongest)
        resistances.append(
            {
                "epoch": epoch + 1,
                "mean_r_eff_top10_pairs": round(
                    float(np.mean([graph.resistance(a, b) for a, b in pairs])), 4
                ),
                "edges": graph.n_edges,
            }
        )
    stats["frgo"] = resistances
    return stats


def stage_summary(stages: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        k: {
            "p50": round(float(np.percentile(v, 50)), 3),
            "p95": round(float(np.percentile(v, 95)), 3),
        }
        for k, v in stages.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    facts = load()
    test_q, train_q = questions(facts, False), questions(facts, True)
    out: dict[str, Any] = {
        "facts": len(facts),
        "train_questions": len(train_q),
        "test_questions": len(test_q),
    }
    with tempfile.TemporaryDirectory() as tmp:
        hashing = HrrEmbedder()
        hstore = build_store(Path(tmp) / "h", hashing, facts)
        out["hashing_plain"] = plain_recall(hstore, hashing, test_q)
        hstore.close()
        semantic = MiniLmEmbedder()
        sstore = build_store(Path(tmp) / "s", semantic, facts)
        out["semantic_plain"] = plain_recall(sstore, semantic, test_q)
        brain = Brain(semantic, sstore, config=BrainConfig(), clock_us=lambda: T0_US + 10**9)
        untuned, c0, l0, stages = brain_recall(brain, test_q)
        out["semantic_brain_initial"] = untuned
        for name, w in {
            "semantic_plus_rho": (1, 0.3, 0, 0, 0, 0, 0.1),
            "semantic_plus_lexical_hrr": (1, 0, 0, 0, 0, 1.0, 0.1),
            "semantic_plus_rho_lexical": (1, 0.3, 0, 0, 0, 1.0, 0.1),
        }.items():
            out[f"ablation_{name}"] = brain_recall(brain, test_q, weights=w)[0]
        out["tuning"] = train(brain, train_q, args.epochs)
        tuned, c1, l1, _ = brain_recall(brain, test_q)
        out["semantic_brain_tuned"] = tuned
        out["tuning"]["weights"] = dict(
            zip(
                ("lambda", "mu", "nu", "alpha", "beta", "gamma", "tau"),
                (round(float(x), 4) for x in brain.tuner.weights((TENANT, None))),
                strict=True,
            )
        )
        out["calibration"] = {
            "before": {
                "brier": round(brier(c0, l0), 4),
                "ece": round(expected_calibration_error(c0, l0), 4),
            },
            "after": {
                "brier": round(brier(c1, l1), 4),
                "ece": round(expected_calibration_error(c1, l1), 4),
            },
        }
        out["latency_ms"] = stage_summary(stages)
        sstore.close()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
