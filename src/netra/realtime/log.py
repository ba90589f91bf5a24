"""The event log writer: group commit of every run's events, then fan-out.

Runs hand their events to one writer per process. While a batch is being
committed, the next one gathers whatever every run appends meanwhile, so under
load a transaction carries many events of many runs, and when idle an event is
written at once. Nothing is published before it is committed, and each event's
wire frame is encoded once, around the JSON that was stored.

A batch that fails before its COMMIT wrote nothing: with several runs in it,
each run is retried alone, so one run's bad write (or a connection that died
under the batch) fails that run only. A failed COMMIT may have been applied,
so every run in it fails; ending such a run reads its history back first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from netra.db.engine import CommitFailed, Database, EncodedJSON
from netra.db.repositories import (
    RUN_ENDED,
    NewEvent,
    RunEnd,
    RunEvents,
    StoredEvent,
    append_events,
)
from netra.observability import Metrics, logs
from netra.realtime.bus import EventBus
from netra.realtime.events import AgentEvent, EventType

log = logging.getLogger(__name__)

#: Events in one transaction at most.
MAX_BATCH = 2000
#: Events waiting for the writer before appenders wait for room.
MAX_PENDING = 50_000


class EventLogError(Exception):
    """A run's events could not be stored; the run must end."""


class RunAlreadyEnded(EventLogError):
    """The run's terminal event was refused: another writer had ended the run."""


class RunLog(Protocol):
    """What the writer needs of the run whose events it writes (a `RunEmitter`)."""

    thread_id: str
    run_id: str
    failure: EventLogError | None


@dataclass(slots=True)
class _Entry:
    run: RunLog
    type: EventType
    data: dict[str, Any]
    data_json: EncodedJSON
    end: RunEnd | None
    committed: asyncio.Future[None] | None


@dataclass(slots=True)
class _Group:
    """One run's entries within a batch."""

    run: RunLog
    entries: list[_Entry] = field(default_factory=list)

    def spec(self) -> RunEvents:
        events = [NewEvent(e.type, e.data, e.data_json) for e in self.entries]
        return RunEvents(
            self.run.run_id,
            self.run.thread_id,
            events,
            end=self.entries[-1].end,
            starts=any(e.type is EventType.AGENT_STARTED for e in self.entries),
        )


class EventLogWriter:
    """The one task that writes every run's events of this process, batch by batch."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        lease_owner: str,
        *,
        max_batch: int = MAX_BATCH,
        max_pending: int = MAX_PENDING,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._bus = bus
        self._lease_owner = lease_owner  # this instance: its writes are fenced by its leases
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._metrics = metrics or Metrics()
        self._pending: list[_Entry] = []
        self._work = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.transactions = 0  # committed, for measurements and tests
        self.events_written = 0

    def append(
        self,
        run: RunLog,
        type_: EventType,
        data: dict[str, Any],
        *,
        end: RunEnd | None = None,
        wait: bool = False,
    ) -> asyncio.Future[None] | None:
        """Queue one event; with `wait`, a future that resolves once it is committed.

        Raises ValueError for data that is not JSON (nothing is queued then).
        """
        if self._closing:
            raise EventLogError("the event log is closed")
        data_json = EncodedJSON(orjson.dumps(data).decode())
        committed = asyncio.get_running_loop().create_future() if wait else None
        self._pending.append(_Entry(run, type_, data, data_json, end, committed))
        if len(self._pending) >= self._max_pending:
            self._room.clear()
        self._work.set()
        if self._task is None:
            # Started by whichever run writes first, it serves every run: none's log ids.
            self._task = asyncio.create_task(
                self._write_loop(), name="netra-event-log", context=logs.detached()
            )
        return committed

    @property
    def backlogged(self) -> bool:
        return not self._room.is_set()

    async def room(self) -> None:
        """Wait until the writer has caught up enough to take more."""
        await self._room.wait()

    async def close(self) -> None:
        """Write what is queued, then stop."""
        self._closing = True
        self._work.set()
        if self._task is not None:
            await self._task

    async def _write_loop(self) -> None:
        while True:
            await self._work.wait()
            if not self._pending:
                if self._closing:
                    return
                self._work.clear()
                continue
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            if len(self._pending) < self._max_pending // 2:
                self._room.set()
            try:
                await self._write(batch)
            except BaseException as exc:  # a bug here must not leave runs waiting forever
                log.exception("the event log writer failed on a batch")
                for entry in batch:
                    self._fail(entry.run, EventLogError(f"event log writer failed: {exc!r}"))
                    _settle(entry, entry.run.failure)
                if not isinstance(exc, Exception):  # cancelled: stop, as asked
                    raise

    async def _write(self, batch: list[_Entry]) -> None:
        groups: dict[int, _Group] = {}
        for entry in batch:
            if entry.run.failure is not None:  # queued before its run failed
                _settle(entry, entry.run.failure)
                continue
            groups.setdefault(id(entry.run), _Group(entry.run)).entries.append(entry)
        if not groups:
            return
        pending = list(groups.values())
        try:
            results = await self._append(pending)
        except CommitFailed as exc:
            for group in pending:
                self._fail_group(group, EventLogError(f"the commit failed: {exc}"))
            return
        except Exception as exc:
            if len(pending) == 1:
                self._fail_group(pending[0], _storage_error(exc))
                return
            # Nothing was written: find the run at fault by writing each run alone.
            for group in pending:
                try:
                    (result,) = await self._append([group])
                except Exception as alone:
                    self._fail_group(group, _storage_error(alone))
                else:
                    await self._publish([group], [result])
            return
        await self._publish(pending, results)

    async def _append(self, groups: Sequence[_Group]) -> list[list[StoredEvent] | str]:
        specs = [group.spec() for group in groups]
        began = time.perf_counter()
        results = await self._db.run_transaction(
            lambda connection: append_events(connection, specs, self._lease_owner)
        )
        written = sum(len(r) for r in results if not isinstance(r, str))
        self.transactions += 1
        self.events_written += written
        self._metrics.batch_written(written, time.perf_counter() - began)
        return results

    async def _publish(
        self, groups: Sequence[_Group], results: Sequence[list[StoredEvent] | str]
    ) -> None:
        events: list[AgentEvent] = []
        done: list[_Group] = []
        for group, result in zip(groups, results, strict=True):
            if isinstance(result, str):
                error = (
                    RunAlreadyEnded(f"run {group.run.run_id} had already ended")
                    if result == RUN_ENDED
                    else EventLogError(f"the thread of run {group.run.run_id} was deleted")
                )
                self._fail_group(group, error)
                continue
            run = group.run
            for entry, stored in zip(group.entries, result, strict=True):
                events.append(
                    AgentEvent.stored(
                        entry.type,
                        stored.event_id,
                        run.thread_id,
                        run.run_id,
                        stored.seq,
                        stored.ts,
                        entry.data,
                        str(entry.data_json),  # Fragment takes an exact str
                    )
                )
            done.append(group)
        await self.republish(events)
        for group in done:
            for entry in group.entries:
                _settle(entry, None)

    async def republish(self, events: Sequence[AgentEvent]) -> None:
        """Publish committed events (again: subscribers drop a seq they have had)."""
        if not events:
            return
        try:
            await self._bus.publish(events)
        except Exception:  # committed all the same: followers fill gaps from the log
            log.exception("publishing %d committed events failed", len(events))

    def _fail_group(self, group: _Group, error: EventLogError) -> None:
        self._fail(group.run, error)
        for entry in group.entries:
            _settle(entry, error)

    @staticmethod
    def _fail(run: RunLog, error: EventLogError) -> None:
        if run.failure is None:
            run.failure = error
            if not isinstance(error, RunAlreadyEnded):
                log.error("run %s: %s", run.run_id, error)


def _storage_error(exc: Exception) -> EventLogError:
    return EventLogError(f"the run's events could not be stored ({type(exc).__name__})")


def _settle(entry: _Entry, error: BaseException | None) -> None:
    future = entry.committed
    if future is None or future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
        future.exception()  # retrieved: a waiter cancelled meanwhile must not warn
