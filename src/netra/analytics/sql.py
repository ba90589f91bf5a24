"""The default analytics store: the `run_analytics` table of the main database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, String, case, func, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from netra.analytics.records import RunRecord, UsageRow, UsageTotals
from netra.analytics.sink import AnalyticsRejected, AnalyticsUnavailable
from netra.db.engine import Database
from netra.db.models import RunAnalytics

_TABLE = RunAnalytics.__table__
#: Widths of the text columns a record's free-form values go to: a model name longer
#: than its column (NETRA_MODEL_NAME is not bounded) must not make the batch fail forever.
_WIDTHS = {
    name: column.type.length
    for name, column in _TABLE.columns.items()
    if isinstance(column.type, String) and column.type.length
}


class SqlAnalyticsStore:
    """Records in the main database (SQLite or PostgreSQL), one row per run."""

    backend = "sql"

    def __init__(self, db: Database) -> None:
        self._db = db
        dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
        # A batch written again after a COMMIT that reported failure but was applied
        # adds nothing: a run's record is keyed by its id.
        self._insert = dialect.insert(_TABLE).on_conflict_do_nothing(index_elements=["run_id"])

    async def prepare(self) -> None:
        """Check that the table is there (it comes with the schema, migration 0005), so
        that `netra analytics` on a database never upgraded says what to do."""

        def has_table(connection: Connection) -> bool:
            return inspect(connection).has_table(RunAnalytics.__tablename__)

        async with self._db.engine.connect() as connection:
            if not await connection.run_sync(has_table):
                raise AnalyticsUnavailable(
                    "the database has no run_analytics table: run `netra db upgrade`, or "
                    "point NETRA_DATABASE_URL (or NETRA_DATA_DIR) at the server's database"
                )

    async def write(self, records: Sequence[RunRecord]) -> None:
        rows = [_fit(record.as_row()) for record in records]

        def insert(connection: Connection) -> None:
            connection.execute(self._insert, rows)

        try:
            await self._db.run_transaction(insert)
        except Exception as exc:
            if _refused_for_content(exc):
                raise AnalyticsRejected(f"{type(exc).__name__}: {exc}") from exc
            raise

    async def usage(self, since: date, user_id: str | None) -> list[UsageRow]:
        t = RunAnalytics
        groups: list[Any] = [t.day, t.agent]
        if user_id is None:
            groups.append(t.user_id)
        query = (
            select(
                *groups,
                func.count(),
                func.sum(case((t.outcome == "failed", 1), else_=0)),
                func.sum(case((t.outcome == "cancelled", 1), else_=0)),
                func.sum(t.tokens_in),
                func.sum(t.tokens_out),
            )
            .where(t.day >= since)
            .group_by(*groups)
        )
        if user_id is not None:  # a user's report reads only their own records
            query = query.where(t.user_id == user_id)
        try:
            async with self._db.read() as session:
                rows = (await session.execute(query)).all()
        except (DBAPIError, OSError) as exc:
            raise AnalyticsUnavailable(f"{type(exc).__name__}: {exc}") from exc
        usage = []
        for row in rows:
            *keys, runs, failures, cancelled, tokens_in, tokens_out = row
            totals = UsageTotals(
                int(runs), int(failures), int(cancelled), int(tokens_in), int(tokens_out)
            )
            day, agent = keys[0], keys[1]
            usage.append(UsageRow(day, agent, keys[2] if user_id is None else None, totals))
        return usage

    async def close(self) -> None:
        """Nothing: the database belongs to the platform."""


def _refused_for_content(error: BaseException) -> bool:
    """Whether the database (or its driver, before sending) refused the values: an integrity
    or data error (SQLSTATE classes 22 and 23), or a value the driver cannot encode (an
    integer beyond 64 bits: OverflowError from sqlite3, a DataError, a ValueError, from
    asyncpg). Connection errors and the like are none of these."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, IntegrityError | DataError | OverflowError | ValueError):
            return True
        if str(getattr(seen, "sqlstate", "") or "").startswith(("22", "23")):
            return True
        seen = seen.__cause__  # not __context__: an error handled before is no evidence
    return False


def _fit(row: dict[str, Any]) -> dict[str, Any]:
    """The row with each text value cut to its column's width."""
    for name, width in _WIDTHS.items():
        value = row.get(name)
        if isinstance(value, str) and len(value) > width:
            row[name] = value[:width]
    return row
