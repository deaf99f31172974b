"""W3C Trace Context (``traceparent``) helpers, carried in Kafka record headers.

Format (W3C Recommendation, version 00): ``00-<32 hex trace id>-<16 hex span id>-<2 hex flags>``.
All-zero trace or span ids are invalid. Ids are lowercase hex.
"""

from __future__ import annotations

import re
import secrets

HEADER = "traceparent"
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def new_trace_id() -> str:
    """A random 128-bit trace id, 32 lowercase hex digits, never all zero."""
    while True:
        value = secrets.token_hex(16)
        if value != "0" * 32:
            return value


def new_span_id() -> str:
    """A random 64-bit span id, 16 lowercase hex digits, never all zero."""
    while True:
        value = secrets.token_hex(8)
        if value != "0" * 16:
            return value


def format_traceparent(trace_id: str, span_id: str | None = None, *, sampled: bool = True) -> str:
    """A ``traceparent`` value; a new span id is drawn when none is given.

    Raises:
        ValueError: the ids are not lowercase hex of the right length, or all zero.
    """
    value = f"00-{trace_id}-{span_id or new_span_id()}-{'01' if sampled else '00'}"
    parse_traceparent(value)
    return value


def parse_traceparent(value: str | bytes) -> tuple[str, str, bool]:
    """(trace id, span id, sampled) of a ``traceparent`` value.

    Raises:
        ValueError: not a version-00 traceparent, or an all-zero id.
    """
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    match = _TRACEPARENT.match(text.strip())
    if match is None:
        raise ValueError(f"not a W3C traceparent: {text!r}")
    trace_id, span_id, flags = match.groups()
    if trace_id == "0" * 32 or span_id == "0" * 16:
        raise ValueError(f"traceparent with an all-zero id: {text!r}")
    return trace_id, span_id, bool(int(flags, 16) & 1)
