"""The codec's field sealer: PII fields sealed on encode, opened on decode (opt-in).

Switched on by ``SOMAGENT_SEAL_PII=true`` (off by default). Then every codec made by
:func:`somagent.kafka.schema_log.kafka_codec` seals the fields of
:data:`somagent.erasure.fields.PII_FIELDS` with the tenant's live data key when it
encodes; only the codecs of the processes that need the text (the edge, the turn
workers, the Memory Gateway) also open them when they decode. Projectors, replay
and audit read the sealed values as they are on the log, so a projection holds
ciphertext, and replay rebuilds exactly what the live projector wrote, before and
after an erasure.

Keys come from Postgres (:class:`somagent.erasure.keys.TenantKeys`) through one
private thread with its own event loop and pool; the codec's callers are sync, so
a cache miss blocks the caller for one Postgres round trip (bounded by
``timeout_s``). Live keys are re-read every ``refresh_s`` seconds (a key destroyed
by ``DELETE /v1/tenants/{id}/data`` stops being used for new data within that
time; such data is then unreadable, which errs toward erasure); a destroyed key is
remembered as destroyed for good, an existing one for ``refresh_s``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import asyncpg

from somagent.config import Settings
from somagent.erasure.exceptions import KeyDestroyed, KeyStoreUnavailable
from somagent.erasure.fields import open_payload, seal_payload
from somagent.erasure.keys import TenantKeys
from somagent.erasure.master import master_key

T = TypeVar("T")


class _KeyThread:
    """A daemon thread running an event loop that owns the key store's pool."""

    def __init__(self, dsn: str, master: bytes) -> None:
        self._dsn, self._master = dsn, master
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="erasure-keys")
        self._thread.start()
        self._keys: TenantKeys | None = None
        self._pool: asyncpg.Pool | None = None

    def close(self, timeout_s: float = 5.0) -> None:
        """Close the pool and stop the thread (the sealer cannot be used afterwards)."""
        async def shut() -> None:
            if self._pool is not None:
                await self._pool.close()

        try:
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout_s)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout_s)

    def call(self, fn: Callable[[TenantKeys], Awaitable[T]], timeout_s: float) -> T:
        async def run() -> T:
            if self._keys is None:
                self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=2)
                self._keys = TenantKeys(self._pool, self._master)
            return await fn(self._keys)

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        try:
            return future.result(timeout_s)
        except TimeoutError as exc:
            future.cancel()
            raise KeyStoreUnavailable(f"the key store did not answer in {timeout_s} s") from exc


class FieldSealer:
    """Implements the codec's ``FieldSealer`` protocol (see the module doc)."""

    def __init__(self, settings: Settings, *, open_fields: bool, refresh_s: float = 5.0,
                 timeout_s: float = 5.0) -> None:
        self.open_fields = open_fields
        self.refresh_s, self.timeout_s = refresh_s, timeout_s
        self._keys = _KeyThread(settings.postgres_dsn, master_key(settings.home_dir))
        self._live: dict[str, tuple[str, bytes, float]] = {}
        self._by_id: dict[tuple[str, str], tuple[bytes | None, float]] = {}
        self._lock = threading.Lock()

    def _live_key(self, tenant: str) -> tuple[str, bytes]:
        with self._lock:
            cached = self._live.get(tenant)
        if cached is not None and time.monotonic() - cached[2] < self.refresh_s:
            return cached[0], cached[1]
        key_id, key = self._keys.call(lambda keys: keys.live(tenant), self.timeout_s)
        with self._lock:
            self._live[tenant] = (key_id, key, time.monotonic())
        return key_id, key

    def _key_by_id(self, tenant: str, key_id: str) -> bytes | None:
        with self._lock:
            cached = self._by_id.get((tenant, key_id))
        if cached is not None and (cached[0] is None
                                   or time.monotonic() - cached[1] < self.refresh_s):
            return cached[0]

        async def fetch(keys: TenantKeys) -> bytes | None:
            try:
                return await keys.by_id(tenant, key_id)
            except KeyDestroyed:
                return None

        key = self._keys.call(fetch, self.timeout_s)
        with self._lock:
            self._by_id[(tenant, key_id)] = (key, time.monotonic())
        return key

    def close(self) -> None:
        """Release the key store's connections (processes that exit need not call it)."""
        self._keys.close()

    def seal(self, kind: str, tenant: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        return seal_payload(kind, tenant, payload, self._live_key)

    def open(self, kind: str, tenant: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        return open_payload(kind, tenant, payload, self._key_by_id)


_SEALERS: dict[tuple[str, bool], FieldSealer] = {}
_SEALERS_LOCK = threading.Lock()


def sealer_for(settings: Settings, *, open_fields: bool) -> FieldSealer | None:
    """The process's sealer for ``settings`` (one per database and mode), or None when
    ``settings.seal_pii`` is off."""
    if not settings.seal_pii:
        return None
    with _SEALERS_LOCK:
        key = (settings.postgres_dsn, open_fields)
        if key not in _SEALERS:
            _SEALERS[key] = FieldSealer(settings, open_fields=open_fields)
        return _SEALERS[key]
