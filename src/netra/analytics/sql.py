"""The default analytics store: the `run_analytics` table of the main database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, case, func, select
from sqlalchemy.dialects import postgresql, sqlite

from netra.analytics.records import RunRecord, UsageRow, UsageTotals
from netra.db.engine import Database
from netra.db.models import RunAnalytics

_TABLE = RunAnalytics.__table__


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
        """Nothing: the table comes with the schema (migration 0005)."""

    async def write(self, records: Sequence[RunRecord]) -> None:
        rows = [record.as_row() for record in records]

        def insert(connection: Connection) -> None:
            connection.execute(self._insert, rows)

        await self._db.run_transaction(insert)

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
        async with self._db.read() as session:
            result = await session.execute(query)
            rows = result.all()
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
