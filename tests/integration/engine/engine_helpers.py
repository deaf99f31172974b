"""A real worker subprocess and a reader of one turn's events, for the engine tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration.roles import RoleProcess, commit_at_end

from somagent.config import Settings
from somagent.events.catalog import CONVERSATION, MEMORY
from somagent.events.codec import EventCodec
from somagent.events.envelope import make_event
from somagent.exceptions import DeadlineExceeded
from somagent.kafka.admin import partitions_of
from somagent.kafka.producer import EventProducer
from somagent.kafka.reader import LogReader
from somagent.kafka.schema_log import kafka_codec
from somagent.limits.budget import session_key
from somagent.policy.defaults import DEFAULT_POLICY_HASH
from somagent.wait import until


class WorkerProcess(RoleProcess):
    """``somagent serve worker`` as a child process of the stack, in its own consumer group.

    It reaches the stack's Memory Gateway and analytics service like a platform
    worker (the stack's home holds their service credential); ``home`` keeps its log.
    The group's positions are committed at the log's end before it first starts
    (:func:`commit_at_end`): turns other tests appended are not driven again. ``role``
    may name the group as ``{group}``.
    """

    def __init__(
        self,
        settings: Settings,
        home: Path,
        *,
        role: tuple[str, ...] = ("serve", "worker"),
        topics: tuple[str, ...] = (CONVERSATION, MEMORY),
    ) -> None:
        self.group = f"engine-test-{uuid.uuid4().hex[:8]}"
        argv = [part.format(group=self.group) for part in role]
        super().__init__(settings, home, [*argv, "--loglevel", "info"],
                         env={"SOMAGENT_WORKER_APP_ID": self.group}, log_name="worker.log")
        self.topics = topics
        self._seeded = False

    def start(self) -> WorkerProcess:
        if not self._seeded:
            commit_at_end(self.settings, self.group, self.topics)
            self._seeded = True
        super().start()
        return self


def grant_default_policy(settings: Settings, session: str) -> None:
    """What mint writes for the session's policy (``sess:{session}`` ``policy_hash``): these
    tests append ``TurnRequested`` themselves, so their sessions get the default policy."""
    import redis

    client = redis.Redis.from_url(settings.redis_dsn)
    try:
        client.hset(session_key(session), mapping={"policy_hash": DEFAULT_POLICY_HASH})
        client.expire(session_key(session), 24 * 3600)
    finally:
        client.close()


@dataclass
class TurnHandle:
    """A requested turn and where its ``TurnRequested`` landed."""

    turn_id: str
    session_id: str
    tenant: str
    partition: int
    offset: int
    trace_id: str


@dataclass
class Client:
    """Appends turn requests and reads a turn's events back from the log."""

    settings: Settings
    codec: EventCodec = field(init=False)
    producer: EventProducer = field(init=False)

    def __post_init__(self) -> None:
        self.codec = kafka_codec(self.settings)
        self.producer = EventProducer(self.settings, self.codec)

    def request(
        self,
        text: str,
        *,
        tools: tuple[str, ...] = (),
        memory: str = "none",
        deadline_ms: int = 60_000,
        tenant: str | None = None,
        session: str | None = None,
        idempotency_key: str | None = None,
        grant_policy: bool = True,
    ) -> TurnHandle:
        """Append a ``TurnRequested`` (the edge's part); ``grant_policy`` first writes the
        session's policy to Redis as mint would (off when the test has written it)."""
        turn, sess = str(uuid.uuid4()), session or str(uuid.uuid4())
        tenant = tenant or str(uuid.uuid4())
        if grant_policy:
            grant_default_policy(self.settings, sess)
        event = make_event(
            "TurnRequested",
            {
                "turn_id": turn,
                "session_id": sess,
                "text": text,
                "allow_tools": list(tools),
                "memory_mode": memory,
                "idempotency_key": idempotency_key,
                "deadline_ms": deadline_ms,
                "capsule_ids": [],
            },
            tenant=tenant,
            producer="test",
            session=sess,
            turn=turn,
        )
        where: list[tuple[int, int]] = []
        self.producer.send(
            event, on_delivery=lambda e, m: where.append((m.partition(), m.offset()))
        )
        self.producer.flush()
        return TurnHandle(turn, sess, tenant, where[0][0], where[0][1], str(event["trace_id"]))

    def cancel(self, handle: TurnHandle) -> None:
        event = make_event(
            "TurnCancelRequested",
            {"reason": "test"},
            tenant=handle.tenant,
            producer="test",
            session=handle.session_id,
            turn=handle.turn_id,
            trace_id=handle.trace_id,
        )
        self.producer.send(event)
        self.producer.flush()

    def events(
        self, handle: TurnHandle, *, until_type: str = "TurnCompleted", timeout_s: float = 60.0
    ) -> list[dict[str, Any]]:
        """The engine's events of the turn (deduped by event id, in log order) up to
        ``until_type``; the request itself is left out."""
        where = (CONVERSATION, handle.partition)
        reader = LogReader(
            self.settings, [where], {where: handle.offset}, name=f"t-{uuid.uuid4()}", config={}
        )
        done, seen = self._read(
            reader,
            lambda e: str(e.get("turn")) == handle.turn_id and e["type"] != "TurnRequested",
            lambda found: any(e["type"] == until_type for e in found),
            timeout_s,
        )
        if done:
            return seen
        raise DeadlineExceeded(
            f"turn {handle.turn_id}: no {until_type} within {timeout_s}s; saw "
            f"{[e['type'] for e in seen]}"
        )

    def _read(
        self,
        reader: LogReader,
        keep: Callable[[dict[str, Any]], bool],
        done: Callable[[list[dict[str, Any]]], bool],
        timeout_s: float,
    ) -> tuple[bool, list[dict[str, Any]]]:
        """Read with ``reader`` (closed afterwards) until ``done`` holds for the events ``keep``
        accepted so far (deduped by event id, in log order) or ``timeout_s`` passes."""
        found: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                for msg in reader.messages(500, 0.5, first=True):
                    event = self.codec.decode(msg.value())
                    if keep(event):
                        found.setdefault(str(event["event_id"]), event)
                        if done(list(found.values())):
                            return True, list(found.values())
        finally:
            reader.close()
        return False, list(found.values())

    def events_on(
        self,
        topic: str,
        handle: TurnHandle,
        *,
        until_type: str,
        count: int = 1,
        timeout_s: float = 60.0,
    ) -> list[dict[str, Any]]:
        """Events of ``handle``'s turn (or tenant) on another topic, from its beginning."""
        parts = partitions_of(self.settings, [topic])
        reader = LogReader(self.settings, parts, {}, name=f"t-{uuid.uuid4()}", config={})
        done, found = self._read(
            reader,
            lambda e: str(e.get("turn")) == handle.turn_id or str(e["tenant"]) == handle.tenant,
            lambda found: sum(e["type"] == until_type for e in found) >= count,
            timeout_s,
        )
        if done:
            return found
        raise DeadlineExceeded(f"turn {handle.turn_id}: fewer than {count} {until_type} on {topic}")

    def close(self) -> None:
        self.producer.close()


def wait_for_worker(client: Client, worker: WorkerProcess, timeout_s: float = 120.0) -> None:
    """A probe turn completes: the worker has joined the group and owns the partitions.

    A new probe is sent on each try: a worker starting at the log's end does not
    see requests appended before it was assigned its partitions.
    """

    def done() -> bool:
        if worker.proc is not None and worker.proc.poll() is not None:
            raise AssertionError(f"worker exited:\n{worker.tail()}")
        handle = client.request("What is 1 + 1?", tools=("calc",))
        try:
            return bool(client.events(handle, timeout_s=5.0))
        except DeadlineExceeded:
            return False

    try:
        until(done, timeout_s=timeout_s, what="the worker to finish a probe turn")
    except DeadlineExceeded as exc:
        raise AssertionError(f"{exc}\n{worker.tail()}") from exc
