"""The production analytics store: a MergeTree table in ClickHouse, over its HTTP interface.

Why not clickhouse-connect, ClickHouse's official Python client: version 1.12
cannot connect to the ClickHouse that Debian ships (18.16; it reads a `readonly`
column that `system.settings` of that version lacks), and Netra needs three
statements (create the table, insert rows, aggregate): plain SQL over HTTP with
JSONEachRow, through the HTTP client Netra already has (httpx2), does it on every
ClickHouse from 18.16 on, asynchronously. 18.16 has no query parameters, so the
few values a query carries are quoted here (`quote`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date
from typing import Any

import httpx2
import orjson

from netra.analytics.clickhouse_url import ClickHouseURL
from netra.analytics.records import RunRecord, UsageRow, UsageTotals
from netra.analytics.sink import AnalyticsRejected, AnalyticsUnavailable

TABLE = "run_analytics"
TIMEOUT = 10.0  # seconds per request: a batch waits in the buffer meanwhile

# DateTime('UTC'): a server in another time zone still reads and groups in UTC.
_CREATE = """
CREATE TABLE IF NOT EXISTS {table} (
    finished_at DateTime('UTC'),
    day Date,
    run_id String,
    user_id String,
    thread_id String,
    agent String,
    model String,
    outcome String,
    error_code Nullable(String),
    tokens_in UInt64,
    tokens_out UInt64,
    tool_calls UInt32,
    first_event_ms Nullable(Float64),
    duration_ms Float64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(finished_at)
ORDER BY (user_id, finished_at, run_id)
"""


#: ClickHouse's error codes for values an INSERT cannot take (ErrorCodes.cpp): parse
#: errors, type mismatches, out-of-range values, NULL into a plain column.
_REFUSED_VALUE_CODES = frozenset({6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 131, 321, 349})
_CODE = re.compile(r"^Code: (\d+)")


class ClickHouseError(AnalyticsUnavailable):
    """ClickHouse answered with an error (its message and code are kept), or could not
    be reached (no code)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def quote(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class ClickHouseAnalyticsStore:
    """Records in the MergeTree table `run_analytics` of the URL's database, partitioned
    by month; Netra creates it."""

    backend = "clickhouse"

    def __init__(self, url: str, *, timeout: float = TIMEOUT) -> None:
        self._url = ClickHouseURL(url)
        self.table = f"{self._url.database}.{TABLE}"
        self._client = httpx2.AsyncClient(
            base_url=self._url.endpoint,
            auth=(self._url.user, self._url.password),
            timeout=timeout,
        )

    async def execute(self, sql: str, body: bytes | None = None) -> bytes:
        """Run one statement; with `body`, `sql` is an INSERT whose data is the body."""
        try:
            if body is None:
                response = await self._client.post("", content=sql.encode())
            else:
                response = await self._client.post("", params={"query": sql}, content=body)
        except httpx2.HTTPError as exc:
            raise ClickHouseError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            message = response.text.strip()
            # Newer servers name the code in a header; 18.16 only in the message.
            code = response.headers.get("X-ClickHouse-Exception-Code") or (
                match.group(1) if (match := _CODE.match(message)) else None
            )
            raise ClickHouseError(message[:500], int(code) if code else None)
        return response.content

    async def select(self, sql: str) -> list[dict[str, Any]]:
        """Rows of a SELECT as dicts (64-bit integers arrive as strings)."""
        content = await self.execute(f"{sql} FORMAT JSONEachRow")
        return [orjson.loads(line) for line in content.splitlines() if line.strip()]

    async def prepare(self) -> None:
        await self.execute(_CREATE.format(table=self.table))

    async def write(self, records: Sequence[RunRecord]) -> None:
        # An INSERT that fails writes nothing (one block), so the batch is sent again. One
        # whose answer was lost after it was applied (a timeout) is stored twice: a plain
        # MergeTree does not deduplicate, and 18.16 has no insert deduplication for it.
        try:
            body = b"\n".join(orjson.dumps(_row(record)) for record in records)
        except orjson.JSONEncodeError as exc:  # e.g. an integer beyond 64 bits
            raise AnalyticsRejected(f"cannot encode the batch: {exc}") from exc
        try:
            await self.execute(f"INSERT INTO {self.table} FORMAT JSONEachRow", body)
        except ClickHouseError as exc:
            if exc.code in _REFUSED_VALUE_CODES:
                raise AnalyticsRejected(str(exc)) from exc
            raise

    async def usage(self, since: date, user_id: str | None) -> list[UsageRow]:
        groups = "day, agent" if user_id is not None else "day, agent, user_id"
        where = f"day >= {quote(since.isoformat())}"
        if user_id is not None:  # a user's report reads only their own records
            where += f" AND user_id = {quote(user_id)}"
        rows = await self.select(
            f"SELECT {groups}, count() AS runs, countIf(outcome = 'failed') AS failures, "
            "countIf(outcome = 'cancelled') AS cancelled, sum(tokens_in) AS tokens_in, "
            f"sum(tokens_out) AS tokens_out FROM {self.table} WHERE {where} GROUP BY {groups}"
        )
        return [
            UsageRow(
                date.fromisoformat(row["day"]),
                row["agent"],
                row.get("user_id"),
                UsageTotals(
                    int(row["runs"]),
                    int(row["failures"]),
                    int(row["cancelled"]),
                    int(row["tokens_in"]),
                    int(row["tokens_out"]),
                ),
            )
            for row in rows
        ]

    async def close(self) -> None:
        await self._client.aclose()


def _row(record: RunRecord) -> dict[str, Any]:
    row = record.as_row()
    row["finished_at"] = record.finished_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    row["day"] = record.day.isoformat()
    return row
