"""The edge: Starlette app, auth, sessions, turn SSE, memory, usage, health.

``somagent.api.app.create_app(settings)`` builds the app; ``somagent serve api``
runs it under uvicorn. The edge never runs turn logic: it appends
``TurnRequested`` and streams what the turn engine appends (see docs/api.md).
"""
