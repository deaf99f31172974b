"""The event contract on the wire: Avro single-object codec, schemas, topic catalog.

Ids, the typed envelope and the event-type names are the pure
:mod:`somagent.contract`; this package encodes them.

Public API (see ``docs/events.md``):

* :mod:`somagent.events.codec` — ``EventCodec(registry).encode(event) -> bytes``,
  ``.decode(data, where) -> dict``;
* :mod:`somagent.events.plain` — ``PlainDecoder`` (straight to strings and epoch µs);
* :mod:`somagent.events.catalog` — ``TOPICS``, ``topic_for``, ``key_for`` (pure; creating
  topics is :mod:`somagent.kafka.admin`);
* :mod:`somagent.events.envelope` — ``make_event`` (clock, random id, new trace);
* :mod:`somagent.events.compat` / :mod:`somagent.events.schemas` — the contract,
  its history and the compatibility check.
"""
