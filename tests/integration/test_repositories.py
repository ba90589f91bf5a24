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
    RunEnd,
    RunRepository,
    StoredRun,
    ThreadRepository,
    UserRepository,
    set_run_status,
)
from netra.ids import new_id

CONCURRENT_APPENDS = 20
StoreRun = Callable[..., Awaitable[StoredRun]]


async def new_thread(db: Database, owner: User, title: str = "a thread") -> Thread:
    async with db.session() as session:
        return await ThreadRepository(session, owner.id).add(title)


async def active_run(db: Database, thread_id: str) -> str | None:
    async with db.read() as session:
        return await session.scalar(
            select(Run.id).where(Run.thread_id == thread_id, Run.status.in_(("queued", "running")))
        )


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
    store: StoreRun,
) -> None:
    alice, bob = await add_user(db), await add_user(db)
    thread = await new_thread(db, alice, "alice's")
    run = await store(db, alice.id, "hi", thread.id)
    await append(db, thread.id, run.run_id, ("agent_started", {"agent": "a"}))

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


async def test_a_run_on_another_owners_thread_is_refused_and_writes_nothing(
    db: Database, add_user: Callable[..., Awaitable[User]], store: StoreRun
) -> None:
    alice, bob = await add_user(db), await add_user(db)
    thread = await new_thread(db, alice)

    with pytest.raises(LookupError):
        await store(db, bob.id, "bob was here", thread.id)

    async with db.session() as session:
        stored = await session.scalars(select(Message.text).where(Message.thread_id == thread.id))
        assert stored.all() == []
        assert await session.scalar(select(func.count()).select_from(Run)) == 0
        unchanged = await ThreadRepository(session, alice.id).get(thread.id)
    assert unchanged.updated_at == thread.updated_at


async def test_a_run_sees_its_threads_recent_messages_oldest_first_its_own_last(
    db: Database,
    add_user: Callable[..., Awaitable[User]],
    store: StoreRun,
    append: Callable[..., Awaitable[list[int]]],
) -> None:
    owner = await add_user(db)
    first = await store(db, owner.id, "first question")
    assert (first.start_seq, first.history) == (0, [("user", "first question")])
    seqs = await append(
        db,
        first.thread_id,
        first.run_id,
        ("agent_started", {}),
        ("agent_completed", {}),
        end=RunEnd("completed", message_id=new_id("msg"), message_text="first answer"),
    )

    second = await store(db, owner.id, "second question", first.thread_id)

    assert second.start_seq == seqs[-1]
    assert second.history == [
        ("user", "first question"),
        ("assistant", "first answer"),
        ("user", "second question"),
    ]


async def test_threads_are_listed_newest_activity_first(
    db: Database, add_user: Callable[..., Awaitable[User]], store: StoreRun
) -> None:
    owner = await add_user(db)
    first = await new_thread(db, owner, "first")
    second = await new_thread(db, owner, "second")
    third = await new_thread(db, owner, "third")

    async with db.session() as session:
        threads = ThreadRepository(session, owner.id)
        assert [t.id for t in await threads.list()] == [third.id, second.id, first.id]
        assert [t.id for t in await threads.list(limit=2)] == [third.id, second.id]

    await store(db, owner.id, "bump", first.id)

    async with db.session() as session:
        threads = ThreadRepository(session, owner.id)
        assert [t.id for t in await threads.list()] == [first.id, third.id, second.id]
        bumped = await threads.get(first.id)
    assert bumped.updated_at > first.updated_at


# -- runs -----------------------------------------------------------------------
async def test_runs_are_scoped_to_their_owner(
    db: Database, add_user: Callable[..., Awaitable[User]], store: StoreRun
) -> None:
    alice, bob = await add_user(db), await add_user(db)
    run = await store(db, alice.id)

    async with db.session() as session:
        as_alice, as_bob = RunRepository(session, alice.id), RunRepository(session, bob.id)
        assert (await as_alice.get(run.run_id)).status == "queued"
        assert await as_bob.get(run.run_id) is None


async def test_a_thread_has_at_most_one_active_run(
    db: Database, add_user: Callable[..., Awaitable[User]], store: StoreRun
) -> None:
    owner = await add_user(db)
    thread, other_thread = await new_thread(db, owner), await new_thread(db, owner)
    first = await store(db, owner.id, "first", thread.id)

    with pytest.raises(IntegrityError):
        await store(db, owner.id, "too soon", thread.id)  # first is queued

    async with db.session() as session:
        await set_run_status(session, first.run_id, "running")
    with pytest.raises(IntegrityError):
        await store(db, owner.id, "too soon", thread.id)  # first is running

    elsewhere = await store(db, owner.id, "other", other_thread.id)  # other threads: unaffected

    async with db.session() as session:
        await set_run_status(session, first.run_id, "completed", usage={"total_tokens": 3})
    second = await store(db, owner.id, "second", thread.id)

    assert await active_run(db, thread.id) == second.run_id
    assert await active_run(db, other_thread.id) == elsewhere.run_id
    async with db.session() as session:
        finished = await RunRepository(session, owner.id).get(first.run_id)
    assert finished.status == "completed"
    assert finished.usage == {"total_tokens": 3}
    assert finished.finished_at is not None


async def test_a_failed_run_records_its_error_code(
    db: Database, add_user: Callable[..., Awaitable[User]], store: StoreRun
) -> None:
    owner = await add_user(db)
    run = await store(db, owner.id)

    async with db.session() as session:
        await set_run_status(session, run.run_id, "failed", error_code="timeout")

    assert await active_run(db, run.thread_id) is None
    async with db.session() as session:
        failed = await RunRepository(session, owner.id).get(run.run_id)
    assert (failed.status, failed.error_code) == ("failed", "timeout")
    assert failed.finished_at is not None


# -- events ---------------------------------------------------------------------
async def test_event_seq_counts_from_one_per_thread(
    db: Database,
    add_user: Callable[..., Awaitable[User]],
    append: Callable[..., Awaitable[list[int]]],
    store: StoreRun,
) -> None:
    owner = await add_user(db)
    run, other_run = await store(db, owner.id), await store(db, owner.id)
    thread, other = run.thread_id, other_run.thread_id

    seqs = await append(
        db, thread, run.run_id, *[("agent_thinking", {"text": f"step {i}"}) for i in range(2)]
    )
    for index in range(2, 5):
        seqs += await append(db, thread, run.run_id, ("agent_thinking", {"text": f"step {index}"}))
    other_seqs = await append(db, other, other_run.run_id, ("agent_started", {}))

    assert seqs == [1, 2, 3, 4, 5]
    assert other_seqs == [1]
    async with db.session() as session:
        threads = ThreadRepository(session, owner.id)
        assert (await threads.get(thread)).last_seq == 5
        later = await threads.events(thread, after_seq=2)
        assert [e.seq for e in await threads.events(thread, after_seq=5)] == []
    assert [e.seq for e in later] == [3, 4, 5]
    assert [e.data["text"] for e in later] == ["step 2", "step 3", "step 4"]
    assert {e.run_id for e in later} == {run.run_id}


async def test_event_append_to_a_missing_thread_raises(
    db: Database, append: Callable[..., Awaitable[list[int]]]
) -> None:
    with pytest.raises(LookupError, match="thr_missing"):
        await append(db, "thr_missing", "run_missing", ("agent_started", {}))


async def test_concurrent_appends_get_consecutive_seqs_without_gaps(
    db: Database,
    add_user: Callable[..., Awaitable[User]],
    append: Callable[..., Awaitable[list[int]]],
    store: StoreRun,
) -> None:
    owner = await add_user(db)
    run = await store(db, owner.id)
    thread = run.thread_id

    async def append_one(index: int) -> int:
        (seq,) = await append(db, thread, run.run_id, ("agent_thinking", {"text": str(index)}))
        return seq

    seqs = await asyncio.gather(*(append_one(i) for i in range(CONCURRENT_APPENDS)))

    expected = list(range(1, CONCURRENT_APPENDS + 1))
    assert sorted(seqs) == expected
    async with db.session() as session:
        threads = ThreadRepository(session, owner.id)
        stored = await threads.events(thread)
        assert (await threads.get(thread)).last_seq == CONCURRENT_APPENDS
    assert [e.seq for e in stored] == expected
    assert sorted(int(e.data["text"]) for e in stored) == list(range(CONCURRENT_APPENDS))
