"""Request decoding and streamed response encoding."""

from __future__ import annotations

import gzip
import zlib

import cramjam
import pytest

from somagent.analytics.compression import RESPONSE_ENCODINGS, Encoder, choose, decode
from somagent.analytics.exceptions import ClickHouseError

DATA = b"row\t1\n" * 5000


@pytest.mark.parametrize("encoding", RESPONSE_ENCODINGS)
def test_encoder_round_trips_in_chunks(encoding: str) -> None:
    enc = Encoder(encoding)
    out = b"".join(enc.chunk(DATA[i : i + 777]) for i in range(0, len(DATA), 777)) + enc.finish()
    assert decode(encoding, out) == DATA and len(out) < len(DATA)


def test_standard_decoders_agree() -> None:
    enc = Encoder("gzip")
    assert gzip.decompress(enc.chunk(DATA) + enc.finish()) == DATA
    deflate = Encoder("deflate")
    assert zlib.decompress(deflate.chunk(DATA) + deflate.finish()) == DATA  # zlib format
    assert decode("lz4", bytes(cramjam.lz4.compress(DATA))) == DATA
    assert decode("snappy", bytes(cramjam.snappy.compress(DATA))) == DATA
    assert decode("", DATA) == DATA


def test_bad_bodies() -> None:
    with pytest.raises(ClickHouseError) as bad:
        decode("gzip", b"not gzip")
    assert bad.value.name == "CANNOT_DECOMPRESS"
    with pytest.raises(ClickHouseError) as unknown:
        decode("compress", DATA)
    assert unknown.value.name == "UNKNOWN_COMPRESSION_METHOD"


def test_choose() -> None:
    assert choose("lz4, zstd;q=0.5, gzip") == "lz4"
    assert choose("identity, bzip2") is None
