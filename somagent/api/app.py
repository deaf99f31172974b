"""The edge's app factory: ``create_app(settings) -> Starlette``.

No module-level state: every client, guard and metric lives in the app's
:class:`~somagent.api.context.EdgeContext` (``app.state.edge``), opened in the
lifespan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from somagent.api import routes_health as health
from somagent.api import routes_policies as policies
from somagent.api.call import trace_id_of
from somagent.api.context import EdgeContext
from somagent.api.jobs_edge import close_jobs
from somagent.api.problems import Problem
from somagent.api.routes_brain import evaluate as brain_evaluate
from somagent.api.routes_brain import feedback as brain_feedback
from somagent.api.routes_jobs import (
    approve_step,
    cancel_job,
    get_job,
    job_logs,
    list_jobs,
    plan_job,
    post_job,
)
from somagent.api.routes_memory import recall, remember
from somagent.api.routes_sessions import mint_session
from somagent.api.routes_tenants import erase_tenant_data
from somagent.api.routes_turns import cancel_turn, post_turn, turn_events
from somagent.api.routes_usage import usage
from somagent.api.routes_ws import turn_ws, turn_ws_http
from somagent.api.settings import EdgeSettings
from somagent.artifacts import routes_agents as agents
from somagent.artifacts.routes_capsules import capsule_detail, upload_capsule
from somagent.config import Settings
from somagent.webconsole import routes as console


async def _jobs(request: Request) -> Response:
    """``/v1/jobs``: one route for both methods, so a 405 lists both in ``Allow``."""
    handler = list_jobs if request.method == "GET" else post_job
    response: Response = await handler(request)
    return response


ROUTES: list[Route | WebSocketRoute] = [
    Route("/v1/session/mint", mint_session, methods=["POST"]),
    Route("/v1/turn", post_turn, methods=["POST"]),
    Route("/v1/turns/{turn_id}/events", turn_events, methods=["GET"]),
    Route("/v1/turns/{turn_id}/cancel", cancel_turn, methods=["POST"]),
    WebSocketRoute("/v1/turn/ws", turn_ws),  # issue 18: turns over a WebSocket
    Route("/v1/turn/ws", turn_ws_http, methods=["GET"]),  # plain HTTP: 426
    Route("/v1/memory/recall", recall, methods=["POST"]),
    Route("/v1/memory/remember", remember, methods=["POST"]),
    Route("/v1/brain/evaluate", brain_evaluate, methods=["POST"]),
    Route("/v1/brain/feedback", brain_feedback, methods=["POST"]),
    Route("/v1/usage", usage, methods=["GET"]),
    Route("/v1/jobs", _jobs, methods=["GET", "POST"]),
    Route("/v1/jobs/plan", plan_job, methods=["POST"]),
    Route("/v1/jobs/{job_id:uuid}", get_job, methods=["GET"]),
    Route("/v1/jobs/{job_id:uuid}/logs", job_logs, methods=["GET"]),
    Route("/v1/jobs/{job_id:uuid}/approvals/{step}", approve_step, methods=["POST"]),
    Route("/v1/jobs/{job_id:uuid}/cancel", cancel_job, methods=["POST"]),
    # issue 15: artifacts (memory capsules, the agent marketplace, signing keys)
    Route("/v1/keys", agents.keys, methods=["GET", "POST"]),
    Route("/v1/memory/capsule/upload", upload_capsule, methods=["POST"]),
    Route("/v1/memory/capsule/{capsule_id}", capsule_detail, methods=["GET", "DELETE"]),
    Route("/v1/agents", agents.list_agents, methods=["GET"]),
    Route("/v1/agents/publish", agents.publish, methods=["POST"]),
    Route("/v1/agents/{agent_id}", agents.agent_detail, methods=["GET"]),
    Route("/v1/agents/{agent_id}/install", agents.install, methods=["POST"]),
    Route("/v1/agents/{agent_id}/update", agents.update, methods=["POST"]),
    Route("/v1/agents/{agent_id}/uninstall", agents.uninstall, methods=["POST"]),
    Route("/v1/agents/{agent_id}/revoke", agents.revoke, methods=["POST"]),
    # issue 16: the constitution (policies by hash, k-of-n activation)
    Route("/v1/policies", policies.register_policy, methods=["POST"]),
    Route("/v1/policies/{policy_hash}", policies.policy_detail, methods=["GET"]),
    Route("/v1/policies/{policy_hash}/signatures", policies.sign_policy, methods=["POST"]),
    Route("/v1/policies/{policy_hash}/revoke", policies.revoke_policy, methods=["POST"]),
    Route("/v1/tenants/{tenant_id}/data", erase_tenant_data, methods=["DELETE"]),
    # issue 18: the live console
    Route("/console", console.page, methods=["GET"]),
    Route("/console/static/{name}", console.static, methods=["GET"]),
    Route("/console/login", console.login, methods=["POST"]),
    Route("/console/logout", console.logout, methods=["POST"]),
    Route("/console/api/whoami", console.whoami, methods=["GET"]),
    Route("/console/api/snapshot", console.snapshot_once, methods=["GET"]),
    Route("/console/api/stream", console.stream, methods=["GET"]),
    Route("/console/api/turns/{turn_id}/trail", console.turn_trail, methods=["GET"]),
    Route("/healthz", health.healthz, methods=["GET"]),
    Route("/readyz", health.readyz, methods=["GET"]),
    Route("/metrics", health.metrics, methods=["GET"]),
    Route("/openapi.json", health.openapi, methods=["GET"]),
    Route("/.well-known/jwks.json", health.jwks, methods=["GET"]),
]


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    slug = {404: "not-found", 405: "method-not-allowed"}.get(status, "internal")
    response = Problem(slug, f"{request.method} {request.url.path}").response(
        request.url.path, trace_id_of(request)
    )
    if isinstance(exc, HTTPException) and exc.headers:  # 405 carries Allow (RFC 9110)
        response.headers.update(exc.headers)
    return response


def create_app(settings: Settings, edge: EdgeSettings | None = None) -> Starlette:
    """A new edge app for ``settings``; ``edge`` defaults to ``SOMAGENT_EDGE_*``."""
    ctx = EdgeContext(settings, edge or EdgeSettings())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await ctx.start()
        try:
            yield
        finally:
            await close_jobs(app)
            await ctx.close()

    app = Starlette(
        routes=ROUTES,
        lifespan=lifespan,
        exception_handlers={404: _http_error, 405: _http_error, 500: _http_error},
    )
    app.state.edge = ctx
    return app
