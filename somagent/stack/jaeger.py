"""Jaeger all-in-one (v1): the trace collector the tracing tests export to.

The ``jaeger`` binary (Jaeger v2, an OpenTelemetry Collector distribution) is built
once from the Go module proxy into ``cache_path/jaeger-1.76.0/jaeger``. ``go install
github.com/jaegertracing/jaeger/cmd/jaeger@v1.76.0`` is refused by Go ("The go.mod
file for the module providing named packages contains one or more replace
directives"), so it is built as a tool of a throw-away module: ``go mod init``, ``go
get -tool github.com/jaegertracing/jaeger/cmd/jaeger@v1.76.0``, ``go build`` (its one
replace, of the unused ``github.com/Shopify/sarama``, does not matter; ~4 minutes
cold on 2 cores, a 120 MB binary), the way ``somagent.stack.temporal`` builds the
Temporal CLI: a fresh clone's ``make test`` builds it (``python -m
somagent.stack.jaeger``), later runs reuse it. Concurrent builds are serialised by a
lock file beside it. Jaeger is not a platform component: only tests and operators who
want a local collector start it (:func:`config` writes a loopback-only all-in-one
configuration with in-memory storage, :func:`argv` the command line).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from somagent.config import Settings
from somagent.stack import process
from somagent.stack.gobuild import build_once, go_binary, run_go

JAEGER_VERSION = "1.76.0"
JAEGER_MODULE = "github.com/jaegertracing/jaeger/cmd/jaeger"
BUILD_TIMEOUT_S = 3600.0


def binary_path(settings: Settings) -> Path:
    return settings.cache_path / f"jaeger-{JAEGER_VERSION}" / "jaeger"


def build(settings: Settings) -> Path:
    """The cached ``jaeger`` binary, built (see the module doc) when missing (once)."""
    go = go_binary("jaeger", "install Go 1.24+ (https://go.dev/dl) to build Jaeger")

    def steps(work: Path) -> Path:
        built = work / "jaeger"
        for command in (
            [go, "mod", "init", "somagent.local/jaeger-build"],
            [go, "get", "-tool", f"{JAEGER_MODULE}@v{JAEGER_VERSION}"],
            [go, "build", "-o", str(built), JAEGER_MODULE],
        ):
            run_go("jaeger", command, cwd=str(work), env={"GOFLAGS": "-mod=mod"},
                   timeout_s=BUILD_TIMEOUT_S)
        return built

    return build_once(binary_path(settings), "jaeger", steps)


@dataclass(frozen=True)
class JaegerPorts:
    """Loopback ports of one Jaeger: OTLP/HTTP and gRPC receivers, query HTTP and gRPC,
    health check, its own metrics."""

    otlp_http: int
    otlp_grpc: int
    query_http: int
    query_grpc: int
    health: int
    metrics: int

    @classmethod
    def free(cls) -> JaegerPorts:
        return cls(*(process.free_port() for _ in range(6)))

    @property
    def otlp_endpoint(self) -> str:
        """What ``SOMAGENT_OTLP_ENDPOINT`` should be to export here."""
        return f"http://127.0.0.1:{self.otlp_http}"

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.query_http}"


def config(ports: JaegerPorts, max_traces: int = 100_000) -> str:
    """An all-in-one configuration: OTLP in, in-memory storage, the query API, every
    listener on 127.0.0.1 (the stock one listens on fixed ports)."""
    return f"""\
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: basic
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {ports.metrics}
    logs:
      level: warn
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:{ports.health}
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{ports.query_http}
    grpc:
      endpoint: 127.0.0.1:{ports.query_grpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: {max_traces}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{ports.otlp_grpc}
      http:
        endpoint: 127.0.0.1:{ports.otlp_http}
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


def argv(binary: Path, config_file: Path) -> list[str]:
    return [str(binary), "--config", f"file:{config_file}"]


def main() -> None:
    """``python -m somagent.stack.jaeger``: build (or find) the cached binary; print its path."""
    from somagent.config import load_settings

    print(build(load_settings()))


if __name__ == "__main__":
    main()
