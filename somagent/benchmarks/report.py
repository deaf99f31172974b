"""The report: one JSON document and one Markdown table built from the scripts' results.

``build_report`` and ``render_markdown`` are pure (results in, document out);
``machine_info`` reads ``/proc``; ``write_report`` writes the files. The Markdown
goes to ``bench/out/report.md`` and, between the markers :data:`BEGIN` and
:data:`END`, into ``docs/performance.md`` (text outside the markers is kept, so
the profile notes there survive a re-run).
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from somagent.benchmarks.figures import Figure, figures_for

BEGIN = "<!-- somagent bench: begin -->"
END = "<!-- somagent bench: end -->"


def machine_info() -> dict[str, Any]:
    """nproc, CPU model (``/proc/cpuinfo``), RAM (``/proc/meminfo``), kernel, Python."""
    model, ram_kib = "unknown", 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_kib = int(line.split()[1])
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu_model": model,
            "ram_gib": round(ram_kib / 1024 / 1024, 1), "kernel": platform.release(),
            "python": platform.python_version()}


def build_report(results: Sequence[Mapping[str, Any]], *, machine: Mapping[str, Any],
                 started_at: str, finished_at: str, command: str, quick: bool) -> dict[str, Any]:
    """The report document; ``results`` are :meth:`ScriptResult.to_dict` mappings."""
    data = {r["name"]: r.get("data") for r in results if r.get("ok")}
    figures = figures_for(data)
    return {
        "command": command,
        "quick": quick,
        "started_at": started_at,
        "finished_at": finished_at,
        "machine": dict(machine),
        "ok": all(r.get("ok") for r in results),
        "failures": [{"name": r["name"], "error": r.get("error", ""),
                      "stderr_tail": r.get("stderr_tail", "")}
                     for r in results if not r.get("ok")],
        "figures": [f.to_dict() for f in figures],
        "results": [dict(r) for r in results],
    }


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.01 or magnitude == 0:
        return f"{value:.2f}"
    return f"{value:.2e}"


def _row(f: Mapping[str, Any]) -> str:
    ratio = f.get("ratio")
    arrow = "↑" if f.get("better") == "higher" else "↓"
    cells = [
        f["bench"], f["figure"], f"{_fmt(f['value'])} {f['unit']}",
        f.get("baseline") or "–",
        _fmt(f.get("baseline_value")) if f.get("baseline_value") is not None else "–",
        f"{ratio:.2f}" if ratio is not None else "–", arrow, f.get("note") or "",
    ]
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def render_markdown(report: Mapping[str, Any]) -> str:
    """The table (one row per figure), failures, machine, date and command."""
    m = report["machine"]
    lines = [
        "| bench | figure | value | baseline (same run) | baseline value | ratio | better | note |",
        "|---|---|---|---|---|---|---|---|",
        *(_row(f) for f in report["figures"]),
        "",
        "ratio = value ÷ baseline value; *better* says which way the value improves "
        "(↑ higher, ↓ lower).",
        "",
        f"Machine: {m.get('nproc')} CPUs ({m.get('cpu_model')}), {m.get('ram_gib')} GiB RAM, "
        f"Linux {m.get('kernel')}, Python {m.get('python')}. "
        f"Run {report['started_at']} → {report['finished_at']} (UTC). "
        f"Command: `{report['command']}`.",
    ]
    durations = ", ".join(f"{r['name']} {r['seconds']:.0f} s" for r in report["results"])
    lines.append(f"Script wall times: {durations}.")
    for failure in report["failures"]:
        tail = failure["stderr_tail"].strip().splitlines()[-3:]
        lines.append(f"\n**{failure['name']} failed**: {failure['error']}")
        if tail:
            lines += ["", "```", *tail, "```"]
    return "\n".join(lines) + "\n"


def replace_section(document: str, section: str, title: str = "## Performance") -> str:
    """``document`` with the text between :data:`BEGIN` and :data:`END` replaced by
    ``section`` (markers appended, under ``title``, when absent)."""
    block = f"{BEGIN}\n{section.rstrip()}\n{END}"
    if BEGIN in document and END in document:
        head, rest = document.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        return head + block + tail
    if not document.strip():
        return f"{title}\n\n{block}\n"
    return document.rstrip() + "\n\n" + block + "\n"


def write_report(report: Mapping[str, Any], markdown: str, out_dir: Path,
                 docs_file: Path | None) -> list[Path]:
    """Write ``report.json`` and ``report.md`` under ``out_dir`` (and the docs section)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(markdown)
    written = [json_path, md_path]
    if docs_file is not None:
        old = docs_file.read_text() if docs_file.exists() else ""
        docs_file.write_text(replace_section(old, markdown))
        written.append(docs_file)
    return written


def figures_of(report: Mapping[str, Any]) -> list[Figure]:
    """The report's figures as :class:`Figure` objects again (for plots and tests)."""
    keep = {"bench", "figure", "value", "unit", "baseline", "baseline_value", "better", "note"}
    return [Figure(**{k: v for k, v in f.items() if k in keep}) for f in report["figures"]]
