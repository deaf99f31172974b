"""The one Kafka I/O layer: every confluent-kafka client of the project is built here.

* :mod:`somagent.kafka.producer` — :class:`~somagent.kafka.producer.EventProducer`,
  the acking producer (queue + flush, sync ack, async-awaitable acks returning
  positions, fire-and-forget audit, transactions);
* :mod:`somagent.kafka.reader` — :class:`~somagent.kafka.reader.LogReader`, the
  positioned reader (explicit assignment, batches, raw or decoded, read to end);
* :mod:`somagent.kafka.consumer` — consumer-group membership (``group_consumer``,
  ``EventConsumer``);
* :mod:`somagent.kafka.dead_letter` — :func:`~somagent.kafka.dead_letter.dead_letter`,
  the one way a record reaches ``deadletter.events``;
* :mod:`somagent.kafka.admin` — topics (``ensure_topics``, ``describe_topics``),
  partitions and watermarks;
* :mod:`somagent.kafka.schema_log` — the ``schemas`` topic as the registry's log
  (``kafka_registry``, ``kafka_codec``);
* :mod:`somagent.kafka.clients` — the librdkafka settings every client starts from.

Faust's own consumer and producer stay Faust's (``somagent.engine``).
"""
