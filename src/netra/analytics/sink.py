"""AnalyticsSink: takes run records without ever making a run wait, writes them in batches.

A run hands its record to `record()`, which only appends it to a bounded buffer.
A background task writes the buffer to the store (a table in the main database,
or ClickHouse) in batches; while the store fails it retries the same batch with a
back-off, and the buffer fills. A record that finds the buffer full is dropped and
counted in `dropped` (the metrics read it), and logged. `close()` writes what is
buffered before the process stops.

A batch the store refuses for what it holds (`AnalyticsRejected`: a value out of
a column's range) would fail the same way for ever and hold up every record
behind it; its records are then written one at a time, and only the ones refused
alone are dropped, counted in `rejected` (and `dropped`), and logged whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections import deque
from collections.abc import Sequence
from datetime import date
from typing import Protocol

from netra.analytics.records import RunRecord, UsageReport, UsageRow, window_start

log = logging.getLogger(__name__)

FIRST_RETRY = 0.2  # seconds before the first retry of a failed batch
MAX_RETRY = 30.0  # the back-off doubles up to this


class AnalyticsUnavailable(Exception):
    """The store cannot be used now: unreachable, failing, or without its table."""


class AnalyticsRejected(Exception):
    """The store refused records for their content (a value out of a column's range, a
    value its driver cannot encode): writing them again would fail the same way. Any
    other error of `AnalyticsStore.write` is taken as an outage, and retried."""


class AnalyticsStore(Protocol):
    """Where records end up: `SqlAnalyticsStore` or `ClickHouseAnalyticsStore`."""

    backend: str

    async def prepare(self) -> None:
        """Create what the store needs (once, before the first write)."""

    async def write(self, records: Sequence[RunRecord]) -> None:
        """Write a batch; raises if nothing of it may be taken as written. Writing a
        batch again after an error that hid its success must not count it twice.
        Raises AnalyticsRejected when the records themselves are refused."""

    async def usage(self, since: date, user_id: str | None) -> list[UsageRow]:
        """Aggregates of the records finished on or after `since`, per day and agent,
        and per user when `user_id` is None; only `user_id`'s records otherwise.
        Raises AnalyticsUnavailable when the store cannot answer."""

    async def close(self) -> None: ...


class AnalyticsSink:
    """The analytics of one process: a bounded buffer in front of a store. A failed
    batch is retried after `first_retry` seconds, doubling up to `max_retry`."""

    def __init__(
        self,
        store: AnalyticsStore,
        *,
        capacity: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        first_retry: float = FIRST_RETRY,
        max_retry: float = MAX_RETRY,
    ) -> None:
        self.store = store
        self.capacity = capacity
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.first_retry = first_retry
        self.max_retry = max_retry
        self.dropped = 0  # found the buffer full, were refused by the store, or left at close
        self.rejected = 0  # of those, refused by the store for their content
        self.written = 0
        self.failing = False  # the last write failed: records wait in the buffer
        self._buffer: deque[RunRecord] = deque()
        self._prepared = False
        self._wake = asyncio.Event()
        # Set by flush(): retry a failed batch now rather than at the end of its back-off
        # (a store back up just before a graceful stop must not wait up to MAX_RETRY).
        self._retry_now = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        #: Set after every write attempt, failed or not (tests and monitors wait on it).
        self.attempted = asyncio.Event()
        self._dropped_logged = 0
        # After a refused batch, how many records at the head of the buffer are written
        # one at a time, to find the ones refused.
        self._one_by_one = 0

    @property
    def backend(self) -> str:
        return self.store.backend

    @property
    def pending(self) -> int:
        """Records buffered, not yet written."""
        return len(self._buffer)

    @property
    def status(self) -> str:
        """`ok`, or `degraded` while writes fail (runs go on; records wait)."""
        return "degraded" if self.failing else "ok"

    def start(self) -> None:
        """Start the background writer (in a running event loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._write_forever(), name="netra-analytics")

    def record(self, record: RunRecord) -> None:
        """Buffer one finished run's record; never waits, never raises."""
        if len(self._buffer) >= self.capacity:
            self.dropped += 1
            if self._dropped_logged == 0:
                log.warning(
                    "analytics buffer full (%d records, %s sink %s): dropping run records "
                    "until the store accepts writes again",
                    self.capacity,
                    self.backend,
                    "failing" if self.failing else "behind",
                )
            self._dropped_logged += 1
            return
        self._buffer.append(record)
        self._idle.clear()
        if len(self._buffer) >= self.batch_size:
            self._wake.set()

    async def flush(self) -> None:
        """Wait until every record buffered so far is written (for as long as it takes:
        bound it with asyncio.timeout); a batch waiting out its back-off is retried now."""
        if self._task is None:
            raise RuntimeError("the analytics sink is not started")
        self._wake.set()
        self._retry_now.set()
        await self._idle.wait()

    async def usage(self, days: int, user_id: str | None) -> UsageReport:
        """A report on the last `days` days: `user_id`'s own records, or every user's
        (with a per-user breakdown) when it is None."""
        since = window_start(days)
        await self._prepare()
        rows = await self.store.usage(since, user_id)
        return UsageReport.from_rows(days, since, rows, per_user=user_id is None)

    async def close(self, timeout: float = 10.0) -> None:
        """Write what is buffered (within `timeout`), stop, and close the store; what
        could not be written is counted in `dropped` and logged."""
        try:
            if self._task is not None and self._buffer:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self.flush()
        finally:
            if self._task is not None:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            if self._buffer:
                lost = len(self._buffer)
                self.dropped += lost
                self._buffer.clear()
                log.error("analytics: %d run record(s) not written before shutdown", lost)
            self._idle.set()
            await self.store.close()

    async def _prepare(self) -> None:
        if not self._prepared:
            await self.store.prepare()
            self._prepared = True

    async def _write_forever(self) -> None:
        pause = self.first_retry
        while True:
            if not self._buffer:
                self._idle.set()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.flush_interval):
                        await self._wake.wait()
                continue
            size = 1 if self._one_by_one else self.batch_size
            batch = list(itertools.islice(self._buffer, size))
            try:
                await self._prepare()
                await self.store.write(batch)
            except AnalyticsRejected as exc:
                self.attempted.set()
                if len(batch) > 1:
                    self._one_by_one = len(batch)
                else:
                    self._reject(exc)
                continue
            except Exception as exc:
                self.attempted.set()
                if not self.failing:
                    log.warning(
                        "analytics: writing %d run record(s) to %s failed (%s: %s); retrying "
                        "with back-off, %d buffered",
                        len(batch),
                        self.backend,
                        type(exc).__name__,
                        exc,
                        len(self._buffer),
                    )
                self.failing = True
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await self._retry_now.wait()
                self._retry_now.clear()  # one early retry per flush(), then the back-off again
                pause = min(pause * 2, self.max_retry)
                continue
            for _ in batch:
                self._buffer.popleft()
            self._one_by_one = max(0, self._one_by_one - len(batch))
            self.written += len(batch)
            self.attempted.set()
            self._retry_now.clear()
            pause = self.first_retry
            if self.failing:
                self.failing = False
                log.warning("analytics: %s accepts writes again", self.backend)
            if self._dropped_logged:
                log.warning(
                    "analytics: %d run record(s) were dropped while the buffer was full",
                    self._dropped_logged,
                )
                self._dropped_logged = 0

    def _reject(self, error: AnalyticsRejected) -> None:
        """Drop the record at the head of the buffer, refused alone; it goes to the log
        whole, so an operator can still recover it."""
        record = self._buffer.popleft()
        self._one_by_one = max(0, self._one_by_one - 1)
        self.rejected += 1
        self.dropped += 1
        log.error(
            "analytics: %s refused run record %s (%s); dropped it: %s",
            self.backend,
            record.run_id,
            error,
            json.dumps(record.as_row(), default=str),
        )
