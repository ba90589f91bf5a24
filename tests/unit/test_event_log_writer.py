"""EventLogWriter's own logic, on a database stand-in the test answers transaction by
transaction: backpressure, and what a failing batch does to its runs and to the writer.

The writer on real databases (group commit, constraint violations, a connection that
dies) is tested in tests/integration/test_event_log.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from netra.db.engine import CommitFailed
from netra.db.repositories import RUN_ENDED, THREAD_GONE, RunEvents, StoredEvent
from netra.observability import Metrics
from netra.realtime import log as event_log
from netra.realtime.bus import InMemoryEventBus
from netra.realtime.events import EventType
from netra.realtime.log import EventLogError, EventLogWriter, RunAlreadyEnded
from netra.testing.bus import live_events

HANG_GUARD = 10.0  # seconds; reached only if the writer hangs, which is itself the failure
TS = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
THINKING = EventType.AGENT_THINKING


@dataclass
class Run:
    """What the writer needs of a run (netra.realtime.log.RunLog)."""

    thread_id: str
    run_id: str
    failure: EventLogError | None = None


class GatedDatabase:
    """Stands in for `Database.run_transaction`: each transaction waits until the test
    answers it with the result to return (or the exception to raise).

    The writer's work is run, as the database would run it, with `append_events`
    replaced by a recorder: `batches` holds the runs each transaction was asked to write.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._begun: asyncio.Queue[None] = asyncio.Queue()
        self._answers: asyncio.Queue[Any] = asyncio.Queue()
        self._seq = 0
        self.batches: list[list[str]] = []
        monkeypatch.setattr(event_log, "append_events", self._record)

    def _record(self, connection: None, batch: Sequence[RunEvents], lease_owner: str) -> None:
        assert lease_owner == "inst_test"  # its writes are fenced by this instance's leases
        self.batches.append([spec.run_id for spec in batch])

    async def run_transaction(self, work: Callable[[Any], Any]) -> Any:
        work(None)
        self._begun.put_nowait(None)
        answer = await self._answers.get()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def begun(self) -> None:
        """Wait until the writer has begun its next transaction."""
        await asyncio.wait_for(self._begun.get(), HANG_GUARD)

    def answer(self, result: Any) -> None:
        self._answers.put_nowait(result)

    def stored(self) -> list[list[StoredEvent]]:
        """The result of a batch of one run's one event."""
        self._seq += 1
        return [[StoredEvent(f"evt_{self._seq}", self._seq, TS)]]


@pytest.fixture
async def gated(monkeypatch: pytest.MonkeyPatch) -> GatedDatabase:
    return GatedDatabase(monkeypatch)


def writer_on(db: GatedDatabase, **limits: int) -> EventLogWriter:
    return EventLogWriter(db, InMemoryEventBus(), "inst_test", **limits)  # type: ignore[arg-type]


def writer_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "netra.realtime.log"]


async def test_appenders_wait_for_room_until_the_writer_is_less_than_half_behind(
    gated: GatedDatabase,
) -> None:
    writer = writer_on(gated, max_batch=1, max_pending=5)
    run = Run("thr_1", "run_1")
    for n in range(5):
        assert writer.append(run, THINKING, {"text": str(n)}) is None  # a future only with wait
    assert writer.backlogged  # 5 waiting: the most it takes
    # One task writes for every run; task dumps (py-spy, asyncio debug) name it.
    assert "netra-event-log" in {task.get_name() for task in asyncio.all_tasks()}

    backlogged = []
    for _ in range(5):
        await gated.begun()  # the writer took one more event: 4, 3, 2, 1, 0 left
        backlogged.append(writer.backlogged)
        gated.answer(gated.stored())
    await writer.close()
    # Room again once fewer than half of max_pending (5 // 2 = 2) wait.
    assert backlogged == [True, True, True, False, False]


async def test_a_batch_the_database_refuses_fails_its_run_with_the_reason(
    gated: GatedDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    writer = writer_on(gated)
    run = Run("thr_1", "run_1")
    committed = writer.append(run, THINKING, {"text": "hello"}, wait=True)
    assert committed is not None
    await gated.begun()
    gated.answer(RuntimeError("disk full"))
    with pytest.raises(EventLogError) as failed:
        await asyncio.wait_for(committed, HANG_GUARD)
    await writer.close()

    reason = "the run's events could not be stored (RuntimeError)"
    assert str(failed.value) == reason
    assert run.failure is failed.value
    assert writer_lines(caplog) == [f"run run_1: {reason}"]


async def test_a_bug_in_a_batch_fails_its_runs_and_the_writer_goes_on(
    gated: GatedDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    writer = writer_on(gated, max_batch=1)
    first, second = Run("thr_1", "run_1"), Run("thr_2", "run_2")
    committed = writer.append(first, THINKING, {"text": "hello"}, wait=True)
    assert committed is not None
    await gated.begun()
    gated.answer([[]])  # a result that does not match the batch: a bug past the database

    with pytest.raises(EventLogError) as failed:
        await asyncio.wait_for(committed, HANG_GUARD)
    reason = str(failed.value)
    assert reason.startswith("event log writer failed: ValueError(")
    assert first.failure is failed.value

    later = writer.append(second, THINKING, {"text": "still here"}, wait=True)
    assert later is not None
    await gated.begun()
    gated.answer(gated.stored())
    await asyncio.wait_for(later, HANG_GUARD)
    await writer.close()
    assert second.failure is None
    assert writer_lines(caplog) == [
        "the event log writer failed on a batch",
        f"run run_1: {reason}",
    ]
    assert caplog.records[0].exc_info is not None


async def test_a_writer_cancelled_in_a_batch_fails_its_runs_and_stops(
    gated: GatedDatabase,
) -> None:
    writer = writer_on(gated)
    run = Run("thr_1", "run_1")
    committed = writer.append(run, THINKING, {"text": "hello"}, wait=True)
    assert committed is not None
    await gated.begun()
    gated.answer(asyncio.CancelledError())

    with pytest.raises(EventLogError, match="CancelledError"):
        await asyncio.wait_for(committed, HANG_GUARD)
    assert run.failure is not None
    with pytest.raises(asyncio.CancelledError):  # the writer stopped, as asked
        await asyncio.wait_for(writer.close(), HANG_GUARD)


async def test_what_is_published_is_what_was_appended_with_the_stored_id_and_seq(
    gated: GatedDatabase,
) -> None:
    bus = InMemoryEventBus()
    writer = EventLogWriter(gated, bus, "inst_test")  # type: ignore[arg-type]
    data = {"tool_call_id": "tc_1", "tool": "clock", "args": {}}
    async with live_events(bus, "thr_1") as queue:
        committed = writer.append(Run("thr_1", "run_1"), EventType.TOOL_EXECUTING, data, wait=True)
        assert committed is not None
        await gated.begun()
        gated.answer(gated.stored())
        await asyncio.wait_for(committed, HANG_GUARD)
        event = queue.get_nowait()
    await writer.close()
    # Live consumers read .data (AG-UI's translation); clients get the frame.
    assert event.data == data
    assert event.to_frame() == {
        "type": "tool_executing",
        "event_id": "evt_1",
        "thread_id": "thr_1",
        "run_id": "run_1",
        "seq": 1,
        "ts": "2026-11-21T10:00:00.000Z",
        "data": data,
    }


async def test_a_closed_writer_takes_nothing_more(gated: GatedDatabase) -> None:
    writer = writer_on(gated)
    await writer.close()
    with pytest.raises(EventLogError) as refused:
        writer.append(Run("thr_1", "run_1"), THINKING, {"text": "late"})
    assert str(refused.value) == "the event log is closed"


def two_runs_in_one_batch(
    writer: EventLogWriter,
) -> tuple[Run, Run, asyncio.Future[None], asyncio.Future[None]]:
    """Two runs' events, appended together: the writer takes them in one batch."""
    first, second = Run("thr_1", "run_1"), Run("thr_2", "run_2")
    one = writer.append(first, THINKING, {"text": "one"}, wait=True)
    two = writer.append(second, THINKING, {"text": "two"}, wait=True)
    assert one is not None
    assert two is not None
    return first, second, one, two


async def outcome(future: asyncio.Future[None]) -> BaseException | None:
    try:
        await asyncio.wait_for(future, HANG_GUARD)
    except EventLogError as error:
        return error
    return None


async def test_a_failed_commit_fails_every_run_of_its_batch(gated: GatedDatabase) -> None:
    writer = writer_on(gated)
    first, second, one, two = two_runs_in_one_batch(writer)
    await gated.begun()
    gated.answer(CommitFailed("connection lost"))  # it may have been applied: no retry
    failures = [await outcome(one), await outcome(two)]
    await writer.close()
    assert [str(f) for f in failures] == ["the commit failed: connection lost"] * 2
    assert gated.batches == [["run_1", "run_2"]]  # not retried
    assert (first.failure, second.failure) == tuple(failures)


async def test_a_batch_that_fails_before_its_commit_is_retried_run_by_run(
    gated: GatedDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    writer = writer_on(gated)
    first, second, one, two = two_runs_in_one_batch(writer)
    await gated.begun()
    gated.answer(RuntimeError("one of them is bad"))  # nothing was written
    await gated.begun()
    gated.answer(ValueError("this one"))  # the first run alone
    await gated.begun()
    gated.answer(gated.stored())  # the second run alone
    failures = [await outcome(one), await outcome(two)]
    await writer.close()
    assert gated.batches == [["run_1", "run_2"], ["run_1"], ["run_2"]]
    reason = "the run's events could not be stored (ValueError)"
    assert [str(f) if f else None for f in failures] == [reason, None]
    assert (first.failure, second.failure) == (failures[0], None)
    assert writer_lines(caplog) == [f"run run_1: {reason}"]


async def test_a_run_the_database_refused_fails_alone_with_why(
    gated: GatedDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    writer = writer_on(gated)
    for refusal, expected in (
        (RUN_ENDED, RunAlreadyEnded("run run_1 had already ended")),
        (THREAD_GONE, EventLogError("the thread of run run_1 was deleted")),
    ):
        first, second, one, two = two_runs_in_one_batch(writer)
        await gated.begun()
        gated.answer([refusal, *gated.stored()])
        failed, written = await outcome(one), await outcome(two)
        assert (type(failed), str(failed)) == (type(expected), str(expected))
        assert written is None  # the other run of the batch is written all the same
        assert (first.failure, second.failure) == (failed, None)
    await writer.close()
    # A run that another writer ended is no error of this one: not logged.
    assert writer_lines(caplog) == ["run run_1: the thread of run run_1 was deleted"]


async def test_a_result_that_leaves_out_a_run_fails_the_batch_rather_than_hang(
    gated: GatedDatabase,
) -> None:
    writer = writer_on(gated)
    first, second, one, two = two_runs_in_one_batch(writer)
    await gated.begun()
    gated.answer(gated.stored())  # one run's result for a batch of two: a bug
    failures = [await outcome(one), await outcome(two)]
    await writer.close()
    assert all(str(f).startswith("event log writer failed: ValueError(") for f in failures)
    assert (first.failure, second.failure) == tuple(failures)


class UnreachableBus:
    """A bus whose every publish fails (Redis away, say)."""

    async def publish(self, events: Any) -> None:
        raise ConnectionError("the bus is away")


async def test_events_committed_but_not_published_are_still_committed(
    gated: GatedDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    # Followers fill the gap from the log: the run goes on, the failure is logged.
    writer = EventLogWriter(gated, UnreachableBus(), "inst_test")  # type: ignore[arg-type]
    run = Run("thr_1", "run_1")
    committed = writer.append(run, THINKING, {"text": "hello"}, wait=True)
    assert committed is not None
    await gated.begun()
    gated.answer(gated.stored())
    assert await outcome(committed) is None
    await writer.close()
    assert run.failure is None
    assert writer_lines(caplog) == ["publishing 1 committed events failed"]


async def test_each_committed_batch_is_measured(gated: GatedDatabase) -> None:
    metrics = Metrics()
    writer = EventLogWriter(gated, InMemoryEventBus(), "inst_test", metrics=metrics)  # type: ignore[arg-type]
    began = time.perf_counter()
    first, second, one, two = two_runs_in_one_batch(writer)
    await gated.begun()
    gated.answer([*gated.stored(), *gated.stored()])
    assert (await outcome(one), await outcome(two)) == (None, None)
    elapsed = time.perf_counter() - began
    await writer.close()

    def sample(name: str) -> float | None:
        return metrics.registry.get_sample_value(name)

    assert (writer.transactions, writer.events_written) == (1, 2)
    assert sample("netra_events_written_total") == 2
    assert (sample("netra_event_batch_size_count"), sample("netra_event_batch_size_sum")) == (1, 2)
    assert sample("netra_event_write_seconds_count") == 1
    seconds = sample("netra_event_write_seconds_sum")
    assert seconds is not None
    assert 0 < seconds <= elapsed  # the transaction's own duration
    assert (first.failure, second.failure) == (None, None)
