"""``memory.search``: search the tenant's long-term memory (recall) on request.

The executor calls a :class:`Recall` (``somagent.memory.recall.Recaller``
implements it); only the calling tenant's memories are ever searched because
the tenant comes from the call context, never from the arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from somagent.tools.exceptions import ToolExecutionError
from somagent.tools.spec import Tool, ToolContext, ToolSpec


class EvidenceLike(Protocol):
    """The fields of ``somagent.memory.model.EvidenceBlock`` this tool reads."""

    @property
    def memory_id(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def source(self) -> str: ...


class Recall(Protocol):
    """Recall over the vector store: at most ``top_k`` blocks of ``tenant``, best first."""

    async def recall(
        self, tenant: str, query: str, top_k: int = 5, capsule_ids: Sequence[str] | None = None
    ) -> Sequence[EvidenceLike]: ...


ARGS_SCHEMA: Final = {
    "type": "object",
    "additionalProperties": False,
    "required": ["query"],
    "properties": {
        "query": {
            "type": "string",
            "minLength": 1,
            "maxLength": 2000,
            "x-somagent-extract": "text",
        },
        "top_k": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
        "capsule_ids": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 128},
            "maxItems": 100,
        },
    },
}

RESULT_SCHEMA: Final = {
    "type": "object",
    "additionalProperties": False,
    "required": ["results"],
    "properties": {
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["memory_id", "text", "score", "source"],
                "properties": {
                    "memory_id": {"type": "string"},
                    "text": {"type": "string"},
                    "score": {"type": "number"},
                    "source": {"type": "string"},
                },
            },
        }
    },
}

SPEC: Final = ToolSpec(
    name="memory.search",
    description="Search and recall the tenant's long-term memory notes: find what was "
    "remembered earlier about a topic.",
    args_schema=ARGS_SCHEMA,
    result_schema=RESULT_SCHEMA,
    side_effect=False,
    timeout_s=5.0,
    rate_class="memory",
    idempotent=True,
)


@dataclass
class MemorySearch:
    """Executor of ``memory.search``."""

    recall: Recall

    async def __call__(self, arguments: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
        capsules = arguments.get("capsule_ids")
        try:
            blocks = await self.recall.recall(
                ctx.tenant,
                str(arguments["query"]),
                int(arguments.get("top_k", 5)),
                None if capsules is None else [str(c) for c in capsules],
            )
        except ValueError as exc:
            raise ToolExecutionError("bad-input", f"memory.search: {exc}") from exc
        except Exception as exc:  # the store's own error types
            raise ToolExecutionError(
                "unavailable", f"memory.search for tenant {ctx.tenant}: {exc}"
            ) from exc
        return {
            "results": [
                {
                    "memory_id": b.memory_id,
                    "text": b.text,
                    "score": float(b.score),
                    "source": b.source,
                }
                for b in blocks
            ]
        }


def memory_search_tool(recall: Recall) -> Tool:
    return Tool(SPEC, MemorySearch(recall))
