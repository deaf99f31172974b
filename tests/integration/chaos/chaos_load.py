"""A load of turns for the chaos suite: idempotency keys, a side-effecting tool, resumption.

Each lane mints a session and loops: one turn at a time, each under its own
Idempotency-Key, whose text runs the ``python`` tool once; the program appends one
line to ``effects/<key>.log`` (the side effect counted afterwards). A lane never
gives up on a turn it started: refused or failed requests are retried with the
same key (so they join the turn if it was started), and a stream cut by a fault is
resumed with ``GET /v1/turns/{id}/events`` from the last position seen.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from somagent.policy.defaults import DEFAULT_POLICY_HASH

RETRY_S = 0.5


@dataclass
class Outcome:
    key: str
    sent_at: float = field(default_factory=time.monotonic)
    done_at: float | None = None
    turn: str | None = None  # set once a response named the turn (acknowledged)
    done: bool = False
    answered: bool = False
    attempts: int = 0
    resumes: int = 0


@dataclass
class Load:
    """Turns driven against ``url`` by ``lanes`` concurrent clients."""

    url: str
    tenant: str
    api_key: str
    effects: Path
    lanes: int = 4
    outcomes: list[Outcome] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def _text(self, key: str) -> str:
        marker = str(self.effects / f"{key}.log")
        return f"```python\nopen({marker!r}, 'a').write('x\\n')\nprint(6 * 7)\n```"

    async def _mint(self, http: aiohttp.ClientSession) -> tuple[str, str]:
        body = {"tenant": self.tenant, "persona_hash": "sha256-" + "0" * 64,
                "policy_hash": DEFAULT_POLICY_HASH,
                "budgets": {"tokens": 10**9, "tools_per_min": 100_000}}
        while True:
            try:
                async with http.post(f"{self.url}/v1/session/mint", json=body,
                                     headers={"Authorization": f"Bearer {self.api_key}"}) as r:
                    if r.status == 200:
                        minted = await r.json()
                        return str(minted["session_id"]), str(minted["jwt"])
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(RETRY_S)

    async def _read(self, response: aiohttp.ClientResponse, outcome: Outcome) -> str | None:
        """Read SSE until ``done``; the last ``id`` seen (None if none)."""
        last, event = None, ""
        async for raw in response.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("id: "):
                last = line[4:]
            elif line.startswith("event: "):
                event = line[7:]
                outcome.answered |= event == "answer"
            elif line.startswith("data: ") and event == "done":
                outcome.done, outcome.done_at = True, time.monotonic()
                break
        return last

    async def _turn(self, http: aiohttp.ClientSession, session: str, jwt: str) -> None:
        outcome = Outcome(key=str(uuid.uuid4()))
        self.outcomes.append(outcome)
        auth = {"Authorization": f"Bearer {jwt}"}
        body = {"session_id": session, "inputs": {"text": self._text(outcome.key)},
                "allow": {"tools": ["python"], "memory": "none"}}
        last: str | None = None
        while not outcome.done:
            outcome.attempts += 1
            try:
                if outcome.turn is None:  # not acknowledged yet: (re)send under the same key
                    request = http.post(f"{self.url}/v1/turn", json=body,
                                        headers={**auth, "Idempotency-Key": outcome.key})
                else:  # acknowledged, stream cut: resume after the last position seen
                    outcome.resumes += 1
                    headers = {**auth, **({"Last-Event-ID": last} if last else {})}
                    request = http.get(f"{self.url}/v1/turns/{outcome.turn}/events",
                                       headers=headers)
                async with request as r:
                    if r.status == 200:
                        outcome.turn = r.headers.get("X-Turn-Id", outcome.turn)
                        last = await self._read(r, outcome) or last
                    else:
                        await r.read()
            except (aiohttp.ClientError, TimeoutError, ValueError):
                pass
            if not outcome.done:
                await asyncio.sleep(RETRY_S)

    async def _lane(self, http: aiohttp.ClientSession) -> None:
        session, jwt = await self._mint(http)
        while not self.stop.is_set():
            await asyncio.wait_for(self._turn(http, session, jwt), timeout=600)

    async def run(self, *, until: asyncio.Event) -> None:
        """Drive the lanes until ``until`` is set; every started turn is then finished."""
        self.effects.mkdir(parents=True, exist_ok=True)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=60)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            lanes = [asyncio.create_task(self._lane(http)) for _ in range(self.lanes)]
            await until.wait()
            self.stop.set()
            await asyncio.gather(*lanes)

    def effects_of(self, outcome: Outcome) -> int:
        path = self.effects / f"{outcome.key}.log"
        return len(path.read_text().splitlines()) if path.exists() else 0


def summary(load: Load, started_s: float) -> dict[str, Any]:
    """Turns sent / completed / lost / duplicated (side effect run twice)."""
    acknowledged = [o for o in load.outcomes if o.turn is not None]
    return {
        "turns_sent": len(load.outcomes),
        "turns_acknowledged": len(acknowledged),
        "turns_completed": sum(1 for o in load.outcomes if o.done),
        "turns_answered": sum(1 for o in load.outcomes if o.answered),
        "turns_lost": sum(1 for o in acknowledged if not o.done),
        "side_effects_twice": sum(1 for o in load.outcomes if load.effects_of(o) > 1),
        "stream_resumes": sum(o.resumes for o in load.outcomes),
        "retries": sum(o.attempts - 1 for o in load.outcomes),
        "wall_s": round(time.monotonic() - started_s, 1),
    }
