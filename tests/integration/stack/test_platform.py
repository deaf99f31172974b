"""`somagent up` with the platform process, and `somagent demo` through it.

A whole second stack (own data directory, own free ports), exactly what
`somagent up` starts: the platform must own its embedded chDB and Qdrant, and
its worker group reads a log no other test wrote to.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import pytest

from somagent.stack.stack import Stack
from somagent.stack.testing import fresh_stack_settings
from somagent.streams.demo import run_demo

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def platform_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(fresh_stack_settings(tmp_path_factory.mktemp("platform-home")))
    try:
        stack.up(platform=True)
        yield stack
    finally:
        stack.down()


def test_up_starts_a_healthy_platform_and_a_second_up_reuses_it(platform_stack: Stack) -> None:
    rows = {r.name: r for r in platform_stack.status()}
    assert rows["platform"].healthy and rows["platform"].pid is not None
    assert rows["clickhouse"].healthy and rows["qdrant"].healthy  # via the platform's /readyz
    assert all(rows[n].healthy and rows[n].pid for n in ("kafka", "postgres", "redis"))
    pid = rows["platform"].pid
    platform_stack.up(platform=True)  # must not touch the engines the platform owns
    assert {r.name: r for r in platform_stack.status()}["platform"].pid == pid


def test_demo_runs_a_real_turn_through_the_platform(platform_stack: Stack) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run_demo(platform_stack.settings, "Remember the demo fact. What is (1/3 + 1/6) * 3?")
    text = out.getvalue()
    for name in (
        "event: plan",
        "event: tool.delta",
        "event: verify",
        "event: answer",
        "event: done",
    ):
        assert name in text, text
    assert "3/2" in text
    assert "Remember the demo fact" in text.split("/v1/memory/recall", 1)[1]
