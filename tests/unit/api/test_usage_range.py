"""GET /v1/usage's range defaults and grouping suggestions (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from somagent.api.routes_usage import current_day, suggested_group


def test_current_day_is_the_utc_day_of_now() -> None:
    late_in_tokyo = datetime(2026, 3, 2, 1, 30, tzinfo=timezone(timedelta(hours=9)))
    assert current_day(late_in_tokyo) == (datetime(2026, 3, 1, tzinfo=UTC),
                                          datetime(2026, 3, 2, tzinfo=UTC))


def test_suggested_group_is_the_finest_that_fits() -> None:
    assert suggested_group(timedelta(days=1)) == "minute"
    assert suggested_group(timedelta(days=31)) == "minute"
    assert suggested_group(timedelta(days=32)) == "hour"
    assert suggested_group(timedelta(days=400)) == "hour"
    assert suggested_group(timedelta(days=401)) is None
