"""HTTP body compression as ClickHouse's HTTP interface speaks it.

Request bodies with ``Content-Encoding`` gzip, deflate (zlib format), br, zstd,
lz4 (LZ4 frame), xz or snappy are decoded whole (:func:`decode`). Responses are
compressed only when the request set ``enable_http_compression=1`` and sent an
``Accept-Encoding`` naming one of :data:`RESPONSE_ENCODINGS` (the first the
client lists wins), chunk by chunk (:class:`Encoder`). Pure, no I/O.
"""

from __future__ import annotations

import zlib
from typing import Any, Final

import cramjam

from somagent.analytics.errors import error

RESPONSE_ENCODINGS: Final = ("gzip", "deflate", "zstd", "lz4", "br")


def decode(encoding: str, data: bytes) -> bytes:
    """``data`` decompressed per ``Content-Encoding: encoding``.

    Raises:
        ClickHouseError: UNKNOWN_COMPRESSION_METHOD or CANNOT_DECOMPRESS.
    """
    name = encoding.strip().lower()
    try:
        if name in ("", "identity"):
            return data
        if name in ("gzip", "x-gzip"):
            return zlib.decompress(data, 16 + zlib.MAX_WBITS)
        if name == "deflate":
            return zlib.decompress(data)
        module = {"br": "brotli", "zstd": "zstd", "lz4": "lz4", "xz": "xz", "snappy": "snappy"}
        if name in module:
            return bytes(getattr(cramjam, module[name]).decompress(data))
    except (zlib.error, cramjam.DecompressionError) as exc:
        raise error(
            "CANNOT_DECOMPRESS", f"cannot decompress the {name} request body: {exc}"
        ) from exc
    raise error("UNKNOWN_COMPRESSION_METHOD", f"Unknown HTTP Content-Encoding: {encoding}")


def choose(accept_encoding: str) -> str | None:
    """The first encoding in ``accept_encoding`` that responses can use, or None."""
    for part in accept_encoding.split(","):
        name = part.split(";")[0].strip().lower()
        if name in RESPONSE_ENCODINGS:
            return name
    return None


class Encoder:
    """Compresses a response body chunk by chunk; :meth:`finish` ends the stream."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._zlib: Any = None
        self._cramjam: Any = None
        if encoding == "gzip":
            self._zlib = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.compressobj(6)
        else:
            module = {"zstd": cramjam.zstd, "lz4": cramjam.lz4, "br": cramjam.brotli}[encoding]
            self._cramjam = module.Compressor()

    def chunk(self, data: bytes) -> bytes:
        """Compressed bytes for ``data`` (possibly empty: the compressor may buffer)."""
        if self._zlib is not None:
            return bytes(self._zlib.compress(data))
        self._cramjam.compress(data)
        return bytes(self._cramjam.flush())

    def finish(self) -> bytes:
        """The remaining compressed bytes; the encoder is finished afterwards."""
        if self._zlib is not None:
            return bytes(self._zlib.flush())
        return bytes(self._cramjam.finish())
