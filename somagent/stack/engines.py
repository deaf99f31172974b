"""The in-process engines of the stack: ClickHouse (chDB) and Qdrant (local mode).

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
from somagent.projections.clickhouse import apply_ddl, chdb_is_open, connect, release_chdb
from somagent.stack.component import ComponentStatus
from somagent.stack.exceptions import Unreachable


class ClickHouseEngine:
    """The ``clickhouse`` component: chDB by default, a server when configured."""

    name = "clickhouse"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._owned = False

    @property
    def external(self) -> bool:
        return self.settings.clickhouse_url is not None

    @property
    def address(self) -> str:
        return self.settings.clickhouse_url or f"chdb://{self.settings.clickhouse_path}"

    def start(self) -> None:
        # A session this process already used (e.g. projector threads) stays open.
        self._owned = self.external or chdb_is_open(self.settings.clickhouse_path)
        try:
            ch = connect(self.settings)
            apply_ddl(ch)
            ch.close()
        except Exception as exc:
            self._release()
            if self.external:
                raise Unreachable(
                    f"clickhouse: SOMAGENT_CLICKHOUSE_URL={self.settings.clickhouse_url} "
                    f"is unreachable or rejected the DDL: {exc}"
                ) from exc
            raise
        self._release()

    def _release(self) -> None:
        # The platform process must own the chDB directory; this one lets go of a
        # session it opened only for the DDL or a probe.
        if not self._owned:
            release_chdb(self.settings.clickhouse_path)

    def stop(self) -> bool:
        return False

    def status_via(self, readiness: dict[str, Any]) -> ComponentStatus:
        """Status as reported by the owning platform process's ``/readyz``."""
        check = readiness.get("checks", {}).get(self.name, {})
        detail = str(check.get("detail", "no check reported"))
        healthy = bool(check.get("ok"))
        return ComponentStatus(
            name=self.name,
            mode="external" if self.external else "embedded",
            address=self.address,
            healthy=healthy,
            version=detail.split()[-1] if healthy else None,
            detail="" if healthy else detail,
        )

    def status(self) -> ComponentStatus:
        self._owned = self.external or chdb_is_open(self.settings.clickhouse_path)
        try:
            ch = connect(self.settings)
            version, healthy, detail = ch.version(), True, ""
            ch.close()
        except Exception as exc:
            version, healthy, detail = None, False, str(exc)
        finally:
            self._release()
        return ComponentStatus(
            name=self.name,
            mode="external" if self.external else "embedded",
            address=self.address,
            healthy=healthy,
            version=version,
            detail=detail,
        )


def open_qdrant(settings: Settings) -> object:
    """A ``QdrantClient``: the server at ``SOMAGENT_QDRANT_URL`` or the embedded engine."""
    from qdrant_client import QdrantClient

    if settings.qdrant_url:
        return QdrantClient(url=settings.qdrant_url, timeout=5)
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    return QdrantClient(path=str(settings.qdrant_path))


class QdrantEngine:
    """The ``qdrant`` component: embedded local mode by default, a server when configured."""

    name = "qdrant"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def external(self) -> bool:
        return self.settings.qdrant_url is not None

    @property
    def address(self) -> str:
        return self.settings.qdrant_url or f"embedded://{self.settings.qdrant_path}"

    def _probe(self) -> str:
        client = open_qdrant(self.settings)
        try:
            client.get_collections()  # type: ignore[attr-defined]
            if self.external:
                info = client.info()  # type: ignore[attr-defined]
                return str(info.version)
            # Local mode is the engine compiled into qdrant-client; it has no server version.
            return f"qdrant-client {dist_version('qdrant-client')} (local mode)"
        finally:
            client.close()  # type: ignore[attr-defined]

    def start(self) -> None:
        try:
            self._probe()
        except Exception as exc:
            if self.external:
                raise Unreachable(
                    f"qdrant: SOMAGENT_QDRANT_URL={self.settings.qdrant_url} is unreachable: {exc}"
                ) from exc
            raise

    def stop(self) -> bool:
        return False

    def status_via(self, readiness: dict[str, Any]) -> ComponentStatus:
        """Status as reported by the owning platform process's ``/readyz``."""
        check = readiness.get("checks", {}).get(self.name, {})
        healthy = bool(check.get("ok"))
        version = None
        if healthy:
            version = (
                str(check.get("detail"))
                if self.external
                else f"qdrant-client {dist_version('qdrant-client')} (local mode)"
            )
        return ComponentStatus(
            name=self.name,
            mode="external" if self.external else "embedded",
            address=self.address,
            healthy=healthy,
            version=version,
            detail="" if healthy else str(check.get("detail", "no check reported")),
        )

    def status(self) -> ComponentStatus:
        try:
            version, healthy, detail = self._probe(), True, ""
        except Exception as exc:
            version, healthy, detail = None, False, str(exc)
        return ComponentStatus(
            name=self.name,
            mode="external" if self.external else "embedded",
            address=self.address,
            healthy=healthy,
            version=version,
            detail=detail,
        )
