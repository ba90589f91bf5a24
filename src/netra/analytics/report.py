"""`netra analytics`: the usage report across users, from whichever sink is configured."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from netra.analytics import open_analytics
from netra.analytics.records import UsageReport, UsageTotals

if TYPE_CHECKING:
    from netra.config import Settings

_COLUMNS = ("runs", "failures", "cancelled", "tokens_in", "tokens_out")


async def operator_report(settings: Settings, days: int) -> UsageReport:
    """Every user's runs over the last `days` days, from the configured store."""
    from netra.db.engine import Database

    db = Database(settings.resolved_database_url)
    sink = open_analytics(settings, db)
    try:
        return await sink.usage(days, None)
    finally:
        await sink.store.close()
        await db.dispose()


def report_tables(report: UsageReport) -> list[Table]:
    """The report as tables for a terminal: per day, per agent, per user, and totals."""
    tables = []
    groups: list[tuple[str, str, dict[str, UsageTotals]]] = [
        ("day", "per day", {day.isoformat(): t for day, t in sorted(report.by_day.items())}),
        ("agent", "per agent", report.by_agent),
        ("user", "per user", report.by_user or {}),
    ]
    for key, title, rows in groups:
        table = Table(title=f"{title}, last {report.days} days (since {report.since})")
        table.add_column(key, no_wrap=True)
        for column in _COLUMNS:
            table.add_column(column.replace("_", " "), justify="right")
        for name, totals in rows.items():
            table.add_row(name, *(str(getattr(totals, column)) for column in _COLUMNS))
        table.add_row("total", *(str(getattr(report.totals, c)) for c in _COLUMNS), style="bold")
        tables.append(table)
    return tables
