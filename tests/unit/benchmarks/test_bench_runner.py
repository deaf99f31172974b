"""The runner against real subprocesses (small scripts written for the test)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from somagent.benchmarks.exceptions import BenchError
from somagent.benchmarks.runner import args_for, discover, parse_output, run_all, run_script


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(body)
    return path


def test_parse_output_whole_or_last_object() -> None:
    assert parse_output("x", '{"a": 1}\n') == {"a": 1}
    assert parse_output("x", 'warming up\n{\n  "a": 2\n}\n') == {"a": 2}
    with pytest.raises(BenchError, match=r"bench/x\.py printed no JSON"):
        parse_output("x", "nothing here")
    with pytest.raises(BenchError, match="not an object"):
        parse_output("x", "[1, 2]")


def test_discover_sorted_and_filtered(tmp_path: Path) -> None:
    for name in ("turns", "codec", "_helper", "brain_recall_set"):
        script(tmp_path, name, "")
    assert [p.stem for p in discover(tmp_path)] == ["codec", "turns"]
    assert [p.stem for p in discover(tmp_path, ["turns"])] == ["turns"]
    with pytest.raises(BenchError, match=r"no bench/nope\.py"):
        discover(tmp_path, ["nope"])


def test_quick_arguments() -> None:
    assert args_for("codec", quick=True) == ["--quick"]
    assert args_for("edge", quick=True)[0] == "--streams"
    # Every script of the repository accepts what a quick run passes it.
    bench = Path(__file__).resolve().parents[3] / "bench"
    for path in discover(bench):
        for flag in args_for(path.stem, quick=True)[::2]:
            assert flag in path.read_text(), (path.name, flag)
    assert args_for("codec", quick=False) == []


def test_success_failure_and_non_json(tmp_path: Path) -> None:
    good = script(tmp_path, "good", "import json, sys\nprint(json.dumps({'argv': sys.argv[1:]}))\n")
    bad = script(tmp_path, "bad", "import sys\nprint('boom', file=sys.stderr)\nsys.exit(3)\n")
    text = script(tmp_path, "text", "print('no json')\n")
    results = run_all([good, bad, text], quick=True, timeout_s=60, cwd=tmp_path)
    assert results[0].ok and results[0].data == {"argv": ["--quick"]}
    assert not results[1].ok and results[1].returncode == 3
    assert "boom" in results[1].stderr_tail and "status 3" in results[1].error
    assert not results[2].ok and "printed no JSON" in results[2].error


def test_time_limit_interrupts_the_script(tmp_path: Path) -> None:
    slow = script(tmp_path, "slow", (
        "import time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n"
        "    print('cleaned up', flush=True)\n    raise\n"))
    # The limit leaves the interpreter time to start on a loaded machine: a SIGINT that
    # lands before the script's try block would not show the clean-up path.
    result = run_script(slow, [], timeout_s=5.0, cwd=tmp_path)
    assert not result.ok and "past its 5 s limit" in result.error
    assert "KeyboardInterrupt" in result.stderr_tail
    assert sys.executable  # the scripts ran under this interpreter


def test_edge_runs_twice_for_the_memory_slope() -> None:
    from somagent.benchmarks.runner import runs_for

    runs = runs_for("edge", quick=True)
    assert [name for name, _ in runs] == ["edge", "edge.small"]
    assert runs_for("codec", quick=True) == [("codec", ["--quick"])]


def test_extra_run_gets_its_own_result_name(tmp_path: Path) -> None:
    edge = script(tmp_path, "edge", "import json, sys\nprint(json.dumps({'a': sys.argv[1:]}))\n")
    results = run_all([edge], quick=True, timeout_s=60, cwd=tmp_path)
    assert [r.name for r in results] == ["edge", "edge.small"]
    assert results[1].data == {"a": ["--streams", "100", "--rate", "1000"]}
