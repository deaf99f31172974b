"""The aggregated view: every role process's ``/metrics``, labelled by process.

:func:`scrape_platform` reads ``$SOMAGENT_HOME/run/platform.json`` (written every
second by the supervisor), scrapes each instance's health port and returns one
:class:`Scrape` per instance; :func:`merge` renders them as one Prometheus text
exposition in which every sample carries ``process="<instance>"`` and ``role``, plus
``somagent_scrape_up{process,role}`` (1 scraped, 0 not answering): an instance that
does not answer is reported, never dropped silently. :func:`file_sd_targets` gives
the same instances as Prometheus file-based service discovery targets.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from somagent.telemetry.exceptions import TelemetryError


@dataclass(frozen=True)
class Target:
    """One role instance: ``process`` is its name (``worker-0``), ``metrics_url`` its
    health port's ``/metrics``."""

    process: str
    role: str
    metrics_url: str


@dataclass(frozen=True)
class Scrape:
    target: Target
    text: str
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def targets(state_file: Path) -> list[Target]:
    """The instances of ``platform.json`` (TelemetryError when no platform runs)."""
    try:
        state = json.loads(state_file.read_text())
    except FileNotFoundError as exc:
        raise TelemetryError(f"{state_file} does not exist: is the platform up?") from exc
    except ValueError as exc:
        raise TelemetryError(f"{state_file} is not JSON: {exc}") from exc
    out = []
    for row in state.get("instances", []):
        url = str(row["health_url"])
        out.append(Target(str(row["name"]), str(row["role"]),
                          url.rsplit("/", 1)[0] + "/metrics"))
    return out


def scrape(targets_: Iterable[Target], *, timeout_s: float = 5.0) -> list[Scrape]:
    """GET every target's ``/metrics`` (sequentially; a failure is kept as an error)."""
    out = []
    with httpx.Client(timeout=timeout_s) as client:
        for t in targets_:
            try:
                response = client.get(t.metrics_url)
                response.raise_for_status()
                out.append(Scrape(t, response.text))
            except httpx.HTTPError as exc:
                out.append(Scrape(t, "", f"{type(exc).__name__}: {exc}"))
    return out


def scrape_platform(state_file: Path, *, timeout_s: float = 5.0) -> list[Scrape]:
    return scrape(targets(state_file), timeout_s=timeout_s)


def _escape(text: str, *, quote: bool = True) -> str:
    """The text format's escaping: backslash, newline and (in label values) quote."""
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if quote else text


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _value(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _sample_line(sample: Sample, extra: dict[str, str]) -> str:
    return f"{sample.name}{_labels({**sample.labels, **extra})} {_value(sample.value)}"


def merge(scrapes: Iterable[Scrape]) -> str:
    """One exposition of every scrape; each sample gains ``process`` and ``role``.

    Families of the same name from several processes are written once (HELP/TYPE of
    the first) with all their samples; a sample that already has a ``process`` label
    (none of ours do) is overwritten by the scrape's.
    """
    families: dict[str, tuple[str, str, list[str]]] = {}
    up: list[str] = []
    for s in scrapes:
        extra = {"process": s.target.process, "role": s.target.role}
        up.append(f"somagent_scrape_up{_labels(extra)} {1 if s.ok else 0}")
        if not s.ok:
            continue
        for family in text_string_to_metric_families(s.text):
            _, _, lines = families.setdefault(family.name, (family.documentation, family.type, []))
            lines.extend(_sample_line(sample, extra) for sample in family.samples)
    out = ["# HELP somagent_scrape_up 1 when the process answered its /metrics",
           "# TYPE somagent_scrape_up gauge", *up]
    for name, (doc, kind, lines) in families.items():
        # The text format names a counter family with its samples' ``_total`` suffix
        # (the parser strips it from ``family.name``).
        header = f"{name}_total" if kind == "counter" else name
        out.append(f"# HELP {header} {_escape(doc, quote=False)}")
        out.append(f"# TYPE {header} {kind}")
        out.extend(lines)
    return "\n".join(out) + "\n"


def summary(scrapes: Iterable[Scrape]) -> dict[str, Any]:
    """``{process: {role, metrics_url, ok, error, series}}`` (series: sample count)."""
    out: dict[str, Any] = {}
    for s in scrapes:
        series = 0
        if s.ok:
            series = sum(len(f.samples) for f in text_string_to_metric_families(s.text))
        out[s.target.process] = {"role": s.target.role, "metrics_url": s.target.metrics_url,
                                 "ok": s.ok, "error": s.error, "series": series}
    return out


def file_sd_targets(targets_: Iterable[Target]) -> list[dict[str, Any]]:
    """Prometheus ``file_sd_configs`` entries: one per process, labelled process/role."""
    return [
        {"targets": [t.metrics_url.split("://", 1)[1].split("/", 1)[0]],
         "labels": {"process": t.process, "role": t.role}}
        for t in targets_
    ]
