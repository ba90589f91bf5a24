"""Run leases on a real database: claiming expired ones, fenced writes, renewal, the sweep."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, text, update
from sqlalchemy.exc import IntegrityError

from netra.config import Settings
from netra.db.engine import Database, EncodedJSON
from netra.db.models import Run, Thread, User
from netra.db.repositories import (
    RUN_ENDED,
    Lease,
    NewEvent,
    RunEnd,
    RunEvents,
    StoredRun,
    append_events,
    run_events,
    store_run,
)
from netra.db.types import utcnow
from netra.errors import AppError
from netra.lifecycle import Platform, StartupError, start, stop
from netra.realtime.events import EventType
from netra.runs import RunLeases
from netra.runs.supervisor import INSTANCE_LOST, RunTicket
from netra.testing.bus import live_events
from netra.testing.services import RedisService, free_port

DEAD = "srv_dead"  # an instance that stopped renewing its leases
ALIVE = "srv_alive"
HANG_GUARD = 30  # seconds; reached only if something hangs, which is itself the failure


async def store_leased(db: Database, owner: User, lease: Lease) -> StoredRun:
    stored = await db.run_transaction(
        lambda c: store_run(
            c,
            owner.id,
            "wait 60 seconds",
            None,
            "assistant",
            title="t",
            history_limit=4,
            lease=lease,
        )
    )
    assert stored is not None
    return stored


def expired(owner: str) -> Lease:
    return Lease(owner, utcnow() - timedelta(seconds=1))


async def write(
    db: Database, stored: StoredRun, owner: str, *events: tuple[str, dict[str, Any]]
) -> list[int] | str:
    batch = [
        RunEvents(
            stored.run_id,
            stored.thread_id,
            [NewEvent(t, d, EncodedJSON(json.dumps(d))) for t, d in events],
            starts=events[0][0] == "agent_started",
        )
    ]
    (result,) = await db.run_transaction(lambda c: append_events(c, batch, owner))
    return result if isinstance(result, str) else [event.seq for event in result]


async def test_an_expired_lease_is_claimed_once_and_fences_out_its_old_owner(
    db: Database, add_user: Callable[..., Awaitable[User]]
) -> None:
    user = await add_user(db)
    stored = await store_leased(db, user, expired(DEAD))
    assert await write(db, stored, DEAD, ("agent_started", {"agent": "a", "input": "i"})) == [1]
    survivor = RunLeases(db, ALIVE, ttl=15, single_instance=False)
    late = RunLeases(db, "srv_late", ttl=15, single_instance=False)

    claimed = await survivor.claim_expired(executing=[])
    assert [run.id for run in claimed] == [stored.run_id]
    assert await late.claim_expired(executing=[]) == []  # the survivor's lease is fresh

    thinking = ("agent_thinking", {"text": "still here"})
    assert await write(db, stored, DEAD, thinking) == RUN_ENDED  # fenced: nothing written
    assert await write(db, stored, ALIVE, thinking) == [2]
    async with db.read() as session:
        assert [e.seq for e in await run_events(session, stored.run_id)] == [1, 2]


async def test_a_live_lease_is_neither_claimed_nor_its_run_written_by_another(
    db: Database, add_user: Callable[..., Awaitable[User]]
) -> None:
    user = await add_user(db)
    live = RunLeases(db, ALIVE, ttl=15, single_instance=False)
    stored = await store_leased(db, user, live.lease())
    other = RunLeases(db, "srv_other", ttl=15, single_instance=False)

    assert await other.claim_expired(executing=[]) == []
    assert await other.claim(stored.run_id) is None
    started = ("agent_started", {"agent": "a", "input": "i"})
    assert await write(db, stored, "srv_other", started) == RUN_ENDED
    assert await write(db, stored, ALIVE, started) == [1]


async def test_renewal_keeps_a_lease_and_reports_the_cancel_asked_on_another_instance(
    db: Database, add_user: Callable[..., Awaitable[User]]
) -> None:
    user = await add_user(db)
    owner = RunLeases(db, ALIVE, ttl=15, single_instance=False)
    stored = await store_leased(db, user, expired(ALIVE))
    elsewhere = RunLeases(db, "srv_other", ttl=15, single_instance=False)

    assert await owner.renew([stored.run_id, "run_not_mine"]) == {stored.run_id: None}
    assert await elsewhere.claim_expired(executing=[]) == []  # renewed: not claimable
    await elsewhere.request_cancel(stored.run_id, "cancelled_by_user")
    await elsewhere.request_cancel(stored.run_id, "a later reason")  # the first one stays
    assert await owner.renew([stored.run_id]) == {stored.run_id: "cancelled_by_user"}


async def test_releasing_lets_another_instance_claim_at_once(
    db: Database, add_user: Callable[..., Awaitable[User]]
) -> None:
    user = await add_user(db)
    stopping = RunLeases(db, ALIVE, ttl=15, single_instance=False)
    stored = await store_leased(db, user, stopping.lease())
    assert await stopping.release() == 1
    survivor = RunLeases(db, "srv_other", ttl=15, single_instance=False)
    assert [run.id for run in await survivor.claim_expired(executing=[])] == [stored.run_id]


async def test_the_sweep_ends_a_lost_instance_run_with_one_instance_lost_error(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    platform = await start(make_settings(database_url))
    try:
        user = await add_user(platform.db)
        stored = await store_leased(platform.db, user, expired(DEAD))
        await write(
            platform.db,
            stored,
            DEAD,
            ("agent_started", {"agent": "assistant", "input": "wait"}),
            ("agent_thinking", {"text": "waiting"}),
            ("tool_executing", {"tool_call_id": "tc_1", "tool": "timer", "args": {}}),
        )

        assert await platform.supervisor.sweep() == 1
        assert await platform.supervisor.sweep() == 0  # ended once

        async with platform.db.read() as session:
            events = await run_events(session, stored.run_id)
            run = await session.get(Run, stored.run_id)
    finally:
        await stop(platform)
    assert [e.type for e in events] == [
        "agent_started",
        "agent_thinking",
        "tool_executing",
        "tool_completed",
        "agent_error",
    ]
    assert events[3].data["tool_call_id"] == "tc_1"
    assert "error" in events[3].data
    assert events[4].data["code"] == "instance_lost"
    assert run is not None
    assert (run.status, run.error_code, run.lease_owner) == (
        "failed",
        "instance_lost",
        platform.instance_id,
    )


async def test_a_cancel_asked_before_the_instance_was_lost_ends_the_run_cancelled(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    platform = await start(make_settings(database_url))
    try:
        user = await add_user(platform.db)
        stored = await store_leased(platform.db, user, expired(DEAD))
        await platform.supervisor.leases.request_cancel(stored.run_id, "cancelled_by_user")
        assert await platform.supervisor.sweep() == 1
        async with platform.db.read() as session:
            events = await run_events(session, stored.run_id)
    finally:
        await stop(platform)
    assert [e.type for e in events] == ["agent_started", "agent_cancelled"]
    assert events[-1].data == {"reason": "cancelled_by_user"}


async def test_the_only_instance_ends_every_run_it_finds_active_at_startup(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    first = await start(make_settings(database_url))
    try:
        user = await add_user(first.db)
        # A live lease of a process that crashed: without Redis this is the only instance.
        stored = await store_leased(
            first.db, user, RunLeases(first.db, DEAD, 60, single_instance=True).lease()
        )
    finally:
        await stop(first)
    second = await start(make_settings(database_url))
    try:
        async with second.db.read() as session:
            run = await session.get(Run, stored.run_id)
    finally:
        await stop(second)
    assert run is not None
    assert (run.status, run.error_code) == ("failed", "interrupted")


async def test_an_unreachable_redis_stops_startup_naming_the_phase(
    postgres_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(postgres_url, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StartupError, match=r"^startup phase redis: Redis at redis://127"):
        await start(settings)


async def test_an_instance_sweeps_only_after_renewing_without_a_miss_for_a_whole_lease(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    # After a database outage every lease has expired, live instances' too: the first
    # instance back must give the others a whole lease to renew before it sweeps.
    ttl = 600.0  # the background renewal never runs during this test
    platform = await start(make_settings(database_url, run_lease_ttl=ttl))
    try:
        user = await add_user(platform.db)
        stored = await store_leased(platform.db, user, expired(DEAD))

        await platform.supervisor.maintain_leases(now=1000.0)  # healthy from now on
        async with platform.db.read() as session:
            still = await session.get(Run, stored.run_id)
            assert still is not None
            assert still.status == "queued"
        await platform.supervisor.maintain_leases(now=1000.0 + ttl)
        async with platform.db.read() as session:
            ended = await session.get(Run, stored.run_id)
    finally:
        await stop(platform)
    assert ended is not None
    assert (ended.status, ended.error_code) == ("failed", "instance_lost")


async def test_instances_with_and_without_redis_never_serve_one_database_together(
    postgres_url: str,
    make_settings: Callable[..., Settings],
    redis_service: RedisService,
    redis_prefix: str,
) -> None:
    shared = make_settings(postgres_url, redis_url=redis_service.url, redis_prefix=redis_prefix)
    alone = make_settings(postgres_url)

    first = await start(shared)
    try:
        second = await start(shared)  # instances on Redis run side by side
        await stop(second)
        # One without Redis would end their live runs as if they were its own crash's.
        with pytest.raises(StartupError, match="set NETRA_REDIS_URL on every instance"):
            await start(alone)
    finally:
        await stop(first)

    only = await start(alone)
    try:
        with pytest.raises(StartupError, match="without NETRA_REDIS_URL is serving"):
            await start(shared)
    finally:
        await stop(only)


async def test_instances_sharing_a_database_must_share_the_event_layout_on_redis(
    postgres_url: str,
    make_settings: Callable[..., Settings],
    redis_service: RedisService,
    redis_prefix: str,
) -> None:
    def on_redis(**overrides: Any) -> Settings:
        values = {"redis_url": redis_service.url, "redis_prefix": redis_prefix, **overrides}
        return make_settings(postgres_url, **values)

    first = await start(on_redis(redis_shards=8))
    try:
        # Another shard count or prefix reads streams the first instance never writes.
        with pytest.raises(StartupError, match=r"another NETRA_REDIS_SHARDS \(8\)"):
            await start(on_redis(redis_shards=4))
        with pytest.raises(StartupError, match="another NETRA_REDIS_PREFIX"):
            await start(on_redis(redis_shards=8, redis_prefix=f"{redis_prefix}other:"))
        second = await start(on_redis(redis_shards=8))  # the same layout runs beside it
        await stop(second)
    finally:
        await stop(first)
    # Once no instance holds the old layout, a new one may start: nothing is left to clear.
    changed = await start(on_redis(redis_shards=4))
    await stop(changed)


async def events_and_run(platform: Platform, run_id: str) -> tuple[list[str], Run]:
    async with platform.db.read() as session:
        events = await run_events(session, run_id)
        run = await session.get(Run, run_id)
    assert run is not None
    return [event.type for event in events], run


async def test_a_user_with_as_many_active_runs_as_allowed_is_refused_one_more(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    platform = await start(make_settings(database_url, max_active_runs_per_user=1))
    try:
        user = await add_user(platform.db)
        waiting = await platform.runs.start(user.id, "wait 60 seconds")
        with pytest.raises(AppError) as refused:
            await platform.runs.start(user.id, "What is 2 + 2?")
        await platform.runs.cancel(user.id, waiting.run_id)
        await asyncio.wait_for(platform.supervisor.finished(waiting.run_id), HANG_GUARD)
        after = await platform.runs.start(user.id, "What is 2 + 2?")  # its place is free again
        await asyncio.wait_for(platform.supervisor.finished(after.run_id), HANG_GUARD)
        types, run = await events_and_run(platform, after.run_id)
    finally:
        await stop(platform)
    assert (refused.value.status, refused.value.code) == (429, "too_many_runs")
    assert (types[-1], run.status) == ("agent_completed", "completed")


async def test_a_run_that_already_ended_is_neither_cancelled_elsewhere_nor_waited_for(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    platform = await start(make_settings(database_url))
    try:
        user = await add_user(platform.db)
        ticket = await platform.runs.start(user.id, "What is 2 + 2?")
        await asyncio.wait_for(platform.supervisor.finished(ticket.run_id), HANG_GUARD)

        cancelled = await platform.supervisor.cancel_elsewhere(ticket.run_id, "cancelled_by_user")
        ended = await platform.supervisor.wait_ended(ticket.run_id, timeout=HANG_GUARD)
        types, run = await events_and_run(platform, ticket.run_id)
    finally:
        await stop(platform)
    assert cancelled is False
    assert ended is True
    assert (types[-1], run.status, run.cancel_reason) == ("agent_completed", "completed", None)


async def test_waiting_for_a_run_another_live_instance_executes_gives_up_at_the_timeout(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    platform = await start(make_settings(database_url))
    try:
        user = await add_user(platform.db)
        stored = await store_leased(
            platform.db, user, Lease(ALIVE, utcnow() + timedelta(seconds=60))
        )
        ended = await platform.supervisor.wait_ended(stored.run_id, timeout=0.2)
        _, run = await events_and_run(platform, stored.run_id)
    finally:
        await stop(platform)
    assert ended is False
    assert (run.status, run.lease_owner) == ("queued", ALIVE)  # left to its owner


async def test_renewing_acts_on_a_cancel_asked_through_the_database(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    # Another instance asks durably; this one acts on it when it renews its leases.
    platform = await start(make_settings(database_url, run_lease_ttl=600.0))
    try:
        user = await add_user(platform.db)
        ticket = await platform.runs.start(user.id, "wait 60 seconds")
        await platform.supervisor.leases.request_cancel(ticket.run_id, "cancelled_by_user")
        await platform.supervisor.renew_leases()
        await asyncio.wait_for(platform.supervisor.finished(ticket.run_id), HANG_GUARD)
        async with platform.db.read() as session:
            events = await run_events(session, ticket.run_id)
    finally:
        await stop(platform)
    assert events[-1].type == "agent_cancelled"
    assert events[-1].data == {"reason": "cancelled_by_user"}


async def test_a_run_whose_lease_another_instance_took_stops_here_without_writing(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    platform = await start(make_settings(database_url, run_lease_ttl=600.0))
    try:
        user = await add_user(platform.db)
        first = await platform.runs.start(user.id, "What is 2 + 2?")
        await asyncio.wait_for(platform.supervisor.finished(first.run_id), HANG_GUARD)
        async with live_events(platform.bus, first.thread_id) as live:
            ticket = await platform.runs.start(user.id, "wait 60 seconds", first.thread_id)
            while (await asyncio.wait_for(live.get(), HANG_GUARD)).type != "tool_executing":
                pass  # the run now waits in its timer, writing nothing
        before, _ = await events_and_run(platform, ticket.run_id)
        took = update(Run).where(Run.id == ticket.run_id).values(lease_owner=ALIVE)
        await platform.db.run_transaction(lambda c: c.execute(took))

        await platform.supervisor.renew_leases()
        await asyncio.wait_for(platform.supervisor.finished(ticket.run_id), HANG_GUARD)
        after, run = await events_and_run(platform, ticket.run_id)
    finally:
        await stop(platform)
    assert not platform.supervisor.cancelling(ticket.run_id)  # no longer executing here
    assert before[-1] == "tool_executing"
    assert after == before  # its writes are fenced: the run is the other instance's to end
    assert (run.status, run.lease_owner) == ("running", ALIVE)


async def test_a_run_abandoned_by_its_client_after_its_instance_died_is_ended_here(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    platform = await start(make_settings(database_url))
    try:
        user = await add_user(platform.db)
        stored = await store_leased(platform.db, user, expired(DEAD))
        async with live_events(platform.bus, stored.thread_id) as live:
            platform.runs.abandon(user.id, stored.run_id)  # returns at once; ends it in a task
            started = await asyncio.wait_for(live.get(), HANG_GUARD)  # it had not begun
            ending = await asyncio.wait_for(live.get(), HANG_GUARD)
        types, run = await events_and_run(platform, stored.run_id)
    finally:
        await stop(platform)
    assert started.type == "agent_started"
    assert (ending.type, ending.data) == ("agent_cancelled", {"reason": "cancelled_by_user"})
    assert types == ["agent_started", "agent_cancelled"]
    assert run.status == "cancelled"


async def test_deleting_a_thread_whose_run_lost_its_instance_ends_the_run_first(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    platform = await start(make_settings(database_url))
    try:
        user = await add_user(platform.db)
        stored = await store_leased(platform.db, user, expired(DEAD))
        async with live_events(platform.bus, stored.thread_id) as live:
            await asyncio.wait_for(platform.runs.delete_thread(user.id, stored.thread_id), 30)
            published = [live.get_nowait().type for _ in range(live.qsize())]  # before it went
        with pytest.raises(AppError) as gone:
            await platform.runs.delete_thread(user.id, stored.thread_id)
        async with platform.db.read() as session:
            run = await session.get(Run, stored.run_id)
    finally:
        await stop(platform)
    assert published == ["agent_started", "agent_cancelled"]
    assert run is None  # deleted with its thread
    assert (gone.value.status, gone.value.code) == (404, "not_found")


async def test_waiting_for_a_cancelled_run_only_when_it_is_stopping(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    # What AG-UI does when a thread is busy: wait only for a run already asked to stop.
    platform = await start(make_settings(database_url))
    try:
        user = await add_user(platform.db)
        ticket = await platform.runs.start(user.id, "wait 60 seconds")
        busy = await platform.runs.wait_for_cancelled_run(user.id, ticket.thread_id)
        assert platform.supervisor.cancel(ticket.run_id, "cancelled_by_user")
        stopped = await asyncio.wait_for(
            platform.runs.wait_for_cancelled_run(user.id, ticket.thread_id), HANG_GUARD
        )
        free = await platform.runs.wait_for_cancelled_run(user.id, ticket.thread_id)
        types, run = await events_and_run(platform, ticket.run_id)
    finally:
        await stop(platform)
    assert busy is False  # running, not stopping: the thread is really busy
    assert stopped is True
    assert free is True  # no active run at all
    assert (types[-1], run.status) == ("agent_cancelled", "cancelled")


async def test_a_busy_run_of_this_instance_is_waited_for_only_as_long_as_the_notice(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    # AG-UI's next message to a thread whose run is really busy gets its 409 after the
    # notice, not when the run ends (here in a minute).
    platform = await start(make_settings(database_url))
    try:
        user = await add_user(platform.db)
        ticket = await platform.runs.start(user.id, "wait 60 seconds")
        busy = await asyncio.wait_for(
            platform.runs.wait_for_cancelled_run(user.id, ticket.thread_id, notice=0.2),
            HANG_GUARD,
        )
        still_running = platform.supervisor.executing(ticket.run_id)
        platform.supervisor.cancel(ticket.run_id, "cancelled_by_user")
        await asyncio.wait_for(platform.supervisor.finished(ticket.run_id), HANG_GUARD)
    finally:
        await stop(platform)
    assert busy is False
    assert still_running


async def test_a_run_another_instance_holds_gets_a_notice_to_end_before_the_thread_is_busy(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    # AG-UI behind a load balancer: the instance that saw the client abort ends the run,
    # and a message that reached this one meanwhile waits for that, not for a 409.
    platform = await start(make_settings(database_url))
    try:
        user = await add_user(platform.db)
        stored = await store_leased(
            platform.db, user, Lease(ALIVE, utcnow() + timedelta(seconds=120))
        )
        # Not asked to stop as far as this instance knows: without a notice, busy at once.
        busy = await platform.runs.wait_for_cancelled_run(user.id, stored.thread_id)
        waiting = asyncio.create_task(
            platform.runs.wait_for_cancelled_run(user.id, stored.thread_id, notice=HANG_GUARD)
        )
        done, _ = await asyncio.wait({waiting}, timeout=0.5)
        async with platform.db.session() as session:
            await session.execute(
                update(Run).where(Run.id == stored.run_id).values(status="cancelled")
            )
        ended = await asyncio.wait_for(waiting, HANG_GUARD)
        no_notice = await platform.runs.wait_for_cancelled_run(user.id, stored.thread_id)
    finally:
        await stop(platform)
    assert busy is False
    assert done == set()  # still waiting while the other instance had not ended it
    assert ended is True
    assert no_notice is True  # nothing active any more


async def until_a_transaction_waits_for_a_lock(db: Database) -> None:
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(HANG_GUARD):
        while True:
            async with db.read() as session:
                if await session.scalar(waiting):
                    return
            await asyncio.sleep(0.01)  # polling a condition, not waiting out a time


async def test_a_run_ending_while_another_is_stored_on_its_thread_does_not_deadlock(
    postgres_url: str, add_user: Callable[..., Awaitable[User]]
) -> None:
    # An AG-UI front end's next message, stored while the run it aborted writes its end.
    # Storing locks the thread, then inserts a run (which waits for the active run's
    # row); an end that locked its run's row before the thread deadlocked with it, and
    # PostgreSQL then failed one of the two: the new message (500), or the run's end.
    db = Database(postgres_url)
    try:
        user = await add_user(db)
        stored = await store_leased(db, user, Lease(ALIVE, utcnow() + timedelta(seconds=120)))
        await write(db, stored, ALIVE, ("agent_started", {"agent": "a", "input": "i"}))
        cancelled = {"reason": "cancelled_by_user"}
        end = RunEvents(
            stored.run_id,
            stored.thread_id,
            [NewEvent("agent_cancelled", cancelled, EncodedJSON(json.dumps(cancelled)))],
            end=RunEnd("cancelled"),
        )
        async with db.engine.connect() as storing:
            await storing.begin()
            await storing.execute(  # store_run's first step: the thread's row is locked
                update(Thread).where(Thread.id == stored.thread_id).values(updated_at=utcnow())
            )
            ending = asyncio.create_task(
                db.run_transaction(lambda c: append_events(c, [end], ALIVE))
            )
            await until_a_transaction_waits_for_a_lock(db)
            with pytest.raises(IntegrityError) as busy:  # the run is still active
                await storing.execute(
                    insert(Run).values(
                        id="run_next",
                        thread_id=stored.thread_id,
                        owner_id=user.id,
                        agent="assistant",
                        input_text="next",
                        status="queued",
                        created_at=utcnow(),
                    )
                )
            await storing.rollback()
        (written,) = await asyncio.wait_for(ending, HANG_GUARD)
        async with db.read() as session:
            run = await session.get(Run, stored.run_id)
    finally:
        await db.dispose()
    assert "duplicate key value violates unique constraint" in str(busy.value)
    assert isinstance(written, list)
    assert [event.seq for event in written] == [2]
    assert run is not None
    assert run.status == "cancelled"


async def test_only_the_only_instance_may_claim_every_active_run(db: Database) -> None:
    with pytest.raises(RuntimeError, match="other instances may be executing runs"):
        await RunLeases(db, ALIVE, 60, single_instance=False).claim_all()


async def test_a_run_executing_here_is_not_ended_as_abandoned(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    platform = await start(make_settings(database_url))
    try:
        user = await add_user(platform.db)
        ticket = await platform.runs.start(user.id, "wait 60 seconds")
        async with platform.db.read() as session:
            row = await session.get(Run, ticket.run_id)
        with pytest.raises(RuntimeError, match="is executing here; cancel it instead"):
            await platform.supervisor.end_abandoned(row, EventType.AGENT_ERROR, INSTANCE_LOST)
        await platform.runs.cancel(user.id, ticket.run_id)
        await asyncio.wait_for(platform.supervisor.finished(ticket.run_id), HANG_GUARD)
        types, _ = await events_and_run(platform, ticket.run_id)
    finally:
        await stop(platform)
    assert types[-1] == "agent_cancelled"  # not agent_error: the end_abandoned wrote nothing


async def test_the_sweep_closes_only_the_tool_calls_a_lost_instance_left_open(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    platform = await start(make_settings(database_url))
    try:
        user = await add_user(platform.db)
        stored = await store_leased(platform.db, user, expired(DEAD))
        await write(
            platform.db,
            stored,
            DEAD,
            ("agent_started", {"agent": "assistant", "input": "wait"}),
            ("tool_executing", {"tool_call_id": "tc_1", "tool": "clock", "args": {}}),
            ("tool_completed", {"tool_call_id": "tc_1", "tool": "clock", "result": "noon"}),
            ("tool_executing", {"tool_call_id": "tc_2", "tool": "timer", "args": {}}),
        )
        assert await platform.supervisor.sweep() == 1
        async with platform.db.read() as session:
            events = await run_events(session, stored.run_id)
    finally:
        await stop(platform)
    closing = [e.data["tool_call_id"] for e in events[4:] if e.type == "tool_completed"]
    assert closing == ["tc_2"]  # tc_1 had its result
    assert events[-1].type == "agent_error"


async def test_a_run_cancelled_twice_before_its_launch_keeps_the_first_reason(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    platform = await start(make_settings(database_url))
    asked: list[bool] = []

    def cancel_twice(ticket: RunTicket) -> None:  # stored, not yet launched
        asked.append(platform.supervisor.cancel(ticket.run_id, "first_reason"))
        asked.append(platform.supervisor.cancel(ticket.run_id, "second_reason"))

    try:
        user = await add_user(platform.db)
        ticket = await platform.runs.start(user.id, "wait 60 seconds", on_stored=cancel_twice)
        await asyncio.wait_for(platform.supervisor.finished(ticket.run_id), HANG_GUARD)
        async with platform.db.read() as session:
            events = await run_events(session, ticket.run_id)
    finally:
        await stop(platform)
    assert asked == [True, True]
    assert events[-1].type == "agent_cancelled"
    assert events[-1].data == {"reason": "first_reason"}


async def test_a_shutdown_that_runs_outlast_says_so_and_their_cancel_still_ends_them(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    platform = await start(make_settings(database_url))
    try:
        user = await add_user(platform.db)
        ticket = await platform.runs.start(user.id, "wait 60 seconds")
        with caplog.at_level(logging.WARNING, logger="netra.runs.supervisor"):
            await platform.supervisor.shutdown(grace=0, cancel_wait=0)
        assert platform.supervisor.cancel(ticket.run_id, "server_shutdown")
        await asyncio.wait_for(platform.supervisor.finished(ticket.run_id), HANG_GUARD)
        async with platform.db.read() as session:
            events = await run_events(session, ticket.run_id)
    finally:
        await stop(platform)
    assert f"netra-{ticket.run_id} did not end within 0 s of shutdown" in caplog.text
    assert (events[-1].type, events[-1].data) == ("agent_cancelled", {"reason": "server_shutdown"})


async def test_a_thread_whose_run_another_live_instance_holds_is_not_deleted(
    postgres_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
    redis_service: RedisService,
    redis_prefix: str,
) -> None:
    # One of several instances (on Redis): the other is asked to cancel but never
    # answers, so after a few waits of two leases each the thread is reported busy
    # rather than deleted under its run.
    settings = make_settings(
        postgres_url, redis_url=redis_service.url, redis_prefix=redis_prefix, run_lease_ttl=1.0
    )
    platform = await start(settings)
    try:
        user = await add_user(platform.db)
        stored = await store_leased(
            platform.db, user, Lease(ALIVE, utcnow() + timedelta(seconds=120))
        )
        with pytest.raises(AppError) as busy:
            await asyncio.wait_for(platform.runs.delete_thread(user.id, stored.thread_id), 60)
        _, run = await events_and_run(platform, stored.run_id)
    finally:
        await stop(platform)
    assert (busy.value.status, busy.value.code) == (409, "run_in_progress")
    assert (run.status, run.cancel_reason) == ("queued", "cancelled_by_user")


async def test_a_run_cancelled_before_its_first_step_starts_and_ends_cancelled(
    database_url: str,
    make_settings: Callable[..., Settings],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    # Cancelling the task itself before it ran would skip _execute, and with it the
    # run's events: the run must start, notice the reason and end with agent_cancelled.
    platform = await start(make_settings(database_url))
    try:
        user = await add_user(platform.db)
        stored = await store_leased(platform.db, user, platform.supervisor.leases.lease())
        ticket = RunTicket(
            stored.run_id, stored.thread_id, user.id, "assistant", "wait 60 seconds", 0
        )
        assert platform.supervisor.admit(user.id, ticket.run_id)
        platform.supervisor.launch(ticket)
        platform.supervisor.admitted(user.id, ticket.run_id, launched=True)
        asked = platform.supervisor.cancel(ticket.run_id, "cancelled_by_user")  # not yet begun
        await asyncio.wait_for(platform.supervisor.finished(ticket.run_id), HANG_GUARD)
        types, run = await events_and_run(platform, ticket.run_id)
    finally:
        await stop(platform)
    assert asked is True
    assert types == ["agent_started", "agent_cancelled"]
    assert run.status == "cancelled"
