"""The Prometheus and Grafana files in infra/ name only metrics docs/observability.md lists."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
_SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def _documented() -> set[str]:
    text = (ROOT / "docs" / "observability.md").read_text()
    return set(re.findall(r"`(somagent_[a-z_]+)`", text))


def _base(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in _documented():
            return name[: -len(suffix)]
    return name


def test_every_dashboard_query_uses_documented_metrics() -> None:
    dash = json.loads((ROOT / "infra/grafana/dashboards/somagent.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {_base(n) for e in exprs for n in re.findall(r"\b(somagent_[a-z_]+)", e)}
    assert used and used <= _documented(), sorted(used - _documented())
    assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"])
    uid = dash["panels"][0]["datasource"]["uid"]
    ds = yaml.safe_load((ROOT / "infra/grafana/provisioning/datasources/prometheus.yml")
                        .read_text())
    assert ds["datasources"][0]["uid"] == uid


def test_prometheus_scrapes_compose_roles_and_local_targets() -> None:
    conf = yaml.safe_load((ROOT / "infra/prometheus/prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in conf["scrape_configs"]}
    assert set(jobs) == {"somagent-compose", "somagent-local"}
    dns = jobs["somagent-compose"]["dns_sd_configs"][0]
    assert set(dns["names"]) == {"api", "worker", "billing", "jobs", "projector", "memory"}
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["x-somagent-env"]["SOMAGENT_HEALTH_PORT"] == str(dns["port"])
    assert {"prometheus", "grafana"} <= set(compose["services"])
    assert set(dns["names"]) <= set(compose["services"])
