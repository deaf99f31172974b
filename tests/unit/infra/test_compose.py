"""docker-compose.yml passes the Compose client's own validation (no engine needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_file_is_valid() -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no docker compose client on this machine")
    # the file requires both secrets
    env = {**os.environ, "SOMAGENT_SERVICE_TOKEN": "x" * 43, "SOMAGENT_S3_SECRET": "y" * 43}
    result = subprocess.run([*cli, "config", "-q"], cwd=REPO, capture_output=True, text=True,
                            env=env)
    assert result.returncode == 0, result.stderr


def test_compose_declares_every_server_and_role() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    for image in (
        "apache/kafka:3.9",
        "postgres:",
        "redis:",
        "clickhouse/clickhouse-server",
        "qdrant/qdrant",
        "temporalio/auto-setup:1.29.1",
        "versity/versitygw",
    ):
        assert image in text
    for role in ('["serve", "api", "--reuse-port"]', '["serve", "worker"]',
                 '["serve", "projector"]', '["serve", "billing"]', '["serve", "memory"]',
                 '["serve", "jobs"]'):
        assert role in text
