"""The console's pages and endpoints on the edge.

==================================== =================================================
``GET /console``                      the page (logs in, then draws every panel)
``GET /console/static/{name}``        its script, style and the charting library
``POST /console/login``               ``{"credential": …}`` → the console cookie
``POST /console/logout``              clears the cookie (204)
``GET /console/api/whoami``           the viewer
``GET /console/api/snapshot``         every panel once (``?window_s=``)
``GET /console/api/stream``           SSE: ``event: snapshot`` every ``refresh_s``
``GET /console/api/turns/{id}/trail`` a turn's audit trail (``somagent audit``)
==================================== =================================================

The cookie is HttpOnly, ``SameSite=Strict``, ``Path=/console`` (``Secure`` over
HTTPS). Bad input is a problem+json (400 ``invalid-query``, 401, 404) and changes
nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse

from somagent.api.auth import canonical_uuid
from somagent.api.bodies import read_json
from somagent.api.call import Call, endpoint
from somagent.api.problems import Problem
from somagent.artifacts.catalog import ranking
from somagent.exceptions import SomagentError
from somagent.projections.audit import trail_from_clickhouse
from somagent.webconsole.access import console_key, recheck, viewer_for_credential, viewer_of
from somagent.webconsole.exceptions import ConsoleError
from somagent.webconsole.snapshot import WINDOWS_S, clickhouse_for, snapshot
from somagent.webconsole.viewer import COOKIE, COOKIE_TTL_S, Viewer, sign

STATIC = Path(__file__).resolve().parent / "static"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".md": "text/plain"}
LOGIN_REQUEST: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["credential"],
    "properties": {"credential": {"type": "string", "minLength": 1, "maxLength": 512}},
}
DEFAULT_WINDOW_S = 3600
DEFAULT_REFRESH_S = 5.0


@endpoint("/console")
async def page(request: Request, call: Call) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html",
                        headers={"Cache-Control": "no-store"})


@endpoint("/console/static/{name}")
async def static(request: Request, call: Call) -> Response:
    name = request.path_params["name"]
    for folder in (STATIC, STATIC / "vendor"):
        path = folder / name
        if _NAME.match(name) and path.is_file():
            return FileResponse(path, media_type=_TYPES.get(path.suffix, "text/plain"))
    missing = " (build it: make venv, or infra/console-assets.sh)" if "chart" in name else ""
    raise Problem("not-found", f"no console asset {name!r}{missing}")


@endpoint("/console/login")
async def login(request: Request, call: Call) -> Response:
    body = await read_json(request, LOGIN_REQUEST, call.ctx.edge.max_body_bytes)
    viewer = await viewer_for_credential(call, body["credential"])
    response = JSONResponse({"viewer": viewer.as_dict()})
    response.set_cookie(COOKIE, sign(viewer, console_key(call), int(time.time())),
                        max_age=COOKIE_TTL_S, path="/console", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


@endpoint("/console/logout")
async def logout(request: Request, call: Call) -> Response:
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict")
    return response


@endpoint("/console/api/whoami")
async def whoami(request: Request, call: Call) -> Response:
    return JSONResponse({"viewer": (await viewer_of(request, call)).as_dict()})


def _query(request: Request, allowed: set[str]) -> tuple[int, float]:
    unknown = set(request.query_params) - allowed
    if unknown:
        raise Problem("invalid-query", f"unknown query parameters {sorted(unknown)}")
    raw = request.query_params.get("window_s", str(DEFAULT_WINDOW_S))
    if not raw.isdigit() or int(raw) not in WINDOWS_S:
        raise Problem("invalid-query", f"window_s must be one of {WINDOWS_S}, got {raw!r}")
    refresh = request.query_params.get("refresh_s", str(int(DEFAULT_REFRESH_S)))
    if not refresh.isdigit() or not 1 <= int(refresh) <= 60:
        raise Problem("invalid-query", f"refresh_s must be an integer 1..60, got {refresh!r}")
    return int(raw), float(refresh)


async def _document(call: Call, viewer: Viewer, window_s: int) -> dict[str, Any]:
    async def ranked() -> list[dict[str, Any]]:
        try:
            found = await ranking(call, window_s)
        except Problem as exc:  # the catalog's 503: one panel down, not the console
            raise ConsoleError(f"marketplace ranking: {exc.detail}") from exc
        return [dict(s.as_dict(), rank=i + 1) for i, s in enumerate(found)]

    return await snapshot(call.ctx.settings, call.ctx.pg, viewer, window_s, ranked)


@endpoint("/console/api/snapshot")
async def snapshot_once(request: Request, call: Call) -> Response:
    viewer = await viewer_of(request, call)
    window_s, _ = _query(request, {"window_s"})
    return JSONResponse(await _document(call, viewer, window_s),
                        headers={"Cache-Control": "no-store"})


@endpoint("/console/api/stream")
async def stream(request: Request, call: Call) -> Response:
    viewer = await viewer_of(request, call)
    window_s, refresh_s = _query(request, {"window_s", "refresh_s"})

    async def events() -> AsyncIterator[bytes]:
        yield f"retry: {int(refresh_s * 1000)}\n\n".encode()
        while True:
            if not await recheck(call, viewer):
                yield b"event: logout\ndata: {}\n\n"
                return
            doc = await _document(call, viewer, window_s)
            data = json.dumps(doc, separators=(",", ":"))
            yield f"event: snapshot\nid: {doc['as_of_us']}\ndata: {data}\n\n".encode()
            await asyncio.sleep(refresh_s)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@endpoint("/console/api/turns/{turn_id}/trail")
async def turn_trail(request: Request, call: Call) -> Response:
    viewer = await viewer_of(request, call)
    turn = canonical_uuid(request.path_params["turn_id"], "path")

    def read() -> list[dict[str, Any]]:
        ch = clickhouse_for(call.ctx.settings, viewer)
        try:
            return trail_from_clickhouse(ch, turn=turn)
        finally:
            ch.close()

    try:
        events = await asyncio.to_thread(read)
    except (SomagentError, httpx.HTTPError) as exc:
        raise Problem("dependency-unavailable", f"ClickHouse (analytics) failed: {exc}",
                      headers={"Retry-After": "1"}, retry_after_s=1) from exc
    if not events:
        raise Problem("turn-not-found", f"turn {turn} has no events visible to this viewer")
    return JSONResponse({"turn": turn, "events": events})
