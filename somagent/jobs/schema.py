"""The job spec's JSON Schema (Draft 2020-12), also published in the OpenAPI document.

A job is a DAG of named steps. Each step is exactly one of:

* ``turn``: a turn run by the turn engine (text + allow-list of tools and memory);
* ``tool``: one tool call through the tool broker (name + arguments);
* ``approval``: a human decision, with a timeout and what the timeout means;
* ``job``: a sub-job, itself a job spec (nesting depth at most :data:`MAX_DEPTH`).

``depends_on`` names steps of the same job; ``compensate`` is a turn or tool call run
when the job is cancelled or fails after this step completed (SAGA, reverse completion
order). ``timeout_s`` bounds one attempt; ``retry`` says how often a failed attempt is
tried again. The schema has an ``$id`` so its internal references (``#/$defs/...``,
and ``#`` for a sub-job) resolve inside it wherever it is embedded.
"""

from __future__ import annotations

from typing import Any, Final

SCHEMA_ID: Final = "https://somagent.dev/schemas/job-spec.json"
STEP_NAME_PATTERN: Final = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
TOOL_PATTERN: Final = "^[A-Za-z0-9_.:-]{1,64}$"
MAX_STEPS: Final = 200
MAX_DEPTH: Final = 3
STEP_KINDS: Final = ("turn", "tool", "approval", "job")
MAX_TIMEOUT_S: Final = 30 * 86400

_TIMEOUT = {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TIMEOUT_S}

_RETRY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Attempts of a failed step (or compensation), with exponential backoff.",
    "properties": {
        "max_attempts": {"type": "integer", "minimum": 1, "maximum": 20},
        "initial_interval_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
        "backoff": {"type": "number", "minimum": 1, "maximum": 10},
        "max_interval_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400},
    },
}

_TURN: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["text"],
    "description": "A turn: TurnRequested is appended and the step waits for TurnCompleted.",
    "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": 32_768},
        "allow": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "tools": {
                    "type": "array",
                    "items": {"type": "string", "pattern": TOOL_PATTERN},
                    "maxItems": 32,
                    "uniqueItems": True,
                },
                "memory": {"enum": ["none", "read", "readwrite"]},
            },
        },
    },
}

_TOOL: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "description": "One tool call through the tool broker; idempotency key = job id + step.",
    "properties": {
        "name": {"type": "string", "pattern": TOOL_PATTERN},
        "arguments": {"type": "object"},
    },
}

_APPROVAL: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Waits for POST /v1/jobs/{id}/approvals/{step}; on timeout, on_timeout decides.",
    "properties": {
        "prompt": {"type": "string", "maxLength": 4096},
        "timeout_s": _TIMEOUT,
        "on_timeout": {"enum": ["reject", "approve"]},
    },
}

_COMPENSATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Undo of a completed step: a turn or a tool call (exactly one).",
    "properties": {
        "turn": {"$ref": "#/$defs/turn"},
        "tool": {"$ref": "#/$defs/tool"},
        "timeout_s": _TIMEOUT,
        "retry": {"$ref": "#/$defs/retry"},
    },
    "oneOf": [{"required": ["turn"]}, {"required": ["tool"]}],
}

_STEP: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "description": "One step: exactly one of turn, tool, approval, job.",
    "properties": {
        "name": {"type": "string", "pattern": STEP_NAME_PATTERN},
        "depends_on": {
            "type": "array",
            "items": {"type": "string", "pattern": STEP_NAME_PATTERN},
            "maxItems": MAX_STEPS,
            "uniqueItems": True,
        },
        "timeout_s": _TIMEOUT,
        "retry": {"$ref": "#/$defs/retry"},
        "compensate": {"$ref": "#/$defs/compensate"},
        "turn": {"$ref": "#/$defs/turn"},
        "tool": {"$ref": "#/$defs/tool"},
        "approval": {"$ref": "#/$defs/approval"},
        "job": {"$ref": "#"},
    },
    "oneOf": [{"required": [kind]} for kind in STEP_KINDS],
}

JOB_SPEC: dict[str, Any] = {
    "$id": SCHEMA_ID,
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "JobSpec",
    "type": "object",
    "additionalProperties": False,
    "required": ["steps"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 128},
        "budget": {
            "type": "object",
            "additionalProperties": False,
            "description": "Tokens the job's turns may reserve in all (its own session budget).",
            "properties": {"tokens": {"type": "integer", "minimum": 0, "maximum": 10**9}},
        },
        "steps": {
            "type": "array",
            "items": {"$ref": "#/$defs/step"},
            "minItems": 1,
            "maxItems": MAX_STEPS,
        },
    },
    "$defs": {
        "step": _STEP,
        "turn": _TURN,
        "tool": _TOOL,
        "approval": _APPROVAL,
        "retry": _RETRY,
        "compensate": _COMPENSATE,
    },
}

JOB_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["spec"],
    "description": "POST /v1/jobs: the job spec to run.",
    "properties": {"spec": JOB_SPEC},
}

APPROVAL_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["decision"],
    "properties": {
        "decision": {"enum": ["approve", "reject"]},
        "comment": {"type": "string", "maxLength": 2048},
    },
}

JOB_CANCEL_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"reason": {"type": "string", "maxLength": 512}},
}

PLAN_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["roadmap"],
    "properties": {
        "roadmap": {"type": "string", "minLength": 1, "maxLength": 256 * 1024},
        "tools": {
            "type": "array",
            "items": {"type": "string", "pattern": TOOL_PATTERN},
            "maxItems": 32,
            "uniqueItems": True,
        },
        "approval_timeout_s": _TIMEOUT,
    },
}
