"""Run analytics: one record per finished run, in the main database or in ClickHouse.

`open_analytics(settings, db)` picks the store: ClickHouse when
NETRA_CLICKHOUSE_URL is set, else the `run_analytics` table of the main database.
The run layer hands each finished run's `RunRecord` to `AnalyticsSink.record`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netra.analytics.records import MAX_DAYS, RunRecord, UsageReport, UsageTotals
from netra.analytics.sink import AnalyticsSink, AnalyticsStore

__all__ = [
    "MAX_DAYS",
    "AnalyticsSink",
    "AnalyticsStore",
    "RunRecord",
    "UsageReport",
    "UsageTotals",
    "open_analytics",
]

if TYPE_CHECKING:
    from netra.config import Settings
    from netra.db.engine import Database


def open_analytics(settings: Settings, db: Database) -> AnalyticsSink:
    """The sink the settings ask for (not started: call `start()` in the event loop)."""
    store: AnalyticsStore
    if settings.clickhouse_url is not None:
        from netra.analytics.clickhouse import ClickHouseAnalyticsStore

        store = ClickHouseAnalyticsStore(settings.clickhouse_url.get_secret_value())
    else:
        from netra.analytics.sql import SqlAnalyticsStore

        store = SqlAnalyticsStore(db)
    return AnalyticsSink(
        store,
        capacity=settings.analytics_buffer,
        batch_size=settings.analytics_batch_size,
        flush_interval=settings.analytics_flush_interval,
    )
