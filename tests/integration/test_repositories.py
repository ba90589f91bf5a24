"""Owner-scoped repositories, run constraints and the event log on real databases."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from netra.db.engine import Database
from netra.db.models import Message, Run, Thread, User
from netra.db.repositories import (
    RunRepository,
    ThreadRepository,
    UserRepository,
    set_run_status,
)

CONCURRENT_APPENDS = 20


async def new_thread(db: Database, owner: User, title: str = "a thread") -> Thread:
    async with db.session() as session:
        return await ThreadRepository(session, owner.id).add(title)


async def new_run(db: Database, owner: User, thread: Thread) -> Run:
    async with db.session() as session:
        return await RunRepository(session, owner.id).add(thread.id, "assistant", "hello")


# -- users ----------------------------------------------------------------------
async def test_user_email_is_unique(db: Database, add_user: Callable[..., Awaitable[User]]) -> None:
    first = await add_user(db, "ada@example.com")

    with pytest.raises(IntegrityError):
        await add_user(db, "ada@example.com")

    async with db.session() as session:
        users = UserRepository(session)
        assert (await users.by_email("ada@example.com")).id == first.id
        assert (await users.by_id(first.id)).email == "ada@example.com"
        count = await session.scalar(select(func.count()).select_from(User))
    assert count == 1


# -- threads --------------------------------------------------------------------
async def test_another_owners_thread_behaves_as_if_it_did_not_exist(
    db: Database,
    add_user: Callable[..., Awaitable[User]],
    append: Callable[..., Awaitable[list[int]]],
) -> None:
    alice, bob = await add_user(db), await add_user(db)
    thread = await new_thread(db, alice, "alice's")
    run = await new_run(db, alice, thread)
    async with db.session() as session:
        await ThreadRepository(session, alice.id).add_message(thread.id, "user", "hi", run.id)
    await append(db, thread.id, run.id, ("agent_started", {"agent": "a"}))

    async with db.session() as session:
        as_bob = ThreadRepository(session, bob.id)
        assert await as_bob.get(thread.id) is None
        assert list(await as_bob.list()) == []
        assert list(await as_bob.messages(thread.id)) == []
        assert list(await as_bob.events(thread.id)) == []

        as_alice = ThreadRepository(session, alice.id)
        assert (await as_alice.get(thread.id)).title == "alice's"
        assert [t.id for t in await as_alice.list()] == [thread.id]
        assert [m.text for m in await as_alice.messages(thread.id)] == ["hi"]
        assert [e.type for e in await as_alice.events(thread.id)] == ["agent_started"]


async def test_add_message_to_another_owners_thread_is_refused(
    db: Database, add_user: Callable[..., Awaitable[User]]
) -> None:
    alice, bob = await add_user(db), await add_user(db)
    thread = await new_thread(db, alice)

    with pytest.raises(LookupError):
        async with db.session() as session:
            await ThreadRepository(session, bob.id).add_message(
                thread.id, "assistant", "bob was here", None
            )

    async with db.session() as session:
        stored = await session.scalars(select(Message.text).where(Message.thread_id == thread.id))
        assert stored.all() == []


async def test_threads_are_listed_newest_activity_first(
    db: Database, add_user: Callable[..., Awaitable[User]]
) -> None:
    owner = await add_user(db)
    first = await new_thread(db, owner, "first")
    second = await new_thread(db, owner, "second")
    third = await new_thread(db, owner, "third")

    async with db.session() as session:
        threads = ThreadRepository(session, owner.id)
        assert [t.id for t in await threads.list()] == [third.id, second.id, first.id]
        assert [t.id for t in await threads.list(limit=2)] == [third.id, second.id]

    async with db.session() as session:
        await ThreadRepository(session, owner.id).add_message(first.id, "user", "bump", None)

    async with db.session() as session:
        threads = ThreadRepository(session, owner.id)
        assert [t.id for t in await threads.list()] == [first.id, third.id, second.id]
        bumped = await threads.get(first.id)
    assert bumped.updated_at > first.updated_at


# -- runs -----------------------------------------------------------------------
async def test_runs_are_scoped_to_their_owner(
    db: Database, add_user: Callable[..., Awaitable[User]]
) -> None:
    alice, bob = await add_user(db), await add_user(db)
    thread = await new_thread(db, alice)
    run = await new_run(db, alice, thread)

    async with db.session() as session:
        as_alice, as_bob = RunRepository(session, alice.id), RunRepository(session, bob.id)
        assert (await as_alice.get(run.id)).status == "queued"
        assert (await as_alice.active_in_thread(thread.id)).id == run.id
        assert await as_bob.get(run.id) is None
        assert await as_bob.active_in_thread(thread.id) is None


async def test_a_thread_has_at_most_one_active_run(
    db: Database, add_user: Callable[..., Awaitable[User]]
) -> None:
    owner = await add_user(db)
    thread, other_thread = await new_thread(db, owner), await new_thread(db, owner)
    first = await new_run(db, owner, thread)

    with pytest.raises(IntegrityError):
        await new_run(db, owner, thread)  # first is queued

    async with db.session() as session:
        await set_run_status(session, first.id, "running")
    with pytest.raises(IntegrityError):
        await new_run(db, owner, thread)  # first is running

    elsewhere = await new_run(db, owner, other_thread)  # other threads are unaffected

    async with db.session() as session:
        await set_run_status(session, first.id, "completed", usage={"total_tokens": 3})
    second = await new_run(db, owner, thread)

    async with db.session() as session:
        runs = RunRepository(session, owner.id)
        assert (await runs.active_in_thread(thread.id)).id == second.id
        assert (await runs.active_in_thread(other_thread.id)).id == elsewhere.id
        finished = await runs.get(first.id)
    assert finished.status == "completed"
    assert finished.usage == {"total_tokens": 3}
    assert finished.finished_at is not None


async def test_a_failed_run_records_its_error_code(
    db: Database, add_user: Callable[..., Awaitable[User]]
) -> None:
    owner = await add_user(db)
    run = await new_run(db, owner, await new_thread(db, owner))

    async with db.session() as session:
        await set_run_status(session, run.id, "failed", error_code="timeout")

    async with db.session() as session:
        failed = await RunRepository(session, owner.id).get(run.id)
        assert await RunRepository(session, owner.id).active_in_thread(run.thread_id) is None
    assert (failed.status, failed.error_code) == ("failed", "timeout")
    assert failed.finished_at is not None


# -- events ---------------------------------------------------------------------
async def test_event_seq_counts_from_one_per_thread(
    db: Database,
    add_user: Callable[..., Awaitable[User]],
    append: Callable[..., Awaitable[list[int]]],
) -> None:
    owner = await add_user(db)
    thread, other = await new_thread(db, owner), await new_thread(db, owner)
    run, other_run = await new_run(db, owner, thread), await new_run(db, owner, other)

    seqs = await append(
        db, thread.id, run.id, *[("agent_thinking", {"text": f"step {i}"}) for i in range(2)]
    )
    for index in range(2, 5):
        seqs += await append(db, thread.id, run.id, ("agent_thinking", {"text": f"step {index}"}))
    other_seqs = await append(db, other.id, other_run.id, ("agent_started", {}))

    assert seqs == [1, 2, 3, 4, 5]
    assert other_seqs == [1]
    async with db.session() as session:
        threads = ThreadRepository(session, owner.id)
        assert (await threads.get(thread.id)).last_seq == 5
        later = await threads.events(thread.id, after_seq=2)
        assert [e.seq for e in await threads.events(thread.id, after_seq=5)] == []
    assert [e.seq for e in later] == [3, 4, 5]
    assert [e.data["text"] for e in later] == ["step 2", "step 3", "step 4"]
    assert {e.run_id for e in later} == {run.id}


async def test_event_append_to_a_missing_thread_raises(
    db: Database, append: Callable[..., Awaitable[list[int]]]
) -> None:
    with pytest.raises(LookupError, match="thr_missing"):
        await append(db, "thr_missing", "run_missing", ("agent_started", {}))


async def test_concurrent_appends_get_consecutive_seqs_without_gaps(
    db: Database,
    add_user: Callable[..., Awaitable[User]],
    append: Callable[..., Awaitable[list[int]]],
) -> None:
    owner = await add_user(db)
    thread = await new_thread(db, owner)
    run = await new_run(db, owner, thread)

    async def append_one(index: int) -> int:
        (seq,) = await append(db, thread.id, run.id, ("agent_thinking", {"text": str(index)}))
        return seq

    seqs = await asyncio.gather(*(append_one(i) for i in range(CONCURRENT_APPENDS)))

    expected = list(range(1, CONCURRENT_APPENDS + 1))
    assert sorted(seqs) == expected
    async with db.session() as session:
        threads = ThreadRepository(session, owner.id)
        stored = await threads.events(thread.id)
        assert (await threads.get(thread.id)).last_seq == CONCURRENT_APPENDS
    assert [e.seq for e in stored] == expected
    assert sorted(int(e.data["text"]) for e in stored) == list(range(CONCURRENT_APPENDS))
