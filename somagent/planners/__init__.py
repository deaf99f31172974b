"""Planner providers and the factory that picks one from configuration.

* No ``SOMAGENT_LLM_BASE_URL``: the built-in
  :class:`~somagent.turns.planner.DeterministicPlanner` (rule-based, not a
  language model), with token usage counted by the local tokenizer, run off the
  event loop by :class:`~somagent.planners.off_loop.OffLoopPlanner`.
* ``SOMAGENT_LLM_BASE_URL`` set: :class:`OpenAICompatPlanner` against that
  OpenAI-compatible endpoint with ``SOMAGENT_LLM_MODEL`` (required) and
  ``SOMAGENT_LLM_API_KEY`` (optional); ``SOMAGENT_LLM_TIMEOUT_S`` (default 60).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from somagent.exceptions import ConfigError
from somagent.planners.off_loop import OffLoopPlanner
from somagent.planners.openai_compat import OpenAICompatPlanner
from somagent.planners.token_count import TokenCounter, default_counter
from somagent.turns.planner import DeterministicPlanner, Planner

__all__ = ["OffLoopPlanner", "OpenAICompatPlanner", "PlannerSettings", "make_planner"]


@dataclass(frozen=True)
class PlannerSettings:
    """Which planner to use. Build with :meth:`from_env` or from any settings object
    with ``llm_base_url``/``llm_model``/``llm_api_key``/``llm_timeout_s`` attributes."""

    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout_s: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PlannerSettings:
        env = os.environ if environ is None else environ
        raw_timeout = env.get("SOMAGENT_LLM_TIMEOUT_S", "60")
        try:
            timeout = float(raw_timeout)
        except ValueError as exc:
            raise ConfigError(
                f"SOMAGENT_LLM_TIMEOUT_S must be a number, got {raw_timeout!r}"
            ) from exc
        return cls(
            env.get("SOMAGENT_LLM_BASE_URL") or None,
            env.get("SOMAGENT_LLM_MODEL") or None,
            env.get("SOMAGENT_LLM_API_KEY") or None,
            timeout,
        )

    @classmethod
    def of(cls, settings: Any) -> PlannerSettings:
        if isinstance(settings, PlannerSettings):
            return settings
        return cls(
            getattr(settings, "llm_base_url", None),
            getattr(settings, "llm_model", None),
            getattr(settings, "llm_api_key", None),
            float(getattr(settings, "llm_timeout_s", 60.0)),
        )


def make_planner(settings: Any = None, counter: TokenCounter | None = None) -> Planner:
    """The planner ``settings`` select (default: read the environment).

    Raises :class:`ConfigError` naming the variable when the LLM settings are
    inconsistent (URL without a model, URL not http(s), timeout not positive).
    """
    cfg = PlannerSettings.from_env() if settings is None else PlannerSettings.of(settings)
    tokens = counter or default_counter()
    if not cfg.llm_base_url:
        return OffLoopPlanner(
            DeterministicPlanner(count_tokens=tokens.count, tokenizer_name=tokens.name)
        )
    parts = urlsplit(cfg.llm_base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"SOMAGENT_LLM_BASE_URL must look like https://host/v1, got {cfg.llm_base_url!r}"
        )
    if not cfg.llm_model:
        raise ConfigError("SOMAGENT_LLM_MODEL is required when SOMAGENT_LLM_BASE_URL is set")
    if cfg.llm_timeout_s <= 0:
        raise ConfigError(f"SOMAGENT_LLM_TIMEOUT_S must be > 0, got {cfg.llm_timeout_s}")
    return OpenAICompatPlanner(
        cfg.llm_base_url, cfg.llm_model, cfg.llm_api_key, cfg.llm_timeout_s, tokens
    )
