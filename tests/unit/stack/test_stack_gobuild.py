"""Go programs built once into the cache: the lock-and-rename protocol and go errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from somagent.stack.exceptions import StackError
from somagent.stack.gobuild import build_once, go_binary, run_go


def test_build_once_moves_the_built_file_and_builds_no_second_time(tmp_path: Path) -> None:
    target = tmp_path / "tool-1.0" / "tool"
    calls: list[Path] = []

    def build(work: Path) -> Path:
        calls.append(work)
        (work / "tool").write_text("binary")
        return work / "tool"

    assert build_once(target, "tool", build) == target
    assert build_once(target, "tool", build) == target
    assert target.read_text() == "binary" and len(calls) == 1
    assert not calls[0].exists()  # the work directory is gone
    assert sorted(p.name for p in target.parent.iterdir()) == [".build.lock", "tool"]


def test_a_build_that_leaves_no_file_raises_and_leaves_no_target(tmp_path: Path) -> None:
    target = tmp_path / "tool-1.0" / "tool"
    with pytest.raises(StackError, match="left no tool"):
        build_once(target, "tool", lambda work: work / "tool")
    assert not target.exists()


def test_a_failing_go_command_names_itself_and_its_output(tmp_path: Path) -> None:
    go = go_binary("test", "Go is installed on this machine")
    with pytest.raises(StackError) as caught:
        run_go("test", [go, "no-such-subcommand"], cwd=str(tmp_path), timeout_s=60)
    assert "no-such-subcommand" in str(caught.value) and "exit" in str(caught.value)
