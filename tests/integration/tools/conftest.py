"""An analytics service of its own (a child process) with two tenants' data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from integration.analytics.analytics_helpers import (
    Analytics,
    TenantData,
    populate,
    start_analytics,
    stop_analytics,
)

from somagent.config import Settings


@pytest.fixture(scope="module")
def analytics(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Analytics]:
    service = start_analytics(settings, tmp_path_factory.mktemp("tools-analytics-home"))
    try:
        yield service
    finally:
        stop_analytics(service)


@pytest.fixture(scope="module")
def data(
    settings: Settings, analytics: Analytics, tmp_path_factory: pytest.TempPathFactory
) -> TenantData:
    return populate(settings, analytics.service(), tmp_path_factory.mktemp("tools-secret"))
