"""``somagent serve memory`` as a child process of the tests, and reading memory.events."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Consumer, TopicPartition

from somagent.config import Settings
from somagent.events.catalog import MEMORY
from somagent.events.codec import EventCodec
from somagent.stack.process import free_port
from somagent.wait import until


class GatewayProcess:
    """One gateway with its own SOMAGENT_HOME and port, on the session stack's Kafka.

    ``start`` spawns it and returns once ``/healthz`` answers 200; ``kill`` sends
    SIGKILL (no clean-up at all); ``stop`` sends SIGTERM and waits.
    """

    def __init__(self, stack_settings: Settings, home: Path, **update: Any) -> None:
        self.settings = stack_settings.model_copy(
            update={
                "home": home,
                "memory_port": free_port(),
                # A group of its own: gateways of other tests never share its partitions.
                "worker_app_id": f"gw-{uuid.uuid4().hex[:12]}",
                **update,
            }
        )
        self.log_file = home / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.settings.memory_url

    def start(self, timeout_s: float = 120.0) -> None:
        self.settings.home_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.settings.to_env()}
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "somagent.cli", "serve", "memory", "--loglevel", "warning"],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        proc = self.proc

        def healthy() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"gateway exited with {proc.returncode}:\n{self.log_tail()}")
            return httpx.get(f"{self.url}/healthz", timeout=2.0).status_code == 200

        until(healthy, timeout_s=timeout_s, what=f"memory gateway at {self.url}/healthz")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, timeout_s: float = 60.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def memory_events(
    settings: Settings, codec: EventCodec, match: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """Every event on ``memory.events`` up to its current end that ``match`` accepts."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_servers,
                         "group.id": f"test-{uuid.uuid4().hex}", "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(MEMORY, timeout=10).topics[MEMORY].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(MEMORY, p), timeout=10)[1]
                for p in partitions}
        consumer.assign([TopicPartition(MEMORY, p, 0) for p in partitions])
        found: list[dict[str, Any]] = []
        seen = {p: -1 for p in ends}
        deadline = time.monotonic() + 30
        while any(seen[p] < ends[p] - 1 for p in ends) and time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout=0.2):
                if msg.error():
                    continue
                seen[msg.partition()] = msg.offset()
                event = codec.decode(msg.value())
                if match(event):
                    found.append(event)
        return found
    finally:
        consumer.close()
