"""What the edge holds for jobs: the Temporal client, a reader of ``jobs.events``, and
each job's record in Redis (``job:{id}``).

Opened on the first jobs request (:func:`jobs_edge`), so an edge starts and serves
turns while Temporal is down; jobs requests then answer 503 ``jobs-unavailable``. The
record is written right after ``JobSubmitted`` is acknowledged: the job's tenant (for
tenancy checks) and where its events start (partition, offset).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from temporalio.client import Client

from somagent.api.context import EdgeContext
from somagent.api.problems import Problem
from somagent.events.catalog import JOBS
from somagent.jobs.exceptions import JobsUnavailable
from somagent.jobs.keylog import KeyedLog
from somagent.jobs.temporal import connect
from somagent.limits.exceptions import GuardUnavailable


@dataclass(frozen=True)
class JobRecord:
    """A job's tenant, who submitted it, its trace, and where its ``JobSubmitted`` is."""

    job_id: str
    tenant: str
    submitted_by: str
    trace_id: str
    partition: int
    offset: int
    submitted_us: int


def job_key(job_id: str) -> str:
    return f"job:{job_id}"


T = TypeVar("T")


class JobsEdge:
    """Log reads run on a pool of their own (one thread per reader), so long-polling job
    streams never take the threads other edge work needs. Each open job log stream
    holds one of ``readers`` while it waits (at most a second at a time); more streams
    than that take turns."""

    def __init__(self, ctx: EdgeContext, readers: int = 32) -> None:
        self.ctx = ctx
        self.log = KeyedLog(ctx.settings, ctx.codec, JOBS, readers=readers)
        self.pool = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="edge-jobs-log")
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the log pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, lambda: fn(*args, **kwargs))

    @property
    def redis(self) -> Redis[bytes]:
        return self.ctx.redis

    async def client(self) -> Client:
        """The Temporal client (connected once; 503 ``jobs-unavailable`` when it cannot)."""
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    try:
                        self._client = await connect(self.ctx.settings, role="edge",
                                                     timeout_s=5.0)
                    except JobsUnavailable as exc:
                        raise unavailable(str(exc)) from exc
        return self._client

    async def put(self, record: JobRecord) -> None:
        key = job_key(record.job_id)
        try:
            await self.redis.set(key, json.dumps(asdict(record)),
                                 ex=self.ctx.edge.turn_record_ttl_s)
        except RedisError as exc:
            raise GuardUnavailable(f"writing {key} failed: {exc}") from exc

    async def get(self, job_id: str) -> JobRecord | None:
        key = job_key(job_id)
        try:
            raw = await self.redis.get(key)
        except RedisError as exc:
            raise GuardUnavailable(f"reading {key} failed: {exc}") from exc
        return None if raw is None else JobRecord(**json.loads(raw))

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.log.close()


def unavailable(detail: str) -> Problem:
    return Problem("jobs-unavailable", detail, headers={"Retry-After": "2"}, retry_after_s=2)


async def jobs_edge(app: Starlette) -> JobsEdge:
    """The app's :class:`JobsEdge`, created on first use."""
    jobs: JobsEdge | None = getattr(app.state, "jobs", None)
    if jobs is None:
        ctx: EdgeContext = app.state.edge
        jobs = await asyncio.to_thread(JobsEdge, ctx)
        existing: JobsEdge | None = getattr(app.state, "jobs", None)
        if existing is not None:  # another request got there first
            await asyncio.to_thread(jobs.close)
            return existing
        app.state.jobs = jobs
    return jobs


async def close_jobs(app: Starlette) -> None:
    jobs: JobsEdge | None = getattr(app.state, "jobs", None)
    if jobs is not None:
        await asyncio.to_thread(jobs.close)


def as_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
