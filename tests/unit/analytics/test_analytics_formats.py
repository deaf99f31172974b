"""Content types and which formats stream."""

from __future__ import annotations

from somagent.analytics.formats import canonical, content_type, streams


def test_content_types() -> None:
    assert content_type("TabSeparated") == "text/tab-separated-values; charset=UTF-8"
    assert content_type("tsv") == content_type("TSVWithNames")
    assert content_type("CSV") == "text/csv; charset=UTF-8; header=absent"
    assert content_type("CSVWithNames") == "text/csv; charset=UTF-8; header=present"
    assert content_type("JSON") == "application/json; charset=UTF-8"
    assert content_type("JSONEachRow") == "application/x-ndjson; charset=UTF-8"
    for binary in ("Native", "RowBinary", "Parquet", "Arrow", "ArrowStream", "Avro"):
        assert content_type(binary) == "application/octet-stream"
    assert content_type("Pretty") == "text/plain; charset=UTF-8"


def test_only_concatenable_formats_stream() -> None:
    assert streams("TSV") and streams("native") and streams("JSONEachRow") and streams("CSV")
    for whole in ("JSON", "TSVWithNames", "CSVWithNames", "Parquet", "Pretty", "XML"):
        assert not streams(whole)
    assert canonical(" TSVRaw ") == "tabseparatedraw"
