"""Which policy a session was minted under: ``policy_hash`` in its ``sess:{session}`` hash.

Mint writes the field (:mod:`somagent.api.routes_sessions`); it never changes for a
session, so a found hash is kept in process (bounded). A session hash without the
field (a job's own session, opened by its turn steps) is under the built-in default
policy; a session with no hash at all (expired, unknown) has no policy: gates refuse.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Final

from somagent.limits.budget import session_key
from somagent.policy.defaults import DEFAULT_POLICY_HASH

MAX_KEPT: Final = 10_000


class SessionPolicies:
    """Over a ``redis.asyncio`` client."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._known: OrderedDict[str, str] = OrderedDict()

    async def policy_of(self, session: str | None) -> str | None:
        """The session's policy hash; the default policy for ``None`` (an internal call
        outside any session) and for a session hash without one; None when the session
        is unknown or expired."""
        if session is None:
            return DEFAULT_POLICY_HASH
        known = self._known.get(session)
        if known is not None:
            return known
        key = session_key(session)
        values = await self.redis.hmget(key, ["policy_hash", "token_budget"])
        raw, budget = values[0], values[1]
        if raw is None:
            return DEFAULT_POLICY_HASH if budget is not None else None
        hash_ = raw.decode() if isinstance(raw, bytes) else str(raw)
        self._known[session] = hash_
        while len(self._known) > MAX_KEPT:
            self._known.popitem(last=False)
        return hash_
