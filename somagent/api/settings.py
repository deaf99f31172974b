"""Edge-only settings, read from ``SOMAGENT_EDGE_*`` and validated.

They live beside the app rather than in :class:`somagent.config.Settings` because
only the edge reads them; every address still comes from ``Settings``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EdgeSettings(BaseSettings):
    """Limits and tuning of one edge process (units in the names)."""

    model_config = SettingsConfigDict(env_prefix="SOMAGENT_EDGE_", frozen=True, extra="ignore")

    session_ttl_s: Annotated[int, Field(ge=1, le=86400)] = 900
    max_body_bytes: Annotated[int, Field(ge=256, le=16 * 1024 * 1024)] = 64 * 1024
    heartbeat_s: Annotated[float, Field(gt=0, le=300)] = 15.0
    sse_retry_ms: Annotated[int, Field(ge=100, le=600_000)] = 2000
    turn_deadline_ms: Annotated[int, Field(ge=1000, le=3_600_000)] = 120_000
    # A stream with no TurnCompleted closes this long after the turn's deadline.
    stream_grace_s: Annotated[float, Field(ge=0, le=3600)] = 30.0
    turn_record_ttl_s: Annotated[int, Field(ge=60)] = 30 * 86400
    idempotency_ttl_s: Annotated[int, Field(ge=60)] = 86400
    rate_window_ms: Annotated[int, Field(ge=1000)] = 60_000
    # Tokens pre-authorised per turn on top of ~1 token per 4 input bytes.
    reserve_output_tokens: Annotated[int, Field(ge=0)] = 2048
    # Admission (Erlang C): workers k, SLO on the P95 queueing wait, EWMA time constant.
    workers: Annotated[int, Field(ge=1, le=100_000)] = 8
    slo_wait_p95_s: Annotated[float, Field(gt=0)] = 2.0
    ewma_tau_s: Annotated[float, Field(gt=0)] = 30.0
    service_time_prior_s: Annotated[float, Field(gt=0)] = 2.0
    history_readers: Annotated[int, Field(ge=1, le=256)] = 8
    readiness_timeout_s: Annotated[float, Field(gt=0, le=60)] = 2.0
    append_timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
