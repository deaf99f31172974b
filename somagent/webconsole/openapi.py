"""The ``/console`` part of the edge's OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from somagent.webconsole.routes import LOGIN_REQUEST
from somagent.webconsole.snapshot import WINDOWS_S

Problems = Callable[..., dict[str, Any]]
_AUTH = ("unauthorized", "invalid-credential")
_SECURITY: list[dict[str, list[str]]] = [{"console": []}, {"operator": []}, {"apiKey": []}]
_OBJECT = {"type": "object"}
_WINDOW = {"name": "window_s", "in": "query", "required": False,
           "schema": {"type": "integer", "enum": list(WINDOWS_S), "default": 3600}}


def _json(description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _OBJECT}}}


def paths(problems: Problems) -> dict[str, Any]:
    """The console's paths; ``problems(*slugs)`` builds the problem responses."""
    html = {"description": "The console page",
            "content": {"text/html": {"schema": {"type": "string"}}}}
    asset = {"description": "A script, style sheet or the charting library",
             "content": {"text/javascript": {"schema": {"type": "string"}},
                         "text/css": {"schema": {"type": "string"}},
                         "text/html": {"schema": {"type": "string"}},
                         "text/plain": {"schema": {"type": "string"}}}}
    sse = {"description": "event: snapshot (the snapshot document) every refresh_s; "
           "event: logout when the credential stops being valid",
           "content": {"text/event-stream": {"schema": {"type": "string"}}}}
    return {
        "/console": {"get": {"summary": "The live console (operators and tenant admins)",
                             "security": [], "responses": {"200": html}}},
        "/console/static/{name}": {"get": {
            "summary": "The console's static files", "security": [],
            "parameters": [{"name": "name", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": asset, **problems("not-found")}}},
        "/console/login": {"post": {
            "summary": "Log in with the operator credential or a tenant API key (sets a cookie)",
            "security": [],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": LOGIN_REQUEST}}},
            "responses": {"200": _json("Logged in (Set-Cookie: somagent_console)"),
                          **problems("invalid-credential", "malformed-json",
                                     "unsupported-media-type", "body-too-large",
                                     "invalid-body")}}},
        "/console/logout": {"post": {"summary": "Clear the console cookie", "security": [],
                                     "responses": {"204": {"description": "Logged out"}}}},
        "/console/api/whoami": {"get": {"summary": "The console's viewer",
                                        "security": _SECURITY,
                                        "responses": {"200": _json(), **problems(*_AUTH)}}},
        "/console/api/snapshot": {"get": {
            "summary": "Every console panel once", "security": _SECURITY,
            "parameters": [_WINDOW],
            "responses": {"200": _json(), **problems(*_AUTH, "invalid-query")}}},
        "/console/api/stream": {"get": {
            "summary": "Every console panel, again every refresh_s (SSE)",
            "security": _SECURITY,
            "parameters": [_WINDOW, {"name": "refresh_s", "in": "query", "required": False,
                                     "schema": {"type": "integer", "minimum": 1,
                                                "maximum": 60, "default": 5}}],
            "responses": {"200": sse, **problems(*_AUTH, "invalid-query")}}},
        "/console/api/turns/{turn_id}/trail": {"get": {
            "summary": "A turn's audit trail (every event, in order; somagent audit)",
            "security": _SECURITY,
            "parameters": [{"name": "turn_id", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}}],
            "responses": {"200": _json(), **problems(*_AUTH, "turn-not-found", "not-found",
                                                     "dependency-unavailable")}}},
    }
