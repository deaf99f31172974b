"""The ``/v1/jobs`` part of the OpenAPI document: paths and the ``JobSpec`` schema (the
same JSON Schema the edge checks specs with, :data:`somagent.jobs.schema.JOB_SPEC`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from somagent.jobs.schema import APPROVAL_REQUEST, JOB_CANCEL_REQUEST, JOB_SPEC, PLAN_REQUEST

Problems = Callable[..., dict[str, Any]]
_TOKEN = ("unauthorized", "invalid-token", "token-expired")
_BODY = ("malformed-json", "unsupported-media-type", "body-too-large", "invalid-body")
_ID = {"name": "job_id", "in": "path", "required": True,
       "schema": {"type": "string", "format": "uuid"}}
_SPEC_REF = {"$ref": "#/components/schemas/JobSpec"}
_OBJECT = {"type": "object"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def job_paths(problems: Problems, last_event_id: dict[str, Any]) -> dict[str, Any]:
    """The jobs paths; ``problems(*slugs)`` builds the problem responses."""
    submit = {"type": "object", "additionalProperties": False, "required": ["spec"],
              "properties": {"spec": _SPEC_REF}}
    return {
        "/v1/jobs": {
            "post": {
                "summary": "Start a job (a DAG of turns, tool calls, approvals, sub-jobs)",
                "security": [{"session": []}],
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                "schema": {"type": "string", "minLength": 1,
                                           "maxLength": 255}}],
                "requestBody": _body(submit),
                "responses": {"201": _json(_OBJECT, "Started (Location: /v1/jobs/{id})"),
                              "200": _json(_OBJECT, "Idempotent replay of the same job"),
                              **problems(*_TOKEN, *_BODY, "invalid-job-spec",
                                         "idempotency-key-reused", "jobs-unavailable",
                                         "dependency-unavailable", "rate-limited")}},
            "get": {
                "summary": "The calling tenant's jobs, newest first (the Postgres read model)",
                "security": [{"session": []}],
                "parameters": [
                    {"name": "status", "in": "query", "required": False,
                     "schema": {"enum": ["running", "completed", "failed", "cancelled"]}},
                    {"name": "limit", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": 500}}],
                "responses": {"200": _json(_OBJECT), **problems(*_TOKEN, "invalid-query")}},
        },
        "/v1/jobs/plan": {"post": {
            "summary": "Turn a roadmap (phases, sprints, items) into a job spec",
            "security": [{"session": []}], "requestBody": _body(PLAN_REQUEST),
            "responses": {"200": _json({"type": "object", "properties": {"spec": _SPEC_REF}}),
                          **problems(*_TOKEN, *_BODY, "invalid-roadmap")}}},
        "/v1/jobs/{job_id}": {"get": {
            "summary": "Every step's status, timings, outputs, approvals; the job's end",
            "security": [{"session": []}], "parameters": [_ID],
            "responses": {"200": _json(_OBJECT), **problems(*_TOKEN, "job-not-found")}}},
        "/v1/jobs/{job_id}/logs": {"get": {
            "summary": "The job's events as SSE (id = partition-offset; resumable)",
            "security": [{"session": []}], "parameters": [_ID, last_event_id],
            "responses": {"200": {"description": "text/event-stream of job events", "content": {
                "text/event-stream": {"schema": {"type": "string"}}}},
                **problems(*_TOKEN, "job-not-found", "bad-last-event-id")}}},
        "/v1/jobs/{job_id}/approvals/{step}": {"post": {
            "summary": "Approve or reject a waiting approval step (principal recorded)",
            "security": [{"session": []}],
            "parameters": [_ID, {"name": "step", "in": "path", "required": True,
                                 "schema": {"type": "string"}}],
            "requestBody": _body(APPROVAL_REQUEST),
            "responses": {"200": _json(_OBJECT), **problems(
                *_TOKEN, *_BODY, "job-not-found", "step-not-found", "step-not-waiting",
                "job-not-running", "jobs-unavailable")}}},
        "/v1/jobs/{job_id}/cancel": {"post": {
            "summary": "Cancel: running steps stop, completed ones are compensated (SAGA)",
            "security": [{"session": []}], "parameters": [_ID],
            "requestBody": _body(JOB_CANCEL_REQUEST, required=False),
            "responses": {"202": _json(_OBJECT, "Cancelling"), **problems(
                *_TOKEN, *_BODY, "job-not-found", "job-not-running", "jobs-unavailable")}}},
    }


JOB_SCHEMAS: dict[str, Any] = {"JobSpec": JOB_SPEC}
