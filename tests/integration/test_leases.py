"""Run leases on a real database: claiming expired ones, fenced writes, renewal, the sweep."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from netra.config import Settings
from netra.db.engine import Database, EncodedJSON
from netra.db.models import Run, User
from netra.db.repositories import (
    RUN_ENDED,
    Lease,
    NewEvent,
    RunEvents,
    StoredRun,
    append_events,
    run_events,
    store_run,
)
from netra.db.types import utcnow
from netra.lifecycle import StartupError, start, stop
from netra.runs import RunLeases
from netra.testing.services import RedisService, free_port

DEAD = "srv_dead"  # an instance that stopped renewing its leases
ALIVE = "srv_alive"


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
