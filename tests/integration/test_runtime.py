"""The run pipeline on a real database: platform startup, a live run, recovery, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from sqlalchemy import make_url

from netra.config import Settings
from netra.db.engine import Database
from netra.db.models import Run, User
from netra.db.repositories import RunEnd, RunRepository, ThreadRepository, store_run
from netra.errors import AppError
from netra.lifecycle import Platform, readiness, start, stop
from netra.realtime.events import AgentEvent
from netra.runs import RunTicket
from netra.testing.bus import live_events
from netra.testing.fixtures import standing_lease
from netra.testing.ws import EventValidator

CALCULATION = "What is 12 * (3 + 4)?"
RUN_TIMEOUT = 30  # a hang guard, not a speed claim

Frame = dict[str, Any]


@pytest.fixture
async def platform(
    database_url: str, make_settings: Callable[..., Settings]
) -> AsyncIterator[Platform]:
    platform = await start(make_settings(database_url))
    try:
        yield platform
    finally:
        await stop(platform)


async def until_terminal(queue: asyncio.Queue[AgentEvent]) -> list[AgentEvent]:
    events: list[AgentEvent] = []
    while True:
        event = await queue.get()
        events.append(event)
        if event.is_terminal:
            return events


async def run_live(
    platform: Platform, user: User, text: str, thread_id: str | None = None
) -> tuple[RunTicket, list[Frame]]:
    """Start a run while subscribed to its thread; returns (ticket, live frames).

    A new thread is made first when none is given, so the subscription exists before
    the run is launched and not even its first event can be missed.
    """
    if thread_id is None:
        async with platform.db.session() as session:
            thread_id = (await ThreadRepository(session, user.id).add(text[:60])).id
    async with live_events(platform.bus, thread_id) as queue:
        ticket = await platform.runs.start(user.id, text, thread_id)
        events = await asyncio.wait_for(until_terminal(queue), RUN_TIMEOUT)
    return ticket, [event.to_frame() for event in events]


async def add_abandoned_run(db: Database, owner_id: str, text: str) -> Run:
    """A stored, queued run that nothing executes: what a crash right after the commit leaves."""
    stored = await db.run_transaction(
        lambda c: store_run(
            c,
            owner_id,
            text,
            None,
            "assistant",
            title=text[:60],
            history_limit=40,
            lease=standing_lease(),
        )
    )
    assert stored is not None
    async with db.read() as session:
        run = await RunRepository(session, owner_id).get(stored.run_id)
    assert run is not None
    return run


async def persisted(db: Database, owner_id: str, thread_id: str, after_seq: int = 0) -> list[Frame]:
    async with db.session() as session:
        records = await ThreadRepository(session, owner_id).events(thread_id, after_seq)
    return [AgentEvent.from_record(record).to_frame() for record in records]


async def test_calculator_run_streams_persists_and_answers(
    platform: Platform, add_user: Callable[..., Awaitable[User]]
) -> None:
    user = await add_user(platform.db)

    ticket, live = await run_live(platform, user, CALCULATION)

    types = [e["type"] for e in live]
    assert types[0] == "agent_started"
    assert types[-1] == "agent_completed"
    assert [e["seq"] for e in live] == list(range(1, len(live) + 1))
    tool = next(e for e in live if e["type"] == "tool_completed")
    assert (tool["data"]["tool"], tool["data"]["result"]["value"]) == ("calculator", 84)
    answer = live[-1]["data"]
    assert "84" in answer["text"]
    EventValidator().assert_valid(live, allowed_threads=[ticket.thread_id], require_critical=True)
    EventValidator.assert_same_history(
        live, await persisted(platform.db, user.id, ticket.thread_id)
    )

    async with platform.db.session() as session:
        run = await RunRepository(session, user.id).get(ticket.run_id)
        messages = await ThreadRepository(session, user.id).messages(ticket.thread_id)
    assert run.status == "completed"
    assert run.error_code is None
    assert run.finished_at is not None
    assert run.usage == answer["usage"]
    assert run.usage["total_tokens"] > 0
    assert [(m.role, m.run_id) for m in messages] == [
        ("user", ticket.run_id),
        ("assistant", ticket.run_id),
    ]
    assert messages[0].text == CALCULATION
    assert (messages[1].id, messages[1].text) == (answer["message_id"], answer["text"])


async def test_a_second_run_continues_the_thread_seq(
    platform: Platform, add_user: Callable[..., Awaitable[User]]
) -> None:
    user = await add_user(platform.db)
    first, first_live = await run_live(platform, user, CALCULATION)

    second, second_live = await run_live(platform, user, "What is 2 + 2?", first.thread_id)

    assert second.thread_id == first.thread_id
    assert second.start_seq == first_live[-1]["seq"]
    assert second_live[0]["seq"] == first_live[-1]["seq"] + 1
    history = await persisted(platform.db, user.id, first.thread_id)
    EventValidator().assert_valid(history, require_critical=True)
    EventValidator.assert_same_history(
        second_live, await persisted(platform.db, user.id, first.thread_id, second.start_seq)
    )
    assert "4" in second_live[-1]["data"]["text"]


async def test_runs_are_refused_on_busy_or_foreign_threads(
    platform: Platform, add_user: Callable[..., Awaitable[User]]
) -> None:
    alice, bob = await add_user(platform.db), await add_user(platform.db)
    queued = await add_abandoned_run(platform.db, alice.id, CALCULATION)  # active, not executing

    with pytest.raises(AppError) as busy:
        await platform.runs.start(alice.id, "again", queued.thread_id)
    with pytest.raises(AppError) as foreign:
        await platform.runs.start(bob.id, "mine now", queued.thread_id)
    with pytest.raises(AppError) as foreign_cancel:
        await platform.runs.cancel(bob.id, queued.id)

    assert (busy.value.status, busy.value.code) == (409, "run_in_progress")
    assert (foreign.value.status, foreign.value.code) == (404, "not_found")
    assert (foreign_cancel.value.status, foreign_cancel.value.code) == (404, "not_found")
    async with platform.db.session() as session:
        still = await RunRepository(session, alice.id).get(queued.id)
        messages = await ThreadRepository(session, alice.id).messages(queued.thread_id)
    assert still.status == "queued"
    assert [(m.role, m.text) for m in messages] == [("user", CALCULATION)]


async def test_cancelling_an_abandoned_queued_run_ends_it(
    platform: Platform, add_user: Callable[..., Awaitable[User]]
) -> None:
    user = await add_user(platform.db)
    queued = await add_abandoned_run(platform.db, user.id, CALCULATION)

    async with live_events(platform.bus, queued.thread_id) as queue:
        assert await platform.runs.cancel(user.id, queued.id) == queued.thread_id
        events = await asyncio.wait_for(until_terminal(queue), RUN_TIMEOUT)
    live = [event.to_frame() for event in events]

    history = await persisted(platform.db, user.id, queued.thread_id)
    assert [e["type"] for e in history] == ["agent_started", "agent_cancelled"]
    assert history[0]["data"] == {"agent": "assistant", "input": CALCULATION}
    assert history[1]["data"] == {"reason": "cancelled_by_user"}
    assert all(e["run_id"] == queued.id for e in history)
    EventValidator().assert_valid(history, allowed_threads=[queued.thread_id])
    EventValidator.assert_same_history(live, history)
    async with platform.db.session() as session:
        run = await RunRepository(session, user.id).get(queued.id)
    assert (run.status, run.error_code) == ("cancelled", None)
    assert run.finished_at is not None

    with pytest.raises(AppError) as again:
        await platform.runs.cancel(user.id, queued.id)
    assert (again.value.status, again.value.code) == (409, "run_not_active")
    # The thread is no longer blocked: a new run on it executes normally.
    ticket, after = await run_live(platform, user, "What is 2 + 2?", queued.thread_id)
    assert after[0]["seq"] == history[-1]["seq"] + 1
    assert after[-1]["type"] == "agent_completed"
    assert ticket.thread_id == queued.thread_id


async def test_cancelling_a_finished_run_is_409(
    platform: Platform, add_user: Callable[..., Awaitable[User]]
) -> None:
    user = await add_user(platform.db)
    ticket, _ = await run_live(platform, user, CALCULATION)

    with pytest.raises(AppError) as caught:
        await platform.runs.cancel(user.id, ticket.run_id)

    assert (caught.value.status, caught.value.code) == (409, "run_not_active")


async def test_start_ends_runs_interrupted_by_a_crash(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
    append: Callable[..., Awaitable[list[int]]],
) -> None:
    # The state a crash leaves behind: a run marked running, a tool call never completed.
    db = Database(database_url)
    try:
        user = await add_user(db)
        run = await add_abandoned_run(db, user.id, CALCULATION)
        done = await add_abandoned_run(db, user.id, CALCULATION)
        await append(
            db,
            run.thread_id,
            run.id,
            ("agent_started", {"agent": "assistant"}),
            ("agent_thinking", {"text": "calculating"}),
            (
                "tool_executing",
                {"tool_call_id": "tc_1", "tool": "calculator", "args": {"expression": "1+1"}},
            ),
        )
        # Ended without a terminal event of its own: recovery must leave it alone.
        await append(
            db,
            done.thread_id,
            done.id,
            ("agent_started", {"agent": "assistant"}),
            end=RunEnd("completed"),
        )
    finally:
        await db.dispose()

    platform = await start(make_settings(database_url))
    try:
        history = await persisted(platform.db, user.id, run.thread_id)
        untouched = await persisted(platform.db, user.id, done.thread_id)
        async with platform.db.session() as session:
            recovered = await RunRepository(session, user.id).get(run.id)
            finished = await RunRepository(session, user.id).get(done.id)
    finally:
        await stop(platform)

    assert [e["type"] for e in history] == [
        "agent_started",
        "agent_thinking",
        "tool_executing",
        "tool_completed",
        "agent_error",
    ]
    closed = history[3]["data"]
    assert (closed["tool_call_id"], closed["tool"]) == ("tc_1", "calculator")
    assert closed["error"].startswith("interrupted")
    assert history[4]["data"]["code"] == "interrupted"
    EventValidator().assert_valid(history)
    assert (recovered.status, recovered.error_code) == ("failed", "interrupted")
    assert recovered.finished_at is not None
    assert [e["type"] for e in untouched] == ["agent_started"]
    assert finished.status == "completed"


async def test_start_ends_a_run_that_was_queued_but_never_started(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    # A crash between storing a run and its first event: queued, no events at all.
    db = Database(database_url)
    try:
        user = await add_user(db)
        run = await add_abandoned_run(db, user.id, CALCULATION)
    finally:
        await db.dispose()

    platform = await start(make_settings(database_url))
    try:
        history = await persisted(platform.db, user.id, run.thread_id)
        async with platform.db.session() as session:
            recovered = await RunRepository(session, user.id).get(run.id)
    finally:
        await stop(platform)

    assert (recovered.status, recovered.error_code) == ("failed", "interrupted")
    assert [e["type"] for e in history] == ["agent_started", "agent_error"]
    assert history[0]["data"] == {"agent": "assistant", "input": CALCULATION}
    EventValidator().assert_valid(history)  # every run starts with agent_started


async def test_stop_right_after_launch_still_ends_the_run_with_agent_cancelled(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    platform = await start(make_settings(database_url))
    try:
        user = await add_user(platform.db)
        # start() launches without awaiting anything after the commit, so the run's
        # task has not run a single step when shutdown begins.
        ticket = await platform.runs.start(user.id, CALCULATION)
    finally:
        await stop(platform)

    db = Database(database_url)
    try:
        history = await persisted(db, user.id, ticket.thread_id)
        async with db.session() as session:
            run = await RunRepository(session, user.id).get(ticket.run_id)
    finally:
        await db.dispose()

    assert run.status == "cancelled", [e["type"] for e in history]
    assert history[-1]["type"] == "agent_cancelled"
    assert history[-1]["data"]["reason"] == "server_shutdown"
    EventValidator().assert_valid(history)


async def test_two_cancels_of_an_abandoned_run_write_one_ending(
    platform: Platform, add_user: Callable[..., Awaitable[User]]
) -> None:
    user = await add_user(platform.db)
    queued = await add_abandoned_run(platform.db, user.id, CALCULATION)

    outcomes = await asyncio.gather(
        platform.runs.cancel(user.id, queued.id),
        platform.runs.cancel(user.id, queued.id),
        return_exceptions=True,
    )

    assert queued.thread_id in outcomes
    history = await persisted(platform.db, user.id, queued.thread_id)
    assert [e["type"] for e in history] == ["agent_started", "agent_cancelled"]
    EventValidator().assert_valid(history)


async def test_a_run_stored_as_shutdown_begins_still_ends_with_agent_cancelled(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    platform = await start(make_settings(database_url))
    user = await add_user(platform.db)

    # Tasks run in the order they were made: start() passes its shutdown check and
    # begins storing, then stop() begins while the run is not launched yet.
    starting = asyncio.ensure_future(platform.runs.start(user.id, CALCULATION))
    stopping = asyncio.ensure_future(stop(platform))
    ticket, _ = await asyncio.gather(starting, stopping)

    restarted = await start(make_settings(database_url))
    try:
        history = await persisted(restarted.db, user.id, ticket.thread_id)
    finally:
        await stop(restarted)
    assert [e["type"] for e in history] == ["agent_started", "agent_cancelled"]
    assert history[-1]["data"] == {"reason": "server_shutdown"}


async def test_runs_go_on_after_postgresql_drops_every_connection(
    postgres_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    # What a server restart or failover does to the pool: every pooled connection dies.
    platform = await start(make_settings(postgres_url))
    try:
        user = await add_user(platform.db)
        first, _ = await run_live(platform, user, CALCULATION)
        admin = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            dropped = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert dropped >= 1

        ready = await readiness(platform)
        _, frames = await run_live(platform, user, CALCULATION, first.thread_id)
    finally:
        await stop(platform)
    assert ready["status"] == "ready"
    assert frames[-1]["type"] == "agent_completed"
    assert frames[-1]["data"]["text"].endswith("= 84")


async def test_ready_says_not_ready_while_postgresql_refuses_and_ready_once_it_is_back(
    postgres_url: str, make_settings: Callable[..., Settings]
) -> None:
    platform = await start(make_settings(postgres_url))
    url = make_url(postgres_url)
    name = url.database
    # From the maintenance database: a database cannot refuse connections to itself.
    admin = await asyncpg.connect(
        url.set(drivername="postgresql", database="postgres").render_as_string(False)
    )
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        refused = await readiness(platform)
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        back = await readiness(platform)
    finally:
        await admin.close()
        await stop(platform)
    assert refused["status"] == "not_ready"  # GET /ready answers 503
    assert refused["components"]["database"]["status"] == "error"
    assert back["status"] == "ready"
