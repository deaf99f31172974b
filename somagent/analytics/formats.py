"""Output formats: the Content-Type ClickHouse sends for each, and which ones stream.

Pure, no I/O. Format names are case-insensitive (as in ClickHouse 26.x), and
``TSV``-style aliases are recognised.

A format *streams* when the engine's per-chunk output concatenates to exactly
the whole output: chDB's streaming API renders every chunk as a complete
document, so formats with a header, a prefix or a suffix (``JSON``,
``TSVWithNames``, ``Parquet``, ``Pretty``...) are rendered in one piece instead.
"""

from __future__ import annotations

from typing import Final

DEFAULT_FORMAT: Final = "TabSeparated"

_ALIASES: Final[dict[str, str]] = {
    "tsv": "tabseparated",
    "tsvraw": "tabseparatedraw",
    "raw": "tabseparatedraw",
    "tsvwithnames": "tabseparatedwithnames",
    "tsvwithnamesandtypes": "tabseparatedwithnamesandtypes",
    "tsvrawwithnames": "tabseparatedrawwithnames",
    "tsvrawwithnamesandtypes": "tabseparatedrawwithnamesandtypes",
    "jsonl": "jsoneachrow",
    "ndjson": "jsoneachrow",
}

# Row-by-row formats without header, prefix or suffix, and Native (a sequence of blocks).
STREAMING: Final = frozenset(
    [
        "tabseparated",
        "tabseparatedraw",
        "csv",
        "jsoneachrow",
        "jsoncompacteachrow",
        "jsonstringseachrow",
        "jsoncompactstringseachrow",
        "rowbinary",
        "native",
        "values",
        "lineasstring",
    ]
)

_JSON: Final = frozenset(
    [
        "json",
        "jsonstrings",
        "jsoncompact",
        "jsoncompactstrings",
        "jsoncolumns",
        "jsoncompactcolumns",
        "jsoncolumnswithmetadata",
        "jsonobjecteachrow",
    ]
)
_BINARY_PREFIXES: Final = (
    "native",
    "rowbinary",
    "parquet",
    "arrow",
    "orc",
    "avro",
    "protobuf",
    "capnproto",
    "msgpack",
    "bsoneachrow",
    "npy",
    "rawblob",
)


def canonical(name: str) -> str:
    """The lower-case name of a format, aliases resolved (``TSV`` → ``tabseparated``)."""
    low = name.strip().lower()
    return _ALIASES.get(low, low)


def streams(name: str) -> bool:
    """Whether output in ``name`` may be sent chunk by chunk as the engine produces it."""
    return canonical(name) in STREAMING


def content_type(name: str) -> str:
    """The Content-Type ClickHouse's HTTP interface sends for output in ``name``."""
    low = canonical(name)
    if low.startswith("tabseparated"):
        return "text/tab-separated-values; charset=UTF-8"
    if low.startswith("csv"):
        header = "present" if "withnames" in low else "absent"
        return f"text/csv; charset=UTF-8; header={header}"
    if low in _JSON:
        return "application/json; charset=UTF-8"
    if low.startswith("json"):
        return "application/x-ndjson; charset=UTF-8"
    if low.startswith(_BINARY_PREFIXES):
        return "application/octet-stream"
    if low == "xml":
        return "application/xml; charset=UTF-8"
    if low == "markdown":
        return "text/markdown; charset=UTF-8"
    return "text/plain; charset=UTF-8"
