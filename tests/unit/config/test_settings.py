"""Settings are validated, and each error names the environment variable."""

from __future__ import annotations

import pytest

from somagent.config import load_settings
from somagent.exceptions import ConfigError


def test_defaults_point_at_loopback() -> None:
    s = load_settings()
    assert s.kafka_servers == "127.0.0.1:19092"
    assert s.postgres_dsn.startswith("postgresql://postgres@127.0.0.1:15432/")
    assert s.redis_dsn == "redis://127.0.0.1:16379/0"


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        ("SOMAGENT_REDIS_PORT", "99999", "SOMAGENT_REDIS_PORT"),
        ("SOMAGENT_KAFKA_PORT", "zero", "SOMAGENT_KAFKA_PORT"),
        ("SOMAGENT_KAFKA_BOOTSTRAP", "no-port-here", "SOMAGENT_KAFKA_BOOTSTRAP"),
        ("SOMAGENT_DATABASE_URL", "mysql://h/db", "SOMAGENT_DATABASE_URL"),
        ("SOMAGENT_REDIS_URL", "redis://h:70000/0", "SOMAGENT_REDIS_URL"),
        ("SOMAGENT_TOPIC_PARTITIONS", "0", "SOMAGENT_TOPIC_PARTITIONS"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, named: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=named):
        load_settings()


def test_external_urls_replace_local_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOMAGENT_KAFKA_BOOTSTRAP", "127.0.0.1:9092,127.0.0.1:9093")
    monkeypatch.setenv("SOMAGENT_REDIS_URL", "redis://127.0.0.1:6379/2")
    s = load_settings()
    assert s.kafka_servers == "127.0.0.1:9092,127.0.0.1:9093"
    assert s.redis_dsn == "redis://127.0.0.1:6379/2"
