"""The platform's roles for the operator's console: state, consumer lag, metrics.

Reads ``$SOMAGENT_HOME/run/platform.json`` (rewritten every second by the
supervisor, :mod:`somagent.serve.supervisor`) and, for each running instance,
its ``/metrics`` on the health port the file names, summarised with
:func:`somagent.webconsole.histograms.summarise` (every histogram the role exports,
so metrics added by other work appear by themselves). A role that does not
answer within ``timeout_s`` is shown with ``metrics_error`` instead; a missing
or unreadable state file gives ``{"running": False, ...}``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from somagent.config import Settings
from somagent.serve.supervisor import state_path
from somagent.webconsole.histograms import summarise


def read_state(settings: Settings) -> dict[str, Any] | None:
    """The supervisor's last state document, or None when there is none."""
    try:
        body: dict[str, Any] = json.loads(state_path(settings).read_text())
    except (OSError, ValueError):
        return None
    return body


async def _metrics(client: httpx.AsyncClient, health_url: str) -> dict[str, Any]:
    url = health_url.rsplit("/", 1)[0] + "/metrics"
    try:
        reply = await client.get(url)
        reply.raise_for_status()
        return {"histograms": [h.as_dict() for h in summarise(reply.text)]}
    except (httpx.HTTPError, ValueError) as exc:
        return {"histograms": [], "metrics_error": f"{url}: {exc}"}


async def services(settings: Settings, timeout_s: float = 1.0) -> dict[str, Any]:
    """``{"running", "instances": [{name, role, state, restarts, lag, lag_total, histograms}]}``."""
    state = await asyncio.to_thread(read_state, settings)
    if state is None:
        return {"running": False, "instances": [],
                "detail": f"no supervisor state at {state_path(settings)}"}
    rows = list(state.get("instances") or [])
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        scraped = await asyncio.gather(
            *(_metrics(client, str(r.get("health_url", ""))) for r in rows)
        )
    instances = []
    for row, metrics in zip(rows, scraped, strict=True):
        lag = {str(k): int(v) for k, v in dict(row.get("lag") or {}).items()}
        instances.append({
            "name": row.get("name"), "role": row.get("role"), "state": row.get("state"),
            "healthy": bool(row.get("healthy")), "restarts": int(row.get("restarts") or 0),
            "lag": lag, "lag_total": sum(lag.values()), **metrics,
        })
    return {"running": True, "instances": instances}
