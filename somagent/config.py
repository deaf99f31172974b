"""One validated settings object, read from ``SOMAGENT_*`` environment variables.

Every address the platform uses comes from here. A component whose external URL
is set (``SOMAGENT_KAFKA_BOOTSTRAP``, ``SOMAGENT_DATABASE_URL``,
``SOMAGENT_REDIS_URL``, ``SOMAGENT_CLICKHOUSE_URL``, ``SOMAGENT_QDRANT_URL``,
``SOMAGENT_TEMPORAL_ADDRESS``) is
treated as external: ``somagent up`` does not start it and talks to that server.
All servers the stack starts itself listen on loopback only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from somagent.exceptions import ConfigError

Port = Annotated[int, Field(ge=1, le=65535)]

_LOOPBACK = "127.0.0.1"


def _check_url(value: str | None, schemes: tuple[str, ...], name: str) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"{name} must look like {schemes[0]}://host:port/..., got {value!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{name} has an invalid port: {value!r}") from exc
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"{name} has a port outside 1..65535: {value!r}")
    return value


class Settings(BaseSettings):
    """Settings for every SomaGent process.

    Defaults give a single-machine stack under ``./.somagent`` with ports chosen
    away from the usual ones so it can sit beside a developer's own servers.
    """

    model_config = SettingsConfigDict(env_prefix="SOMAGENT_", frozen=True, extra="ignore")

    home: Path = Path(".somagent")
    cache_dir: Path | None = None
    kafka_bootstrap: str | None = None
    kafka_port: Port = 19092
    kafka_controller_port: Port = 19093
    topic_partitions: Annotated[int, Field(ge=1, le=1024)] = 6
    database_url: str | None = None
    postgres_port: Port = 15432
    database_name: str = "somagent"
    redis_url: str | None = None
    redis_port: Port = 16379
    clickhouse_url: str | None = None
    clickhouse_database: str = "somagent"
    qdrant_url: str | None = None
    # The embedded vector engine when no SOMAGENT_QDRANT_URL is set: Qdrant Edge (Qdrant's
    # engine in process, HNSW; the default) or qdrant-client's local mode (an exact
    # Python scan, kept as the exact-search reference). Both persist under qdrant_path.
    vector_engine: Literal["edge", "local"] = "edge"
    # The Memory Gateway's embedder: all-MiniLM-L6-v2 (int8 ONNX, 384 dimensions; the
    # default) or the lexical hashing HRR embedder (1024 dimensions, no model). Each has
    # its own collection, rebuilt from memory.events when first opened (docs/brain.md).
    embedder: Literal["semantic", "hashing"] = "semantic"
    # The analytics service (owner of the embedded ClickHouse directory) serves
    # ClickHouse's HTTP interface here; the Memory Gateway (owner of the vector
    # store) serves recall/remember here. Both listen on loopback only.
    clickhouse_http_port: Port = 18123
    memory_port: Port = 18790
    # Where the Memory Gateway listens, and where other processes find it when it runs
    # elsewhere (compose, a cluster): SOMAGENT_MEMORY_HOST / SOMAGENT_MEMORY_GATEWAY_URL.
    memory_host: str = _LOOPBACK
    memory_gateway_url: str | None = None
    api_host: str = _LOOPBACK
    api_port: Port = 8787
    # The region this installation serves (SOMAGENT_REGION): the edge answers a request
    # for a tenant whose residency is another region with 421 naming the right one.
    # None (the default): no pinning, one installation serves every region.
    region: Literal["eu", "us"] | None = None
    # Seal PII payload fields with per-tenant data keys (SOMAGENT_SEAL_PII; off by
    # default): somagent/erasure/sealer.py, docs/plans.md "Retention and erasure".
    seal_pii: bool = False
    startup_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 180.0
    # The Faust worker's app id (its consumer group and table topic prefix), and where a
    # group without committed offsets starts reading conversation.events. Keep "earliest"
    # in production: with "latest", a worker restarted before its group committed on a
    # partition skips the turns requested there.
    worker_app_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,100}$")] = "somagent"
    worker_start_from: Literal["earliest", "latest"] = "earliest"
    kafka_heap: str = "512m"
    # Which billing aggregator runs: the Faust ``billing`` agent (at least once, state
    # records + outbox; ~10k usage events/s here) or the transactional confluent-kafka
    # worker (exactly-once batches; ~65k/s). Both produce the same ledger.
    billing_engine: Literal["faust", "transactional"] = "faust"
    # Jobs run on Temporal: an external cluster at SOMAGENT_TEMPORAL_ADDRESS (host:port),
    # else the local dev server the stack starts on temporal_port (loopback, SQLite file
    # under home). The jobs workers poll temporal_task_queue in temporal_namespace.
    temporal_address: str | None = None
    # OpenTelemetry traces (docs/observability.md): OTLP over HTTP to this base URL
    # (e.g. http://127.0.0.1:4318); unset: no spans are exported.
    otlp_endpoint: str | None = None
    temporal_port: Port = 17233
    temporal_namespace: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,200}$")] = "default"
    temporal_task_queue: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,200}$")] = (
        "somagent-jobs"
    )
    # Artifacts (capsules, agents): blobs in an S3-compatible server (the local Versity
    # S3 gateway, or SOMAGENT_S3_URL=http://ACCESS:SECRET@host:port/bucket), or in
    # Postgres with SOMAGENT_ARTIFACT_STORE=postgres. A signed upload is at most
    # artifact_max_bytes (the request body, envelope included).
    s3_url: str | None = None
    s3_port: Port = 17070
    s3_bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{2,62}$")] = "somagent-artifacts"
    artifact_store: Literal["s3", "postgres"] = "s3"
    artifact_max_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 1024 * 1024
    # The policy engine (issue 16): an external OPA at SOMAGENT_OPA_URL, else the local
    # `opa run --server` the stack starts on opa_port (loopback). The policy role (the
    # constitution service) listens on policy_port for OPA's decision logs. A policy is
    # active once constitution_k of the constitution public keys signed it: the *.pub
    # files in SOMAGENT_CONSTITUTION_KEYS_DIR (default home/keys/constitution).
    opa_url: str | None = None
    opa_port: Port = 18181
    policy_port: Port = 18182
    policy_host: str = _LOOPBACK
    constitution_keys_dir: Path | None = None
    constitution_k: Annotated[int, Field(ge=1, le=64)] = 2
    # How long a gate reuses an OPA decision for the same (policy, input) (0: ask every time).
    policy_cache_ttl_s: Annotated[float, Field(ge=0, le=300)] = 2.0
    # How the python tool's snippets are isolated: in namespaces with bubblewrap (no
    # network, read-only system view, own scratch dir and pid namespace), or "none":
    # resource limits only, for hosts that forbid namespaces (unsafe with untrusted code).
    tool_sandbox: Literal["namespaces", "none"] = "namespaces"
    # One host directory every snippet may write (shared by all tenants: tests that
    # observe a side effect, single-tenant installations); unset in production.
    tool_sandbox_writable: Path | None = None

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap(cls, value: str | None) -> str | None:
        if not value:
            return None
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(
                    f"SOMAGENT_KAFKA_BOOTSTRAP must be host:port[,host:port], got {value!r}"
                )
        return value

    @field_validator("temporal_address")
    @classmethod
    def _temporal_address(cls, value: str | None) -> str | None:
        if not value:
            return None
        host, sep, port = value.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"SOMAGENT_TEMPORAL_ADDRESS must be host:port, got {value!r}")
        return value.strip()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        return _check_url(value, ("postgresql", "postgres"), "SOMAGENT_DATABASE_URL")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        return _check_url(value, ("redis", "rediss"), "SOMAGENT_REDIS_URL")

    @field_validator("clickhouse_url")
    @classmethod
    def _clickhouse_url(cls, value: str | None) -> str | None:
        # clickhouse:// is the native protocol; http(s):// a server's HTTP interface
        return _check_url(
            value, ("clickhouse", "clickhouses", "http", "https"), "SOMAGENT_CLICKHOUSE_URL"
        )

    @field_validator("memory_gateway_url")
    @classmethod
    def _memory_gateway_url(cls, value: str | None) -> str | None:
        return _check_url(value, ("http", "https"), "SOMAGENT_MEMORY_GATEWAY_URL")

    @field_validator("opa_url")
    @classmethod
    def _opa_url(cls, value: str | None) -> str | None:
        return _check_url(value, ("http", "https"), "SOMAGENT_OPA_URL")

    @field_validator("s3_url")
    @classmethod
    def _s3_url(cls, value: str | None) -> str | None:
        return _check_url(value, ("http", "https"), "SOMAGENT_S3_URL")

    @field_validator("qdrant_url")
    @classmethod
    def _qdrant_url(cls, value: str | None) -> str | None:
        return _check_url(value, ("http", "https"), "SOMAGENT_QDRANT_URL")

    # -- effective addresses -------------------------------------------------

    @property
    def home_dir(self) -> Path:
        """Absolute data directory; everything the stack writes lives below it.

        A plain property (not cached): ``model_copy(update={"home": ...})`` must not
        carry the original's directory over.
        """
        return Path(self.home).expanduser().resolve()

    @property
    def cache_path(self) -> Path:
        """Downloads kept between runs (Kafka jars); ``SOMAGENT_CACHE_DIR`` or ``home/cache``."""
        return (self.cache_dir or self.home_dir / "cache").expanduser().resolve()

    @property
    def kafka_servers(self) -> str:
        return self.kafka_bootstrap or f"{_LOOPBACK}:{self.kafka_port}"

    @property
    def postgres_dsn(self) -> str:
        return self.database_url or (
            f"postgresql://postgres@{_LOOPBACK}:{self.postgres_port}/{self.database_name}"
        )

    @property
    def redis_dsn(self) -> str:
        return self.redis_url or f"redis://{_LOOPBACK}:{self.redis_port}/0"

    @property
    def clickhouse_path(self) -> Path:
        """chDB's persistent data directory (used when no ClickHouse URL is set)."""
        return self.home_dir / "clickhouse"

    @property
    def qdrant_path(self) -> Path:
        """Embedded Qdrant's persistent directory (used when no Qdrant URL is set): local
        mode keeps its collections here, Qdrant Edge one shard per collection in ``edge/``."""
        return self.home_dir / "qdrant"

    @property
    def clickhouse_http_url(self) -> str:
        """The analytics service's ClickHouse HTTP interface (embedded chDB served)."""
        return f"http://{_LOOPBACK}:{self.clickhouse_http_port}"

    @property
    def memory_url(self) -> str:
        """The Memory Gateway's HTTP API (``SOMAGENT_MEMORY_GATEWAY_URL`` or loopback)."""
        return (self.memory_gateway_url or f"http://{_LOOPBACK}:{self.memory_port}").rstrip("/")

    @property
    def temporal_target(self) -> str:
        """Where the Temporal frontend answers: ``SOMAGENT_TEMPORAL_ADDRESS`` or loopback."""
        return self.temporal_address or f"{_LOOPBACK}:{self.temporal_port}"

    @property
    def s3_path(self) -> Path:
        """The local S3 server's data directory (one sub-directory per bucket)."""
        return self.home_dir / "s3"

    @property
    def s3_endpoint(self) -> str:
        """The S3 endpoint without credentials or bucket (``SOMAGENT_S3_URL`` or loopback)."""
        if self.s3_url:
            parts = urlsplit(self.s3_url)
            host = parts.hostname or _LOOPBACK
            port = f":{parts.port}" if parts.port else ""
            return f"{parts.scheme}://{host}{port}"
        return f"http://{_LOOPBACK}:{self.s3_port}"

    @property
    def opa_endpoint(self) -> str:
        """Where OPA's REST API answers: ``SOMAGENT_OPA_URL`` or the local server."""
        return (self.opa_url or f"http://{_LOOPBACK}:{self.opa_port}").rstrip("/")

    @property
    def constitution_keys_path(self) -> Path:
        """The directory of constitution public keys (``*.pub``, raw Ed25519, base64url)."""
        return (self.constitution_keys_dir or self.home_dir / "keys" / "constitution").expanduser()

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    def to_env(self) -> dict[str, str]:
        """These settings as ``SOMAGENT_*`` variables, for a child process to read back."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is not None:
                env[f"SOMAGENT_{name.upper()}"] = str(value)
        env["SOMAGENT_HOME"] = str(self.home_dir)
        return env


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise :class:`ConfigError` naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"SOMAGENT_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
