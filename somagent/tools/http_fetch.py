"""``http_fetch``: GET one URL, restricted to the session policy's egress allow-list.

The broker asks the policy before the call runs (``egress_url_arg="url"``: the URL's
host must be on the policy's ``egress.hosts``; the default policy lists none, so
the tool is refused until a policy grants hosts). Redirects are **not** followed
(a redirect to another host would leave the allow-list): a 3xx answers with its
``location``. At most ``max_bytes`` of the body are read (default 64 KiB, cap 1 MiB)
and returned as text (UTF-8, undecodable bytes replaced). The host check is by
name: a name the allow-list grants is trusted to resolve where its owner says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import httpx

from somagent.tools.exceptions import ToolExecutionError
from somagent.tools.spec import Tool, ToolContext, ToolSpec

MAX_BYTES: Final = 1024 * 1024
DEFAULT_BYTES: Final = 64 * 1024

ARGS_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["url"],
    "properties": {
        "url": {"type": "string", "pattern": "^https?://[^/?#@\\s]+", "maxLength": 2048},
        "max_bytes": {"type": "integer", "minimum": 1, "maximum": MAX_BYTES},
    },
}

RESULT_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["status", "content_type", "body", "truncated"],
    "properties": {
        "status": {"type": "integer"},
        "content_type": {"type": "string"},
        "body": {"type": "string"},
        "truncated": {"type": "boolean"},
        "location": {"type": "string"},
    },
}

SPEC: Final = ToolSpec(
    name="http_fetch",
    description="Fetch a web page or HTTP resource by URL (GET) from an allow-listed host.",
    args_schema=ARGS_SCHEMA,
    result_schema=RESULT_SCHEMA,
    side_effect=False,
    timeout_s=10.0,
    rate_class="network",
    idempotent=True,
    egress_url_arg="url",
)


async def run_http_fetch(arguments: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """Executor: one GET, no redirects, body capped; transport errors are ``unavailable``."""
    limit = int(arguments.get("max_bytes", DEFAULT_BYTES))
    chunks: list[bytes] = []
    size, truncated = 0, False
    try:
        async with (httpx.AsyncClient(timeout=ctx.timeout_s, follow_redirects=False) as client,
                    client.stream("GET", str(arguments["url"])) as response):
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= limit:
                        truncated = size > limit
                        break
                out: dict[str, Any] = {
                    "status": response.status_code,
                    "content_type": response.headers.get("content-type", ""),
                    "body": b"".join(chunks)[:limit].decode("utf-8", errors="replace"),
                    "truncated": truncated,
                }
                if "location" in response.headers:
                    out["location"] = response.headers["location"]
                return out
    except httpx.HTTPError as exc:
        raise ToolExecutionError("unavailable", f"http_fetch {arguments['url']}: "
                                 f"{type(exc).__name__}: {exc}", infrastructure=False) from exc


def http_fetch_tool() -> Tool:
    return Tool(SPEC, run_http_fetch)
