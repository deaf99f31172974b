"""A process's ClickHouse client from its settings.

* ``SOMAGENT_CLICKHOUSE_URL=http(s)://user:password@host:8123/db``: that server's
  HTTP port, with the URL's credentials (a ClickHouse server, or another analytics
  service).
* otherwise: this installation's analytics service at
  ``settings.clickhouse_http_url`` (127.0.0.1:``SOMAGENT_CLICKHOUSE_HTTP_PORT``),
  as ``service`` with the service credential (read-write), or as ``operator``
  (read-only, every tenant), or as the service acting for one ``tenant``
  (read-only, that tenant's rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from somagent.analytics.client import HttpClickHouse
from somagent.analytics.exceptions import AnalyticsError
from somagent.config import Settings
from somagent.credentials import OPERATOR, SERVICE, operator_token, service_token


def analytics_client(
    settings: Settings,
    *,
    role: Literal["service", "operator"] = "service",
    tenant: str | None = None,
    timeout_s: float = 300.0,
    settings_per_query: Mapping[str, str] | None = None,
) -> HttpClickHouse:
    """The ClickHouse HTTP client this process should use (``settings_per_query``:
    URL settings sent with every request).

    Raises:
        AnalyticsError: a ``tenant`` was asked of a ClickHouse server URL (tenant
            scoping is the analytics service's), or the operator role acting for a tenant.
    """
    url = settings.clickhouse_url
    if url and url.startswith(("http://", "https://")):
        if tenant is not None:
            raise AnalyticsError(
                f"tenant-scoped ClickHouse access needs the analytics service; "
                f"SOMAGENT_CLICKHOUSE_URL points at {url.split('@')[-1]}"
            )
        return HttpClickHouse(url, timeout_s=timeout_s, settings=settings_per_query)
    if role == "operator" and tenant is not None:
        raise AnalyticsError("the operator reads every tenant; act for a tenant as the service")
    home = settings.home_dir
    user, key = (
        (OPERATOR, operator_token(home)) if role == "operator" else (SERVICE, service_token(home))
    )
    return HttpClickHouse(
        settings.clickhouse_http_url,
        user=user,
        key=key,
        database=settings.clickhouse_database,
        tenant=tenant,
        timeout_s=timeout_s,
        settings=settings_per_query,
    )
