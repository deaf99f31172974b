"""Asking a running edge whether it is ready (``GET /readyz``), from outside its process."""

from __future__ import annotations

from typing import Any

import httpx

from somagent.config import Settings


def readiness(settings: Settings, timeout_s: float = 5.0) -> dict[str, Any] | None:
    """The edge's ``/readyz`` JSON (any status), or None when nothing answers."""
    try:
        response = httpx.get(f"{settings.api_url}/readyz", timeout=timeout_s)
    except httpx.HTTPError:
        return None
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        return None
    body["http_status"] = response.status_code
    return body
