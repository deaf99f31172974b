"""The py-spy summary on an excerpt of a real capture (platform under bench/turns.py)."""

from __future__ import annotations

from pathlib import Path

from somagent.benchmarks.profile import package_of, parse, summarise

RAW = Path(__file__).parent / "samples" / "pyspy_gil_c16.raw"


def test_parse_counts_and_threads() -> None:
    lines = RAW.read_text().splitlines()
    stacks = parse(lines)
    assert len(stacks) == len(lines)
    assert sum(s.count for s in stacks) == sum(int(ln.rsplit(" ", 1)[1]) for ln in lines)
    assert {s.thread for s in stacks} == {"MainThread", "edge", "Thread-1"}
    assert all(s.frames for s in stacks)


def test_summary_percentages_and_sections() -> None:
    stacks = parse(RAW.read_text().splitlines())
    text = summarise(stacks, top=5)
    total = sum(s.count for s in stacks)
    assert text.startswith(f"samples: {total}")
    main = sum(s.count for s in stacks if s.thread == "MainThread")
    assert f"{main:7d} {100 * main / total:5.1f}%  MainThread" in text
    for section in ("by thread", "self time by package", "inclusive time by function"):
        assert section in text
    assert summarise([]) == "no samples\n"


def test_package_of_frames() -> None:
    assert package_of("TurnDriver._run (somagent/streams/driver.py:181)") == "somagent.streams"
    assert package_of("Stream._c_aiter (faust/streams.py:910)") == "faust"
    assert package_of("select (/x/lib/python3.11/site-packages/aiokafka/conn.py:3)") == "aiokafka"
    assert package_of("wait (asyncio/tasks.py:418)") == "asyncio"
