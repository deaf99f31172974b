"""Settings for a throw-away local stack, as the test suite and benchmarks use it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from somagent.config import Settings, load_settings
from somagent.stack.process import free_port

REPO = Path(__file__).resolve().parents[2]


def fresh_stack_settings(home: Path, *, partitions: int = 3) -> Settings:
    """A stack under ``home`` on free loopback ports; Kafka jars from the shared cache.

    The cache is ``SOMAGENT_CACHE_DIR`` or the repository's ``.somagent/cache``,
    so the jars are fetched once however many throw-away stacks run.
    """
    return load_settings(
        home=home,
        cache_dir=Path(os.environ.get("SOMAGENT_CACHE_DIR", REPO / ".somagent" / "cache")),
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        postgres_port=free_port(),
        redis_port=free_port(),
        api_port=free_port(),
        clickhouse_http_port=free_port(),
        memory_port=free_port(),
        temporal_port=free_port(),
        s3_port=free_port(),
        opa_port=free_port(),
        policy_port=free_port(),
        topic_partitions=partitions,
    )


@contextlib.contextmanager
def throwaway_stack(*, partitions: int = 6, prefix: str = "somagent-bench-") -> Iterator[Settings]:
    """The real stack in a temporary directory on free loopback ports; stopped afterwards."""
    from somagent.stack.stack import Stack

    with tempfile.TemporaryDirectory(prefix=prefix) as home:
        stack = Stack(fresh_stack_settings(Path(home), partitions=partitions))
        try:
            yield stack.up().settings
        finally:
            stack.down()
