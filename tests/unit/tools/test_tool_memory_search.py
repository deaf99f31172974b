"""memory.search over the memory package's real Recaller and embedded Qdrant."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from somagent.memory.embedder import HrrEmbedder
from somagent.memory.model import MemoryRecord
from somagent.memory.recall import Recaller
from somagent.memory.store import QdrantMemoryStore
from somagent.tools.broker import ToolBroker
from somagent.tools.exceptions import ToolExecutionError
from somagent.tools.memory_search import SPEC, MemorySearch, memory_search_tool
from somagent.tools.registry import ToolRegistry
from somagent.tools.spec import ToolContext
from somagent.tools.validation import errors
from somagent.turns.state import ToolCall

A = "11111111-1111-4111-8111-111111111111"
B = "22222222-2222-4222-8222-222222222222"


@pytest.fixture(scope="module")
def recaller(tmp_path_factory: pytest.TempPathFactory) -> Recaller:
    client = QdrantClient(path=str(Path(tmp_path_factory.mktemp("qdrant"))))
    embedder = HrrEmbedder()
    store = QdrantMemoryStore(client, embedder.dim, f"m_{uuid.uuid4().hex}")
    store.ensure_collection()
    texts = [
        (A, "The product launch is planned for Friday in Berlin"),
        (A, "Invoices are paid at the end of each month"),
        (B, "The product launch of tenant B is secret"),
    ]
    vectors = embedder.embed([t for _, t in texts])
    store.upsert(
        [
            MemoryRecord(
                str(uuid.uuid4()),
                tenant,
                text,
                vec,
                "turn",
                1_700_000_000_000_000,
                "0" * 32,
                None,
                hashlib.sha256(text.encode()).hexdigest(),
            )
            for (tenant, text), vec in zip(texts, vectors, strict=True)
        ]
    )
    return Recaller(embedder, store)


def test_search_returns_only_the_callers_memories(recaller: Recaller) -> None:
    tool = MemorySearch(recaller)
    out = asyncio.run(
        tool({"query": "when is the product launch", "top_k": 5}, ToolContext(A, 5.0))
    )
    assert errors(SPEC.result_schema, out) == []
    texts = [r["text"] for r in out["results"]]
    assert texts[0] == "The product launch is planned for Friday in Berlin"
    assert all("tenant B" not in t for t in texts)
    assert len(texts) == 2


def test_bad_input_is_a_tool_failure(recaller: Recaller) -> None:
    with pytest.raises(ToolExecutionError) as info:
        asyncio.run(MemorySearch(recaller)({"query": "x"}, ToolContext("", 5.0)))
    assert info.value.code == "bad-input"


def test_through_the_broker(recaller: Recaller) -> None:
    broker = ToolBroker(ToolRegistry([memory_search_tool(recaller)]))
    r = asyncio.run(
        broker.invoke(
            ToolCall(0, "memory.search", {"query": "invoices"}),
            tenant=A,
            idem_key="k",
            timeout_ms=5000,
        )
    )
    assert r.ok and r.schema_ok
    assert r.output["results"][0]["text"] == "Invoices are paid at the end of each month"
    bad = asyncio.run(
        broker.invoke(
            ToolCall(1, "memory.search", {"query": "x", "top_k": 99}),
            tenant=A,
            idem_key="k2",
            timeout_ms=5000,
        )
    )
    assert bad.error_code == "invalid-arguments" and "/top_k" in bad.error
