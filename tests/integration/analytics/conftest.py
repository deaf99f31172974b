"""One analytics service (a child process) and one two-tenant data set for this package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from analytics_helpers import Analytics, TenantData, populate, start_analytics, stop_analytics

from somagent.config import Settings


@pytest.fixture(scope="session")
def analytics(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Analytics]:
    service = start_analytics(settings, tmp_path_factory.mktemp("analytics-home"))
    try:
        yield service
    finally:
        stop_analytics(service)


@pytest.fixture(scope="session")
def data(
    settings: Settings, analytics: Analytics, tmp_path_factory: pytest.TempPathFactory
) -> TenantData:
    return populate(settings, analytics.service(), tmp_path_factory.mktemp("analytics-secret"))
