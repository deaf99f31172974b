"""Apache Kafka 3.9.1 in KRaft mode: one combined broker+controller JVM on loopback.

Jars come from Maven Central through ``infra/kafka/pom.xml`` and are cached under
``cache_path/kafka-<version>/libs`` (fetched once). Storage is formatted once with
``kafka.tools.StorageTool``; the cluster id is kept beside the data so a second
``up`` reuses it. The broker logs through reload4j into ``home/kafka/logs``.
"""

from __future__ import annotations

import base64
import logging
import re
import shutil
import subprocess
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from somagent.config import Settings
from somagent.kafka.admin import admin_client
from somagent.stack import process
from somagent.stack.component import ComponentStatus
from somagent.stack.exceptions import StackError, Unreachable
from somagent.wait import until

KAFKA_VERSION = "3.9.1"
INFRA = Path(__file__).resolve().parents[2] / "infra" / "kafka"
_VERSION_RE = re.compile(r"Kafka version: (\S+)")


# librdkafka logs every refused connection to stderr; route it through logging instead.
_CLIENT_LOG = logging.getLogger("somagent.stack.kafka.client")


def _admin(settings: Settings, timeout_s: float = 5.0) -> AdminClient:
    return admin_client(
        settings, **{"socket.timeout.ms": int(timeout_s * 1000), "logger": _CLIENT_LOG}
    )


def broker_reachable(settings: Settings, timeout_s: float = 5.0) -> bool:
    """True when a broker answers a metadata request within ``timeout_s``."""
    meta = _admin(settings, timeout_s).list_topics(timeout=timeout_s)
    return bool(meta.brokers)


def new_cluster_id() -> str:
    """Kafka's Uuid text form: 16 random bytes, URL-safe base64 without padding.

    Like Kafka's own ``Uuid.randomUuid()``, an id starting with ``-`` is drawn
    again: the storage tool would read it as an option.
    """
    while True:
        raw = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not raw.startswith("-"):
            return raw


class Kafka:
    """The ``kafka`` component of the stack."""

    name = "kafka"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.home_dir / "kafka"
        self.libs = settings.cache_path / f"kafka-{KAFKA_VERSION}" / "libs"
        self.pid_file = settings.home_dir / "run" / "kafka.pid"
        self.log_dir = self.dir / "logs"
        self.console_log = self.log_dir / "console.log"

    @property
    def external(self) -> bool:
        return self.settings.kafka_bootstrap is not None

    # -- start ---------------------------------------------------------------

    def start(self) -> None:
        if self.external:
            self._check_external()
            return
        if process.read_pid(self.pid_file) is not None:
            self.wait_ready()
            return
        process.require_port_free(self.settings.kafka_port, "kafka")
        process.require_port_free(self.settings.kafka_controller_port, "kafka controller")
        java = process.which(
            "java", "kafka", "install a Java 17 runtime (apt-get install openjdk-17-jre-headless)"
        )
        self.fetch_jars()
        props = self._write_config()
        self._format_storage(java, props)
        argv = [
            java,
            f"-Xmx{self.settings.kafka_heap}",
            f"-Xms{self.settings.kafka_heap}",
            "-XX:+UseG1GC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.log_dir}",
            f"-Dlog4j.configuration=file:{INFRA / 'log4j.properties'}",
            "-cp",
            f"{self.libs}/*",
            "kafka.Kafka",
            str(props),
        ]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        process.spawn(argv, pid_file=self.pid_file, log_file=self.console_log, cwd=self.dir)

    def wait_ready(self) -> None:
        pid = process.read_pid(self.pid_file)

        def ready() -> bool:
            if pid is not None:
                process.exited_early(pid, self.console_log, "kafka")
            return process.port_open(self.settings.kafka_port) and broker_reachable(
                self.settings, timeout_s=2.0
            )

        until(
            ready,
            timeout_s=self.settings.startup_timeout_s,
            what=f"kafka on {self.settings.kafka_servers}",
        )

    def fetch_jars(self) -> None:
        """Copy Kafka and its dependencies from Maven Central into the cache, once."""
        marker = self.libs / ".complete"
        if marker.exists():
            return
        mvn = process.which(
            "mvn", "kafka", "install Maven (apt-get install maven) to fetch the Kafka jars"
        )
        self.libs.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [
                mvn,
                "-B",
                "-q",
                "-f",
                str(INFRA / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.libs}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not any(self.libs.glob("kafka_2.13-*.jar")):
            shutil.rmtree(self.libs, ignore_errors=True)
            raise StackError(
                "kafka: jar download from Maven Central failed "
                f"(mvn exit {result.returncode}):\n{(result.stdout + result.stderr)[-2000:]}"
            )
        marker.write_text(KAFKA_VERSION + "\n")

    def _write_config(self) -> Path:
        data_dir = self.dir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        template = (INFRA / "server.properties").read_text()
        text = template.format(
            port=self.settings.kafka_port,
            controller_port=self.settings.kafka_controller_port,
            data_dir=data_dir,
            partitions=self.settings.topic_partitions,
        )
        props = self.dir / "server.properties"
        props.write_text(text)
        return props

    def _format_storage(self, java: str, props: Path) -> None:
        if (self.dir / "data" / "meta.properties").exists():
            return
        cluster_file = self.dir / "cluster.id"
        if not cluster_file.exists():
            cluster_file.write_text(new_cluster_id())
        cluster_id = cluster_file.read_text().strip()
        result = subprocess.run(
            [
                java,
                "-Xmx256m",
                "-cp",
                f"{self.libs}/*",
                f"-Dlog4j.configuration=file:{INFRA / 'log4j.properties'}",
                f"-Dkafka.logs.dir={self.log_dir}",
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(props),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(
                f"kafka: StorageTool format failed:\n{(result.stdout + result.stderr)[-2000:]}"
            )

    def _check_external(self) -> None:
        where = f"kafka: external broker SOMAGENT_KAFKA_BOOTSTRAP={self.settings.kafka_servers}"
        try:
            reachable = broker_reachable(self.settings, timeout_s=5.0)
        except Exception as exc:
            raise Unreachable(f"{where} is unreachable: {exc}") from exc
        if not reachable:
            raise Unreachable(f"{where} did not answer a metadata request within 5s")

    # -- stop / status ---------------------------------------------------------

    def stop(self) -> bool:
        return process.stop_recorded(self.pid_file, timeout_s=30.0)

    def version(self) -> str | None:
        """The version the broker logged at start-up (``AppInfoParser``: "Kafka version: X")."""
        log = self.log_dir / "server.log"
        try:
            found = _VERSION_RE.findall(log.read_text(errors="replace"))
        except OSError:
            return None
        return found[-1] if found else None

    def status(self) -> ComponentStatus:
        pid = None if self.external else process.read_pid(self.pid_file)
        try:
            healthy = broker_reachable(self.settings, timeout_s=2.0)
            detail = ""
        except Exception as exc:
            healthy, detail = False, str(exc)
        if not healthy and not detail:
            detail = "no broker answered"
        return ComponentStatus(
            name=self.name,
            mode="external" if self.external else "local",
            address=self.settings.kafka_servers,
            healthy=healthy,
            version=None if self.external else self.version(),
            pid=pid,
            detail=detail,
        )
