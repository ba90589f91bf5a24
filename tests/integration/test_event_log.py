"""The event log writer on real databases: group commit, and batches that fail.

Failures are real database failures, not mocks: a trigger that refuses an event
(a constraint violation), and on PostgreSQL a trigger that kills the writer's own
connection in the middle of a batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from sqlalchemy import text

from netra.config import Settings
from netra.db.engine import Database
from netra.db.models import Run, Thread, User
from netra.db.repositories import RunEnd, RunRepository, ThreadRepository, store_run
from netra.lifecycle import start, stop
from netra.observability import logs
from netra.realtime.bus import InMemoryEventBus
from netra.realtime.emitter import RunEmitter
from netra.realtime.events import AgentEvent, EventType
from netra.realtime.log import EventLogError, EventLogWriter, RunAlreadyEnded
from netra.testing.bus import live_events
from netra.testing.fixtures import TEST_INSTANCE, standing_lease
from netra.testing.ws import EventValidator

HANG_GUARD = 30  # seconds; reached only if something hangs, which is itself the failure
Frame = dict[str, Any]


async def install_poison(db: Database, condition: str, action: str = "refuse") -> None:
    """A trigger that fails any inserted event matching `condition` (SQL on NEW.type and
    NEW.data as text): `refuse` raises an error, `disconnect` (PostgreSQL) terminates the
    inserting connection."""
    async with db.engine.begin() as connection:
        if db.is_sqlite:
            await connection.execute(
                text(
                    "CREATE TRIGGER poison BEFORE INSERT ON events "
                    f"WHEN {condition} BEGIN SELECT RAISE(ABORT, 'poisoned event'); END"
                )
            )
            return
        act = (
            "RAISE EXCEPTION 'poisoned event'"
            if action == "refuse"
            else "PERFORM pg_terminate_backend(pg_backend_pid())"
        )
        await connection.execute(
            text(
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN "
                f"IF {condition.replace('NEW.data', 'NEW.data::text')} THEN {act}; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
        )
        await connection.execute(
            text(
                "CREATE TRIGGER poison BEFORE INSERT ON events "
                "FOR EACH ROW EXECUTE FUNCTION poison()"
            )
        )


@pytest.fixture
async def log_and_bus(db: Database) -> AsyncIterator[tuple[EventLogWriter, InMemoryEventBus]]:
    bus = InMemoryEventBus()
    log = EventLogWriter(db, bus, TEST_INSTANCE)
    try:
        yield log, bus
    finally:
        await log.close()


@pytest.fixture
async def writer(log_and_bus: tuple[EventLogWriter, InMemoryEventBus]) -> EventLogWriter:
    return log_and_bus[0]


async def new_run(db: Database, owner: User) -> tuple[Thread, Run]:
    stored = await db.run_transaction(
        lambda c: store_run(
            c,
            owner.id,
            "hello",
            None,
            "assistant",
            title="a thread",
            history_limit=1,
            lease=standing_lease(),
        )
    )
    assert stored is not None
    async with db.read() as session:
        thread = await ThreadRepository(session, owner.id).get(stored.thread_id)
        run = await RunRepository(session, owner.id).get(stored.run_id)
    assert thread is not None
    assert run is not None
    return thread, run


async def stored(db: Database, owner: User, thread_id: str) -> list[Frame]:
    async with db.read() as session:
        rows = await ThreadRepository(session, owner.id).events(thread_id)
        thread = await ThreadRepository(session, owner.id).get(thread_id)
    assert thread is not None
    frames = [AgentEvent.from_record(row).to_frame() for row in rows]
    assert thread.last_seq == len(frames)  # no seq was taken by events that are not there
    return frames


async def test_one_transaction_carries_every_runs_pending_events(
    db: Database,
    log_and_bus: tuple[EventLogWriter, InMemoryEventBus],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    writer, bus = log_and_bus
    owner = await add_user(db)
    runs = [await new_run(db, owner) for _ in range(3)]
    emitters = [RunEmitter(writer, thread.id, run.id) for thread, run in runs]
    subscriptions = AsyncExitStack()
    live = [
        await subscriptions.enter_async_context(live_events(bus, thread.id)) for thread, _ in runs
    ]

    # Nothing below waits until the ends, so the writer finds every delta queued at once.
    for emitter in emitters:
        await emitter.emit(EventType.AGENT_STARTED, {"agent": "assistant", "input": "hello"})
    for index in range(20):
        for emitter in emitters:
            data = {"message_id": "msg_1", "delta": f"{emitter.run_id} {index} "}
            await emitter.emit(EventType.AGENT_MESSAGE_DELTA, data)
    end = RunEnd("completed", usage={}, message_id=None)
    await asyncio.wait_for(
        asyncio.gather(
            *(e.end(EventType.AGENT_COMPLETED, {"text": "done"}, end) for e in emitters)
        ),
        HANG_GUARD,
    )

    # 66 events: the 63 queued first in one transaction, then the three ends in one.
    assert (writer.transactions, writer.events_written) == (2, 66)
    for (thread, run), queue in zip(runs, live, strict=True):
        history = await stored(db, owner, thread.id)
        assert [e["seq"] for e in history] == list(range(1, 23))
        assert [e["data"].get("delta") for e in history[1:21]] == [
            f"{run.id} {i} " for i in range(20)
        ]
        published = [queue.get_nowait().to_frame() for _ in range(queue.qsize())]
        EventValidator.assert_same_history(published, history)
        async with db.read() as session:
            ended = await RunRepository(session, owner.id).get(run.id)
        assert ended is not None
        assert ended.status == "completed"
    await subscriptions.aclose()


async def test_a_run_whose_write_fails_fails_alone_and_leaves_no_gap(
    db: Database, writer: EventLogWriter, add_user: Callable[..., Awaitable[User]]
) -> None:
    owner = await add_user(db)
    (bad_thread, bad_run), (good_thread, good_run) = [await new_run(db, owner) for _ in "ab"]
    await install_poison(db, "NEW.data LIKE '%poison%'")
    bad = RunEmitter(writer, bad_thread.id, bad_run.id)
    good = RunEmitter(writer, good_thread.id, good_run.id)

    for emitter, words in ((bad, ("fine", "poison")), (good, ("fine", "also fine"))):
        for word in words:
            await emitter.emit(EventType.AGENT_THINKING, {"text": word})
    call = {"tool_call_id": "tc_1", "tool": "clock", "args": {}}
    outcomes = await asyncio.wait_for(
        asyncio.gather(
            bad.emit(EventType.TOOL_EXECUTING, call),
            good.emit(EventType.TOOL_EXECUTING, call),
            return_exceptions=True,
        ),
        HANG_GUARD,
    )

    assert isinstance(outcomes[0], EventLogError)
    assert outcomes[1] is None
    assert await stored(db, owner, bad_thread.id) == []
    assert [e["type"] for e in await stored(db, owner, good_thread.id)] == [
        "agent_thinking",
        "agent_thinking",
        "tool_executing",
    ]
    with pytest.raises(EventLogError):  # the failed run's emitter refuses anything more
        await bad.emit(EventType.AGENT_THINKING, {"text": "more"})


async def test_the_emitter_refuses_events_out_of_their_place(
    db: Database, writer: EventLogWriter, add_user: Callable[..., Awaitable[User]]
) -> None:
    owner = await add_user(db)
    thread, run = await new_run(db, owner)
    emitter = RunEmitter(writer, thread.id, run.id)
    await emitter.emit(EventType.AGENT_STARTED, {"agent": "assistant", "input": "hello"})

    with pytest.raises(ValueError, match="ends the run: use end"):
        await emitter.emit(EventType.AGENT_COMPLETED, {"text": "early"})
    with pytest.raises(ValueError, match="is not a terminal event"):
        await emitter.end(EventType.AGENT_THINKING, {"text": "x"}, RunEnd("completed"))
    await emitter.end(EventType.AGENT_CANCELLED, {"reason": "test"}, RunEnd("cancelled"))
    with pytest.raises(RuntimeError, match="already ended; no event may follow"):
        await emitter.emit(EventType.AGENT_THINKING, {"text": "late"})

    assert [e["type"] for e in await stored(db, owner, thread.id)] == [
        "agent_started",
        "agent_cancelled",
    ]


async def test_a_full_queue_makes_the_runs_wait_for_the_writer_and_loses_nothing(
    db: Database, add_user: Callable[..., Awaitable[User]]
) -> None:
    owner = await add_user(db)
    thread, run = await new_run(db, owner)
    writer = EventLogWriter(db, InMemoryEventBus(), TEST_INSTANCE, max_batch=2, max_pending=4)
    emitter = RunEmitter(writer, thread.id, run.id)
    try:
        await emitter.emit(EventType.AGENT_STARTED, {"agent": "assistant", "input": "hello"})
        for index in range(11):  # none waits for its commit, only for room in the queue
            await emitter.emit(
                EventType.AGENT_MESSAGE_DELTA, {"message_id": "msg_1", "delta": f"{index} "}
            )
        end = RunEnd("completed", usage={}, message_id=None)
        await asyncio.wait_for(emitter.end(EventType.AGENT_COMPLETED, {"text": "done"}, end), 30)
    finally:
        await writer.close()

    history = await stored(db, owner, thread.id)
    assert [e["seq"] for e in history] == list(range(1, 14))
    assert [e["data"].get("delta") for e in history[1:12]] == [f"{i} " for i in range(11)]
    assert writer.transactions >= 7  # batches of at most 2 events
    assert writer.events_written == 13


async def test_a_closed_writer_refuses_new_events_after_writing_the_queued_ones(
    db: Database, add_user: Callable[..., Awaitable[User]]
) -> None:
    owner = await add_user(db)
    thread, run = await new_run(db, owner)
    writer = EventLogWriter(db, InMemoryEventBus(), TEST_INSTANCE)
    emitter = RunEmitter(writer, thread.id, run.id)
    await emitter.emit(EventType.AGENT_STARTED, {"agent": "assistant", "input": "hello"})

    await writer.close()

    with pytest.raises(EventLogError, match="the event log is closed"):
        await emitter.emit(EventType.AGENT_THINKING, {"text": "after close"})
    assert [e["type"] for e in await stored(db, owner, thread.id)] == ["agent_started"]


class _BoundIds(logging.Handler):
    """Keeps each record's message with the log ids bound where it was logged."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, dict[str, str]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.getMessage(), dict(logs.bound())))


async def test_the_writers_log_lines_carry_no_ids_of_the_run_that_started_it(
    db: Database, writer: EventLogWriter, add_user: Callable[..., Awaitable[User]]
) -> None:
    first_owner, other_owner = await add_user(db), await add_user(db)
    first_thread, first_run = await new_run(db, first_owner)
    bad_thread, bad_run = await new_run(db, other_owner)
    await install_poison(db, "NEW.data LIKE '%poison%'")

    async def first_run_writes() -> None:  # as a run's task does: its ids bound, then events
        logs.bind(user_id=first_owner.id, thread_id=first_thread.id, run_id=first_run.id)
        emitter = RunEmitter(writer, first_thread.id, first_run.id)
        await emitter.emit(EventType.TOOL_EXECUTING, {"tool_call_id": "tc_1", "tool": "clock"})

    await asyncio.wait_for(asyncio.create_task(first_run_writes()), HANG_GUARD)
    captured = _BoundIds()
    logging.getLogger("netra.realtime.log").addHandler(captured)
    try:
        bad = RunEmitter(writer, bad_thread.id, bad_run.id)
        call = {"tool_call_id": "tc_1", "tool": "poison", "args": {}}
        with pytest.raises(EventLogError):
            await asyncio.wait_for(bad.emit(EventType.TOOL_EXECUTING, call), HANG_GUARD)
    finally:
        logging.getLogger("netra.realtime.log").removeHandler(captured)

    # The other user's run failed: its line names it, and carries no id of the first run.
    assert any(bad_run.id in message for message, _ in captured.lines)
    assert [ids for _, ids in captured.lines] == [{} for _ in captured.lines]


async def test_a_terminal_event_for_a_run_that_already_ended_writes_nothing(
    db: Database,
    writer: EventLogWriter,
    add_user: Callable[..., Awaitable[User]],
    append: Callable[..., Awaitable[list[int]]],
) -> None:
    owner = await add_user(db)
    thread, run = await new_run(db, owner)
    await append(
        db, thread.id, run.id, ("agent_cancelled", {"reason": "x"}), end=RunEnd("cancelled")
    )
    emitter = RunEmitter(writer, thread.id, run.id)
    await emitter.emit(EventType.AGENT_THINKING, {"text": "late"})

    with pytest.raises(RunAlreadyEnded):
        await asyncio.wait_for(
            emitter.end(EventType.AGENT_ERROR, {"code": "x", "message": "y"}, RunEnd("failed")),
            HANG_GUARD,
        )

    assert [e["type"] for e in await stored(db, owner, thread.id)] == ["agent_cancelled"]


FAILURES = [
    pytest.param("refuse", id="constraint-violation"),
    pytest.param("disconnect", id="connection-closed"),
]


@pytest.mark.parametrize("failure", FAILURES)
async def test_a_run_whose_batch_fails_mid_run_ends_with_agent_error(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
    failure: str,
) -> None:
    db = Database(database_url)
    try:
        if failure == "disconnect" and db.is_sqlite:
            pytest.skip("a connection that dies under the writer is a PostgreSQL failure")
        owner = await add_user(db)
        # The calculator's result is refused; the error that closes the call is not.
        await install_poison(
            db, "NEW.type = 'tool_completed' AND NEW.data LIKE '%\"result\"%'", failure
        )
    finally:
        await db.dispose()
    platform = await start(make_settings(database_url))
    try:
        async with platform.db.session() as session:
            thread = await ThreadRepository(session, owner.id).add("poisoned")
        async with live_events(platform.bus, thread.id) as queue:
            ticket = await platform.runs.start(owner.id, "What is 12 * (3 + 4)?", thread.id)
            live: list[Frame] = []
            while not live or live[-1]["type"] not in ("agent_completed", "agent_error"):
                live.append((await asyncio.wait_for(queue.get(), HANG_GUARD)).to_frame())
        history = await stored(platform.db, owner, thread.id)
        async with platform.db.read() as session:
            run = await RunRepository(session, owner.id).get(ticket.run_id)
    finally:
        await stop(platform)

    assert [e["type"] for e in history] == [
        "agent_started",
        "agent_thinking",
        "tool_executing",
        "tool_completed",
        "agent_error",
    ]
    assert history[3]["data"]["error"] == "interrupted: the run failed"
    assert history[4]["data"]["code"] == "storage_error"
    EventValidator().assert_valid(history)
    EventValidator.assert_same_history(live, history)
    assert run is not None
    assert (run.status, run.error_code) == ("failed", "storage_error")
