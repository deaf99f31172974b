"""The in-process engines of the stack: ClickHouse (chDB) and the vector store (Qdrant
Edge by default, or qdrant-client local mode: ``SOMAGENT_VECTOR_ENGINE``).

They have no server process; ``start`` creates their persistent directories and
applies the ClickHouse DDL. When ``SOMAGENT_CLICKHOUSE_URL`` / ``SOMAGENT_QDRANT_URL``
point at servers, ``start`` checks those instead. An embedded directory has one
owning process; while the platform process runs, ``status`` asks it (``/readyz``)
rather than opening the directory a second time.
"""

from __future__ import annotations

from importlib.metadata import version as dist_version
from typing import Any

from somagent.config import Settings
from somagent.projections.clickhouse import apply_ddl, connect
from somagent.stack.component import ComponentStatus
from somagent.stack.exceptions import Unreachable


class _Engine:
    """What both engines share: external or embedded, probe, status two ways."""

    name = ""
    url_variable = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def url(self) -> str | None:
        raise NotImplementedError

    @property
    def external(self) -> bool:
        return self.url is not None

    @property
    def address(self) -> str:
        raise NotImplementedError

    def _probe(self) -> str:
        """Ask the engine one real question; return its version."""
        raise NotImplementedError

    def _version_from_check(self, detail: str) -> str:
        raise NotImplementedError

    def start(self) -> None:
        try:
            self._probe()
        except Exception as exc:
            if self.external:
                raise Unreachable(
                    f"{self.name}: {self.url_variable}={self.url} is unreachable: {exc}"
                ) from exc
            raise

    def stop(self) -> bool:
        return False

    def _row(self, healthy: bool, version: str | None, detail: str) -> ComponentStatus:
        return ComponentStatus(
            name=self.name,
            mode="external" if self.external else "embedded",
            address=self.address,
            healthy=healthy,
            version=version,
            detail=detail,
        )

    def status(self) -> ComponentStatus:
        try:
            return self._row(True, self._probe(), "")
        except Exception as exc:
            return self._row(False, None, str(exc))

    def status_via(self, readiness: dict[str, Any]) -> ComponentStatus:
        """Status as reported by the owning platform process's ``/readyz``."""
        check = readiness.get("checks", {}).get(self.name, {})
        detail = str(check.get("detail", "no check reported"))
        if check.get("ok"):
            return self._row(True, self._version_from_check(detail), "")
        return self._row(False, None, detail)


class ClickHouseEngine(_Engine):
    """The ``clickhouse`` component: chDB served by the analytics role, or a server.

    Locally, the analytics role (``somagent serve analytics``) owns the chDB
    directory, applies the DDL of ``infra/clickhouse`` when it starts and serves
    ClickHouse's HTTP interface; this component asks that interface for the
    version. With ``SOMAGENT_CLICKHOUSE_URL``, ``start`` checks the server and
    applies the DDL.
    """

    name = "clickhouse"
    url_variable = "SOMAGENT_CLICKHOUSE_URL"

    @property
    def url(self) -> str | None:
        return self.settings.clickhouse_url

    @property
    def address(self) -> str:
        return self.url or f"{self.settings.clickhouse_http_url} (chdb://{self.settings.clickhouse_path})"

    def _probe(self, ddl: bool = False) -> str:
        if not self.external:
            return _analytics_version(self.settings)
        ch = connect(self.settings)
        try:
            if ddl:
                apply_ddl(ch)
            return ch.version()
        finally:
            ch.close()

    def start(self) -> None:
        try:
            self._probe(ddl=True)
        except Exception as exc:
            if self.external:
                raise Unreachable(
                    f"clickhouse: {self.url_variable}={self.url} "
                    f"is unreachable or rejected the DDL: {exc}"
                ) from exc
            raise

    def status(self) -> ComponentStatus:
        row = super().status()
        if not self.external and not row.healthy:
            detail = f"the analytics role does not answer ({row.detail})"
            return self._row(False, None, detail)
        return row

    def _version_from_check(self, detail: str) -> str:
        return detail.split()[-1]  # "<backend> <version>"


def _analytics_version(settings: Settings) -> str:
    """ClickHouse's version as the analytics role's HTTP interface reports it."""
    import httpx

    from somagent.credentials import service_token

    response = httpx.get(
        settings.clickhouse_http_url,
        params={"query": "SELECT version()"},
        headers={"X-ClickHouse-User": "service",
                 "X-ClickHouse-Key": service_token(settings.home_dir)},
        timeout=5.0,
    )
    response.raise_for_status()
    return f"{response.text.strip()} (chdb)"


def open_qdrant(settings: Settings) -> object:
    """A ``QdrantClient``: the server at ``SOMAGENT_QDRANT_URL`` or the embedded engine."""
    from qdrant_client import QdrantClient

    if settings.qdrant_url:
        return QdrantClient(url=settings.qdrant_url, timeout=5)
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    return QdrantClient(path=str(settings.qdrant_path))


def _embedded_version(settings: Settings) -> str:
    # Embedded engines have no server version: report the package that carries them.
    if settings.vector_engine == "edge":
        return f"qdrant-edge-py {dist_version('qdrant-edge-py')} (embedded, HNSW)"
    return f"qdrant-client {dist_version('qdrant-client')} (local mode)"


def _gateway_health(settings: Settings) -> dict[str, Any] | None:
    """The Memory Gateway's ``/healthz`` JSON when one answers (it then owns the store)."""
    import httpx

    try:
        response = httpx.get(f"{settings.memory_url}/healthz", timeout=2.0)
        body: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    return body if response.status_code == 200 else None


class QdrantEngine(_Engine):
    """The ``qdrant`` component: the embedded engine by default, a server when configured.

    A running Memory Gateway owns the embedded store; it is then asked (``/healthz``)
    instead of opening the directory a second time.
    """

    name = "qdrant"
    url_variable = "SOMAGENT_QDRANT_URL"

    @property
    def url(self) -> str | None:
        return self.settings.qdrant_url

    @property
    def address(self) -> str:
        if self.url:
            return self.url
        return f"embedded-{self.settings.vector_engine}://{self.settings.qdrant_path}"

    def _probe(self) -> str:
        if not self.external and self.settings.vector_engine == "edge":
            if _gateway_health(self.settings) is None:
                from somagent.memory.edge_store import EdgeMemoryStore
                from somagent.memory.embedders import spec_for
                from somagent.memory.store import edge_root

                spec = spec_for(self.settings)
                store = EdgeMemoryStore(edge_root(self.settings), spec.dim, spec.collection)
                store.ensure_collection()
                store.close()
            return _embedded_version(self.settings)
        client = open_qdrant(self.settings)
        try:
            client.get_collections()  # type: ignore[attr-defined]
            if self.external:
                return str(client.info().version)  # type: ignore[attr-defined]
            return _embedded_version(self.settings)
        finally:
            client.close()  # type: ignore[attr-defined]

    def _version_from_check(self, detail: str) -> str:
        return detail if self.external else _embedded_version(self.settings)
