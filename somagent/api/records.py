"""Where each turn lives in the log: ``turn:{id}`` hashes in Redis.

Written by the edge right after ``TurnRequested`` is acknowledged (so the
partition and offset come from the delivery report) with a long TTL; read by
``GET /v1/turns/{id}/events`` and ``POST /v1/turns/{id}/cancel`` to find the
turn's first record and to check its tenant.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from somagent.limits.exceptions import GuardUnavailable


def turn_key(turn: str) -> str:
    return f"turn:{turn}"


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """A turn's tenant, session, trace, and the position of its ``TurnRequested``.

    ``deadline_at_ms`` is epoch milliseconds (request time + the turn's deadline).
    """

    turn: str
    tenant: str
    session: str
    trace_id: str
    partition: int
    offset: int
    requested_at_ms: int
    deadline_at_ms: int

    def mapping(self) -> dict[str, str | int]:
        return {
            "tenant": self.tenant,
            "session": self.session,
            "trace_id": self.trace_id,
            "partition": self.partition,
            "offset": self.offset,
            "requested_at_ms": self.requested_at_ms,
            "deadline_at_ms": self.deadline_at_ms,
        }


class TurnRecords:
    def __init__(self, redis: Redis[bytes], ttl_s: int) -> None:
        self._redis = redis
        self.ttl_s = ttl_s

    async def put(self, record: TurnRecord) -> None:
        key = turn_key(record.turn)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping=record.mapping())  # type: ignore[arg-type]
                pipe.expire(key, self.ttl_s)
                await pipe.execute()
        except RedisError as exc:
            raise GuardUnavailable(f"writing {key} failed: {exc}") from exc

    async def get(self, turn: str) -> TurnRecord | None:
        key = turn_key(turn)
        try:
            raw = await self._redis.hgetall(key)
        except RedisError as exc:
            raise GuardUnavailable(f"reading {key} failed: {exc}") from exc
        if not raw:
            return None
        f = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()
        }
        return TurnRecord(
            turn=turn,
            tenant=f["tenant"],
            session=f["session"],
            trace_id=f["trace_id"],
            partition=int(f["partition"]),
            offset=int(f["offset"]),
            requested_at_ms=int(f["requested_at_ms"]),
            deadline_at_ms=int(f["deadline_at_ms"]),
        )
