"""Decoding envelopes straight into plain values (UUIDs as strings, timestamps as epoch µs).

Records written with the codec's own writer schema are read with that schema
minus its logical-type annotations: the same bytes, without building UUID and
datetime objects (projectors and billing only need strings and integers).
Anything else (older writer schemas, corrupt bytes) goes through
:meth:`~somagent.events.codec.EventCodec.decode` unchanged and is then made
plain, so its errors (and the dead-lettering that follows them) stay exactly
the codec's. Either way the result equals ``plain(codec.decode(data))``.
"""

from __future__ import annotations

import io
from typing import Any

from fastavro import parse_schema, schemaless_reader

from somagent.contract.envelope import plain
from somagent.events.codec import HEADER_SIZE, MAGIC, EventCodec
from somagent.events.exceptions import Where


def _strip_logical(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_logical(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_strip_logical(v) for v in node]
    return node


class PlainDecoder:
    """Decode envelopes with UUIDs as strings and timestamps as epoch µs, fast."""

    def __init__(self, codec: EventCodec) -> None:
        self.codec = codec
        self.header = MAGIC + codec.writer.fingerprint
        self.parsed = parse_schema(_strip_logical(codec.writer.schema))

    def decode(self, data: bytes, where: Where) -> dict[str, Any]:
        """The event in ``data`` as plain values.

        Raises:
            DecodeError: as :meth:`EventCodec.decode` (``where`` names the position).
        """
        if data is not None and data[:HEADER_SIZE] == self.header:
            body = io.BytesIO(data)
            body.seek(HEADER_SIZE)
            try:
                event: dict[str, Any] = schemaless_reader(body, self.parsed, None)  # type: ignore[assignment]
                if body.tell() == len(data):
                    return event
            except Exception:
                pass
        decoded: dict[str, Any] = plain(self.codec.decode(data, where))
        return decoded
