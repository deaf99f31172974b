"""Cluster ids look like Kafka's own and never start with '-' (the storage tool's option prefix)."""

from __future__ import annotations

import base64

from somagent.stack.kafka import new_cluster_id


def test_cluster_ids_are_22_char_urlsafe_base64_of_16_bytes_not_starting_with_dash() -> None:
    for _ in range(5000):  # ~1 in 64 raw draws starts with '-'; all must be redrawn
        cid = new_cluster_id()
        assert len(cid) == 22 and not cid.startswith("-")
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16
