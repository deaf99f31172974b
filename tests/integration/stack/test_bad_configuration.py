"""Bad configuration fails fast with a message that names the piece at fault."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from somagent.config import load_settings
from somagent.stack.exceptions import PortTaken, Unreachable
from somagent.stack.kafka import Kafka
from somagent.stack.postgres import Postgres
from somagent.stack.process import free_port
from somagent.stack.redis_server import Redis

pytestmark = pytest.mark.integration


def test_unreachable_external_kafka_is_named(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens there
    settings = load_settings(home=tmp_path, kafka_bootstrap=f"127.0.0.1:{dead}")
    with pytest.raises(Unreachable, match=rf"SOMAGENT_KAFKA_BOOTSTRAP=127\.0\.0\.1:{dead}"):
        Kafka(settings).start()


def test_unreachable_external_postgres_is_named(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/x"
    with pytest.raises(Unreachable, match="SOMAGENT_DATABASE_URL"):
        Postgres(load_settings(home=tmp_path, database_url=url)).start()


def test_unreachable_external_redis_is_named(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(Unreachable, match="SOMAGENT_REDIS_URL"):
        Redis(load_settings(home=tmp_path, redis_url=url)).start()


def test_port_taken_names_component_and_port(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        settings = load_settings(home=tmp_path, redis_port=port)
        with pytest.raises(PortTaken, match=rf"redis: port 127\.0\.0\.1:{port} is taken"):
            Redis(settings).start()
