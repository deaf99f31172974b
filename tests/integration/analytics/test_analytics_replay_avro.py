"""Replay's Avro fast path through the service: ``INSERT ... FROM input() FORMAT Avro`` + body.

The container is the one :mod:`somagent.projections.chavro` builds from raw log
records; sent as a request body, the engine decodes it and the rows equal the
Python decoder's (the live projector's path) byte for byte.
"""

from __future__ import annotations

import pytest
from analytics_helpers import Analytics

from somagent.events.codec import EventCodec
from somagent.events.examples import example_events
from somagent.events.plain import PlainDecoder
from somagent.kafka.records import Message, Record
from somagent.projections import chavro, chproj
from somagent.projections.chreplay import Splitter

pytestmark = pytest.mark.integration
SPOOL = "__request_body__"


def test_chavro_container_over_http_equals_the_python_path(analytics: Analytics) -> None:
    ch = analytics.service()
    codec = EventCodec()
    rows = chavro.row_schema(codec.writer.schema)
    parts = [("conversation.events", 1), ("billing.usage", 4)]
    messages, offset = [], 0
    for seed in range(40):
        for event in example_events(seed):
            topic, partition = parts[offset % 2]
            messages.append(
                Message(topic=topic, partition=partition, offset=offset, value=codec.encode(event))
            )
            offset += 1
    ends = {tp: offset for tp in parts}
    batch = Splitter(codec.fingerprint, ends).split(messages)
    assert batch.rows == len(messages) and not batch.other

    fast = chproj.ClickHouseProjector(ch, name="avro-http", suffix="_avrohttp")
    slow = chproj.ClickHouseProjector(ch, name="avro-python", suffix="_avropy")
    fast.ensure_tables(fresh=True)
    slow.ensure_tables(fresh=True)
    file_sql = chavro.insert_sql(rows, fast.events_table, SPOOL, batch.parts)
    reader = f"file({chavro._lit(SPOOL)}, 'Avro')"
    assert file_sql.count(reader) == 1
    sql = file_sql.replace(reader, "input()") + " FORMAT Avro"
    body = chavro.container(rows.header, batch.rows, batch.data)
    assert ch.insert_body(sql, body) >= batch.rows

    plain = PlainDecoder(codec)
    records = [
        Record(m.topic(), m.partition(), m.offset(), plain.decode(m.value(), None))  # type: ignore[arg-type]
        for m in messages
    ]
    slow.apply(records, {})
    python_rows = slow.row_hashes()
    assert len(python_rows) == len(messages)
    assert fast.row_hashes() == python_rows
    assert fast.usage_totals() == slow.usage_totals()
    ch.close()
