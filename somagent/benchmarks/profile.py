"""A text summary of a py-spy profile (``py-spy record --format raw --threads``).

py-spy's raw format is one collapsed stack per line: ``thread (tid): name;frame;...;frame
count``, each frame ``function (file:line)``. :func:`summarise` reports, in samples
and percent of all samples: per thread, per package of the innermost frame (where
CPU time is spent), the top innermost frames (self time) and the top frames by
inclusive time (each frame counted once per stack). Pure: text in, text out.

Run: ``python -m somagent.benchmarks.profile profile.raw [--top 25] [--thread MainThread]``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")


@dataclass(frozen=True)
class Stack:
    thread: str
    frames: tuple[str, ...]
    count: int


def parse(lines: Iterable[str]) -> list[Stack]:
    """Stacks of a raw py-spy profile; lines that are not ``... <count>`` are skipped."""
    out = []
    for raw in lines:
        line = raw.rstrip("\n")
        head, _, count = line.rpartition(" ")
        if not head or not count.isdigit():
            continue
        parts = head.split(";")
        thread = parts[0]
        if thread.startswith("thread (") and "): " in thread:
            thread = thread.split("): ", 1)[1]
        out.append(Stack(thread, tuple(parts[1:]), int(count)))
    return out


def package_of(frame: str) -> str:
    """``faust``, ``asyncio``, ``somagent.api`` ... from a frame's file path."""
    match = _FRAME.match(frame)
    path = match.group("file") if match else frame
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    if not parts:
        return "?"
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1:]
    if parts[0] == "somagent" and len(parts) > 2:
        return f"somagent.{parts[1]}"
    return parts[0].removesuffix(".py")


def _function(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    return f"{match.group('func')} ({match.group('file')})"


def _table(title: str, counts: Counter[str], total: int, top: int) -> list[str]:
    lines = [f"\n{title}", "-" * len(title)]
    for name, n in counts.most_common(top):
        lines.append(f"{n:7d} {100 * n / total:5.1f}%  {name}")
    return lines


def summarise(stacks: list[Stack], top: int = 25) -> str:
    """The text report (see the module docstring)."""
    total = sum(s.count for s in stacks)
    if not total:
        return "no samples\n"
    threads: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for s in stacks:
        threads[s.thread] += s.count
        if s.frames:
            packages[package_of(s.frames[-1])] += s.count
            leaves[_function(s.frames[-1])] += s.count
        for name in {_function(f) for f in s.frames}:
            inclusive[name] += s.count
    lines = [f"samples: {total}"]
    lines += _table("by thread", threads, total, top)
    lines += _table("self time by package (innermost frame)", packages, total, top)
    lines += _table("self time by function (innermost frame)", leaves, total, top)
    # Frames on every stack (thread bootstrap, the event loop's run_forever) say nothing.
    inclusive = Counter({k: n for k, n in inclusive.items() if n < total})
    lines += _table("inclusive time by function (frames on every stack left out)",
                    inclusive, total, top * 2)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Summarise a raw py-spy profile as text.")
    parser.add_argument("raw", help="py-spy record --format raw output")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--thread", default=None, help="only this thread's stacks")
    args = parser.parse_args(argv)
    with open(args.raw, encoding="utf-8") as fh:
        stacks = parse(fh)
    if args.thread:
        stacks = [s for s in stacks if s.thread == args.thread]
    sys.stdout.write(summarise(stacks, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
