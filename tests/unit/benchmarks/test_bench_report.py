"""Report document and Markdown table built from recorded results of real runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from somagent.benchmarks.report import (
    BEGIN,
    END,
    build_report,
    figures_of,
    render_markdown,
    replace_section,
    write_report,
)

SAMPLES = Path(__file__).parent / "samples"
MACHINE = {"nproc": 2, "cpu_model": "AMD EPYC", "ram_gib": 23.5, "kernel": "6", "python": "3.11"}


def results(failed: str | None = None) -> list[dict[str, Any]]:
    out = []
    for name in ("billing", "codec", "edge", "edge.small", "math", "recall", "replay", "turns"):
        ok = name != failed
        out.append({
            "name": name, "args": ["--quick"], "ok": ok, "seconds": 12.0,
            "returncode": 0 if ok else 1, "error": "" if ok else f"bench/{name}.py exited 1",
            "stderr_tail": "" if ok else "Traceback...\nRuntimeError: broker gone\n",
            "data": json.loads((SAMPLES / f"{name}.json").read_text()) if ok else None,
        })
    return out


def report(failed: str | None = None) -> dict[str, Any]:
    return build_report(results(failed), machine=MACHINE, started_at="2026-11-24 05:00:00",
                        finished_at="2026-11-24 05:09:00", command="somagent bench --quick",
                        quick=True)


def test_every_figure_is_a_table_row() -> None:
    doc = report()
    md = render_markdown(doc)
    rows = [ln for ln in md.splitlines() if ln.startswith("| ") and "---" not in ln]
    assert len(rows) == len(doc["figures"]) + 1  # + header
    assert doc["ok"] is True and doc["failures"] == []
    assert "2 CPUs (AMD EPYC), 23.5 GiB RAM" in md
    assert "`somagent bench --quick`" in md


def test_failure_is_recorded_and_the_rest_reported() -> None:
    doc = report(failed="replay")
    assert doc["ok"] is False
    assert doc["failures"][0]["name"] == "replay"
    assert "broker gone" in doc["failures"][0]["stderr_tail"]
    assert not any(f["bench"] == "replay" for f in doc["figures"])
    assert any(f["bench"] == "turns" for f in doc["figures"])
    md = render_markdown(doc)
    assert "**replay failed**" in md and "RuntimeError: broker gone" in md


def test_figures_round_trip_through_the_json() -> None:
    doc = json.loads(json.dumps(report()))
    again = figures_of(doc)
    assert [f.to_dict() for f in again] == doc["figures"]


def test_section_replaced_between_markers_only() -> None:
    doc = "# Performance\n\nintro\n\n" + BEGIN + "\nold table\n" + END + "\n\n## Profile\nkept\n"
    new = replace_section(doc, "new table\n")
    assert "old table" not in new and "new table" in new
    assert new.startswith("# Performance\n\nintro") and new.endswith("## Profile\nkept\n")
    assert replace_section(new, "new table\n") == new
    assert replace_section("", "t").startswith("## Performance")
    assert replace_section("# Other\n", "t").count(BEGIN) == 1


def test_write_report_files(tmp_path: Path) -> None:
    doc = report()
    md = render_markdown(doc)
    docs_file = tmp_path / "performance.md"
    docs_file.write_text("# Performance\n\nnotes that stay\n")
    written = write_report(doc, md, tmp_path / "out", docs_file)
    assert [p.name for p in written] == ["report.json", "report.md", "performance.md"]
    assert json.loads((tmp_path / "out" / "report.json").read_text())["ok"] is True
    text = docs_file.read_text()
    assert "notes that stay" in text and md.strip() in text
