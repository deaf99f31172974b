"""Token counting with the bundled cl100k_base vocabulary, and the planner factory."""

from __future__ import annotations

import asyncio

import pytest

from somagent.exceptions import ConfigError
from somagent.planners import OffLoopPlanner, OpenAICompatPlanner, PlannerSettings, make_planner
from somagent.planners.token_count import (
    ApproxCounter,
    TiktokenCounter,
    TokenCounter,
    default_counter,
)
from somagent.tools.calc import SPEC as CALC_SPEC
from somagent.turns.planner import DeterministicPlanner, Planner


def test_cl100k_counts_match_published_token_ids() -> None:
    counter = TiktokenCounter()
    # Token ids of cl100k_base as published with tiktoken.
    assert counter.encode("hello world") == [15339, 1917]
    assert counter.count("The quick brown fox jumps over the lazy dog.") == 10
    assert counter.count("") == 0
    assert counter.count("<|endoftext|>") > 1  # special tokens are counted as text


def test_default_counter_is_the_real_tokenizer() -> None:
    counter = default_counter()
    assert isinstance(counter, TokenCounter)
    assert counter.name == "cl100k_base"


def test_approximate_fallback_is_named_as_such() -> None:
    approx = ApproxCounter()
    assert approx.name == "approx-words"
    assert approx.count("Hello, world! 1/3") == 7


def test_factory_defaults_to_the_deterministic_planner_off_the_loop() -> None:
    planner = make_planner(PlannerSettings())
    assert isinstance(planner, OffLoopPlanner) and isinstance(planner.inner, DeterministicPlanner)
    assert planner.name == "deterministic" and planner.local
    plan = asyncio.run(planner.plan("what is 2+2", [], []))
    assert plan == planner.inner.make_plan("what is 2+2", [])
    assert plan.usage is not None and plan.usage.source == "tokenizer:cl100k_base"
    planner.close()


async def _ticks_while_planning(planner: Planner, text: str) -> int:
    """How often another task ran on the loop between the plan's start and its end."""
    plan = asyncio.create_task(planner.plan(text, [CALC_SPEC], []))
    await asyncio.sleep(0)  # the plan task starts
    ticks = 0
    while not plan.done():
        ticks += 1
        await asyncio.sleep(0)
    assert [dict(c.arguments) for c in (await plan).calls] == [{"expression": "1+1"}]
    return ticks


def test_planning_runs_off_the_event_loop() -> None:
    """Other tasks on the loop run while a (hostile, 32 KiB) input is planned, so the
    driver's step timeout around it can fire; inline planning gives them no turn."""
    planner = make_planner(PlannerSettings())
    assert isinstance(planner, OffLoopPlanner)
    text = "(" * 32_765 + "1+1"
    assert asyncio.run(_ticks_while_planning(planner, text)) >= 1
    assert asyncio.run(_ticks_while_planning(planner.inner, text)) == 0  # the reference
    planner.close()


def test_factory_selects_the_provider_from_environment() -> None:
    env = {
        "SOMAGENT_LLM_BASE_URL": "http://127.0.0.1:9/v1",
        "SOMAGENT_LLM_MODEL": "m1",
        "SOMAGENT_LLM_API_KEY": "sk-x",
        "SOMAGENT_LLM_TIMEOUT_S": "5",
    }
    planner = make_planner(PlannerSettings.from_env(env))
    assert isinstance(planner, OpenAICompatPlanner)
    assert (planner.name, planner.api_key, planner.timeout_s) == ("openai:m1", "sk-x", 5.0)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SOMAGENT_LLM_BASE_URL": "http://h/v1"}, "SOMAGENT_LLM_MODEL is required"),
        ({"SOMAGENT_LLM_BASE_URL": "ftp://h", "SOMAGENT_LLM_MODEL": "m"}, "BASE_URL"),
        ({"SOMAGENT_LLM_TIMEOUT_S": "soon"}, "SOMAGENT_LLM_TIMEOUT_S"),
    ],
)
def test_factory_rejects_bad_configuration(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_planner(PlannerSettings.from_env(env))
