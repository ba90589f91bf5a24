"""ThreadFollower on the real databases: replay, then live, each event once and in order.

Events are committed to the real log and then published, as the event log
writer does; `OutageBus` is a real in-process bus whose fan-out can lose events
and then say so (`resync`), as the Redis fan-out does after an outage. Each
follower's sink reads the log through `read_thread_events`, as the WebSocket
connection and the AG-UI stream do.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import pytest
import redis.asyncio

from netra.api.agui.service import STREAM_ROOM, RunStreamFailed, follow_run
from netra.db.engine import Database
from netra.db.models import User
from netra.db.repositories import RunEnd, StoredRun, ThreadRepository
from netra.ids import new_id
from netra.realtime.events import AgentEvent
from netra.realtime.follow import ThreadFollower, log_ends, read_thread_events
from netra.realtime.redis_bus import RedisEventBus
from netra.testing.bus import OutageBus
from netra.testing.services.redis import RedisService, RestartableRedis

HANG_GUARD = 30  # seconds; reached only if something hangs, which is itself the failure
# The `store` and `append` fixtures of conftest.py.
StoreRun = Callable[..., Awaitable[StoredRun]]
AppendEvents = Callable[..., Awaitable[list[int]]]


class LogSink:
    """A follower's sink that keeps what it is given and reads the real log.

    `hold_reads` makes each read wait, after its query, until `release_reads` is set:
    the read's snapshot is taken, and the test commits or publishes meanwhile.
    `room` cleared makes a replay wait before handing over its next event.
    """

    def __init__(self, db: Database, owner_id: str) -> None:
        self.db = db
        self.owner_id = owner_id
        self.closed = False
        self.events: list[AgentEvent] = []
        self.reads: list[int] = []
        self.failures: list[BaseException] = []
        self.hold_reads = False
        self.read_done = asyncio.Event()
        self.release_reads = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()
        self.waiting_for_room = asyncio.Event()
        self.given = asyncio.Event()  # set with each event given

    @property
    def seqs(self) -> list[int]:
        return [event.seq for event in self.events]

    def send_event(self, event: AgentEvent) -> None:
        self.events.append(event)
        self.given.set()

    async def send_event_when_room(self, event: AgentEvent) -> None:
        if not self.room.is_set():
            self.waiting_for_room.set()
            await self.room.wait()
        self.events.append(event)
        self.given.set()

    async def read_events(self, thread_id: str, after_seq: int, limit: int) -> list[AgentEvent]:
        self.reads.append(after_seq)
        page = await read_thread_events(self.db, self.owner_id, thread_id, after_seq, limit)
        if self.hold_reads:
            self.read_done.set()
            await self.release_reads.wait()
            self.read_done.clear()
            self.release_reads.clear()
        return page

    def follow_failed(self, follower: ThreadFollower, exc: BaseException) -> None:
        self.failures.append(exc)


@dataclass
class FollowedThread:
    """One run's thread on the real database, written the way the event log writer does."""

    db: Database
    owner_id: str
    thread_id: str
    run_id: str
    bus: OutageBus
    append: AppendEvents

    async def commit(self, count: int, end: bool = False) -> list[AgentEvent]:
        """Commit `count` events of the run (the last one terminal with `end`) and
        return them as stored; nothing is published."""
        events = [("agent_thinking", {"text": f"step {n}"}) for n in range(count)]
        if end:
            events[-1] = ("agent_completed", {"message_id": "msg_1", "text": "done", "usage": {}})
        seqs = await self.append(
            self.db,
            self.thread_id,
            self.run_id,
            *events,
            end=RunEnd("completed") if end else None,
        )
        stored = await read_thread_events(
            self.db, self.owner_id, self.thread_id, seqs[0] - 1, len(seqs)
        )
        assert [event.seq for event in stored] == seqs
        return stored

    async def publish(self, events: Sequence[AgentEvent]) -> None:
        await self.bus.publish(events)

    async def commit_and_publish(self, count: int, end: bool = False) -> list[AgentEvent]:
        events = await self.commit(count, end)
        await self.publish(events)
        return events

    def follower(self, sink: LogSink, after_seq: int, *, replay: bool) -> ThreadFollower:
        return ThreadFollower(self.bus, self.thread_id, after_seq, sink, replay=replay)


@pytest.fixture
async def thread(
    db: Database,
    add_user: Callable[..., Awaitable[User]],
    store: StoreRun,
    append: AppendEvents,
) -> FollowedThread:
    owner = await add_user(db)
    stored = await store(db, owner.id)
    return FollowedThread(db, owner.id, stored.thread_id, stored.run_id, OutageBus(), append)


@pytest.fixture
def sink(db: Database, thread: FollowedThread) -> LogSink:
    return LogSink(db, thread.owner_id)


async def replayed(follower: ThreadFollower) -> None:
    while (task := follower.replay) is not None:
        await asyncio.wait_for(task, HANG_GUARD)


async def test_history_then_live_each_event_once_in_order(
    thread: FollowedThread, sink: LogSink
) -> None:
    await thread.commit_and_publish(3)  # before anyone followed
    follower = thread.follower(sink, 1, replay=True)
    await replayed(follower)
    await thread.commit_and_publish(2)
    follower.stop()
    assert sink.seqs == [2, 3, 4, 5]
    assert sink.reads == [1]  # live events in order went straight through
    assert [e.to_frame() for e in sink.events] == [
        e.to_frame()
        for e in await read_thread_events(thread.db, thread.owner_id, thread.thread_id, 1, 100)
    ]


async def test_a_gap_on_the_bus_is_filled_from_the_log(
    thread: FollowedThread, sink: LogSink
) -> None:
    follower = thread.follower(sink, 0, replay=False)
    await thread.commit_and_publish(2)
    lost = await thread.commit(2)  # committed, and their publish never reached the bus
    await thread.commit_and_publish(1)  # 5: after a gap
    await replayed(follower)
    await thread.commit_and_publish(1)
    follower.stop()
    assert sink.seqs == [1, 2, 3, 4, 5, 6]
    assert [e.event_id for e in sink.events[2:4]] == [e.event_id for e in lost]
    assert sink.reads == [2]


async def test_a_resync_replays_exactly_the_missed_events(
    thread: FollowedThread, sink: LogSink
) -> None:
    follower = thread.follower(sink, 0, replay=False)
    await thread.commit_and_publish(2)
    thread.bus.outage()
    await thread.commit_and_publish(3)  # 3..5: lost by the fan-out
    assert [e.seq for e in thread.bus.lost] == [3, 4, 5]
    thread.bus.recover()  # and it says so
    await replayed(follower)
    await thread.commit_and_publish(1)
    follower.stop()
    assert sink.seqs == [1, 2, 3, 4, 5, 6]
    assert sink.reads == [2]


async def test_a_resync_during_a_replay_reads_what_its_read_could_not_see(
    thread: FollowedThread, sink: LogSink
) -> None:
    await thread.commit(2)
    sink.hold_reads = True
    follower = thread.follower(sink, 0, replay=True)
    await asyncio.wait_for(sink.read_done.wait(), HANG_GUARD)  # the read saw 1..2
    thread.bus.outage()
    await thread.commit_and_publish(1)  # 3: after the read, and lost
    thread.bus.recover()
    sink.hold_reads = False
    sink.release_reads.set()
    await replayed(follower)
    follower.stop()
    assert sink.seqs == [1, 2, 3]
    assert sink.reads == [0, 2]


async def test_events_both_replayed_and_heard_live_are_delivered_once(
    thread: FollowedThread, sink: LogSink
) -> None:
    first = await thread.commit(2)
    sink.hold_reads = True
    follower = thread.follower(sink, 0, replay=True)
    await asyncio.wait_for(sink.read_done.wait(), HANG_GUARD)  # the read saw 1..2
    third = await thread.commit(1)
    await thread.publish(first + third)  # 1..3 heard during the replay (1..2 published late)
    sink.hold_reads = False
    sink.release_reads.set()
    await replayed(follower)
    await thread.publish(first + third)  # published again, as a republished end is
    fourth = await thread.commit_and_publish(1)
    follower.stop()
    assert sink.seqs == [1, 2, 3, 4]
    assert [e.event_id for e in sink.events] == [e.event_id for e in first + third + fourth]
    assert sink.reads == [0, 2]


async def test_stopping_during_a_replay_sends_nothing_more_and_stops_listening(
    thread: FollowedThread, sink: LogSink
) -> None:
    await thread.commit(3)
    sink.room.clear()
    follower = thread.follower(sink, 0, replay=True)
    assert thread.bus.listeners == 1
    await asyncio.wait_for(sink.waiting_for_room.wait(), HANG_GUARD)  # 1 is waiting for room
    stopping = follower.stop()
    assert stopping is not None
    await asyncio.wait_for(asyncio.gather(stopping, return_exceptions=True), HANG_GUARD)
    sink.room.set()
    await thread.commit_and_publish(1)
    follower.resync()  # a late resync of a stopped follower reads nothing
    assert follower.replay is None
    assert stopping.cancelled()
    assert sink.events == []
    assert thread.bus.listeners == 0
    assert sink.reads == [0]


async def test_stopping_while_a_replay_reads_sends_nothing(
    thread: FollowedThread, sink: LogSink
) -> None:
    await thread.commit(2)
    sink.hold_reads = True
    follower = thread.follower(sink, 0, replay=True)
    await asyncio.wait_for(sink.read_done.wait(), HANG_GUARD)
    stopping = follower.stop()
    assert stopping is not None
    await asyncio.wait_for(asyncio.gather(stopping, return_exceptions=True), HANG_GUARD)
    await thread.commit_and_publish(1)
    assert (sink.events, sink.failures, thread.bus.listeners) == ([], [], 0)


async def test_a_follower_of_a_deleted_thread_fails_once_and_stops(
    thread: FollowedThread, sink: LogSink
) -> None:
    follower = thread.follower(sink, 0, replay=False)
    events = await thread.commit_and_publish(3)
    async with thread.db.session() as session:
        assert await ThreadRepository(session, thread.owner_id).delete(thread.thread_id)
    thread.bus.outage()  # the fan-out may have lost events, then the thread was deleted
    thread.bus.recover()
    await thread.publish([*events, events[-1]])  # stale copies: dropped
    await replayed(follower)  # it read nothing, and nothing was missing
    assert sink.failures == []
    # A gap the log no longer holds: the thread is gone.
    await thread.publish([replace(events[-1], seq=5, frame="")])
    await replayed(follower)
    assert [type(exc) for exc in sink.failures] == [LookupError]
    assert follower.stopped
    assert thread.bus.listeners == 0
    assert sink.seqs == [1, 2, 3]


# -- AG-UI's stream follows a run through the same follower ----------------------------------


async def test_an_agui_stream_gets_every_event_of_its_run_once_across_a_resync(
    thread: FollowedThread,
) -> None:
    events = follow_run(
        thread.db, thread.bus, thread.owner_id, thread.thread_id, thread.run_id, after_seq=0
    )
    started = await thread.commit(1)  # before the stream listened: read from the log
    await thread.publish(started)
    seen = _events([await _next(events)])
    thread.bus.outage()
    await thread.commit_and_publish(3)  # lost
    thread.bus.recover()
    await thread.commit_and_publish(2, end=True)  # heard during (or after) the replay
    await thread.publish(started)  # a stale copy
    seen.extend(_events([event async for event in events]))
    assert [e.seq for e in seen] == [1, 2, 3, 4, 5, 6]
    assert seen[-1].is_terminal
    assert thread.bus.listeners == 0  # the stream's end stopped its follower
    stored = await read_thread_events(thread.db, thread.owner_id, thread.thread_id, 0, 100)
    assert [e.event_id for e in seen] == [e.event_id for e in stored]


async def test_an_agui_stream_keeps_to_its_run_and_ends_with_it(
    thread: FollowedThread, store: StoreRun
) -> None:
    await thread.commit_and_publish(2, end=True)  # an earlier run of the thread
    later = await store(thread.db, thread.owner_id, "again", thread.thread_id)
    events = follow_run(
        thread.db, thread.bus, thread.owner_id, thread.thread_id, later.run_id, later.start_seq
    )
    waiting = asyncio.ensure_future(_next(events))  # listening, and replaying from later's start
    thread.run_id = later.run_id
    await thread.commit_and_publish(2, end=True)
    first = await asyncio.wait_for(waiting, HANG_GUARD)
    rest = [event async for event in events]
    assert [(e.seq, e.run_id) for e in _events([first, *rest])] == [
        (3, later.run_id),
        (4, later.run_id),
    ]
    assert thread.bus.listeners == 0


async def test_an_idle_agui_stream_yields_none_and_a_closed_one_stops_following(
    thread: FollowedThread,
) -> None:
    events = follow_run(
        thread.db,
        thread.bus,
        thread.owner_id,
        thread.thread_id,
        thread.run_id,
        after_seq=0,
        idle=0.01,
    )
    assert await _next(events) is None  # nothing yet: a keep-alive
    assert thread.bus.listeners == 1
    await events.aclose()  # the client left
    assert thread.bus.listeners == 0


async def test_closing_an_agui_stream_returns_once_its_replay_has_stopped(
    thread: FollowedThread,
) -> None:
    # More stored events than the stream keeps: its replay waits for room when it closes.
    # Had close returned before the replay stopped, a caller that then closes its
    # database and event loop could find the replay's read half ended, and hang.
    await thread.commit(2 * STREAM_ROOM + 100)
    events = follow_run(
        thread.db, thread.bus, thread.owner_id, thread.thread_id, thread.run_id, after_seq=0
    )
    first = await _next(events)
    assert first is not None
    assert first.seq == 1
    replay = f"replay {thread.thread_id}"
    assert [task.get_name() for task in asyncio.all_tasks()].count(replay) == 1  # under way
    await asyncio.wait_for(events.aclose(), HANG_GUARD)
    assert [task.get_name() for task in asyncio.all_tasks()].count(replay) == 0
    assert thread.bus.listeners == 0


async def test_an_agui_stream_of_a_deleted_thread_fails_after_what_it_had(
    thread: FollowedThread,
) -> None:
    events = follow_run(
        thread.db, thread.bus, thread.owner_id, thread.thread_id, thread.run_id, after_seq=0
    )
    published = await thread.commit_and_publish(1)
    assert [e.seq for e in _events([await _next(events)])] == [1]
    async with thread.db.session() as session:
        assert await ThreadRepository(session, thread.owner_id).delete(thread.thread_id)
    await thread.publish([replace(published[0], seq=3, frame="")])  # a gap
    with pytest.raises(RunStreamFailed):
        await asyncio.wait_for(_next(events), HANG_GUARD)
    assert thread.bus.listeners == 0


async def _next(events: AsyncGenerator[AgentEvent | None, None]) -> AgentEvent | None:
    return await asyncio.wait_for(anext(events), HANG_GUARD)


def _events(events: Sequence[AgentEvent | None]) -> list[AgentEvent]:
    """The events, with no keep-alive (None) among them."""
    assert None not in events
    return [event for event in events if event is not None]


# -- on the real Redis fan-out: a reader behind a trimmed stream resyncs -----------------------


class LastHeard:
    """A bus listener that tells when the event with seq `last` has been heard."""

    def __init__(self, last: int) -> None:
        self.last = last
        self.heard = asyncio.Event()

    def deliver(self, event: AgentEvent) -> None:
        if event.seq == self.last:
            self.heard.set()

    def resync(self, upto: int | None = None) -> None:
        pass  # it only watches the stream


@dataclass
class Instances:
    """Buses of instances sharing one Redis with one short stream (about 100 entries)."""

    writer: RedisEventBus  # started
    reader: RedisEventBus  # not started: start it from `behind`, and it is behind
    behind: dict[str, str]  # where the stream ended before anything was written
    appended: LastHeard  # tells when the last event is in the stream


@asynccontextmanager
async def redis_instances(
    url: str, prefix: str, thread_id: str, last: int
) -> AsyncIterator[Instances]:
    clients = [redis.asyncio.Redis.from_url(url, decode_responses=True) for _ in range(3)]
    writer, reader, watcher = (
        RedisEventBus(client, new_id("srv"), shards=1, max_length=100, prefix=prefix)
        for client in clients
    )
    await writer.start()
    await watcher.start()
    appended = LastHeard(last)
    watcher.listen(thread_id, appended)  # keeps up with the stream
    try:
        yield Instances(writer, reader, await reader.ends(), appended)
    finally:
        for bus in (writer, reader, watcher):
            await bus.close()
        for client in clients:
            await client.aclose()


async def test_on_redis_a_follower_behind_a_trimmed_stream_gets_each_event_once(
    thread: FollowedThread, sink: LogSink, redis_service: RedisService, redis_prefix: str
) -> None:
    async with redis_instances(redis_service.url, redis_prefix, thread.thread_id, 400) as fanout:
        follower = ThreadFollower(fanout.reader, thread.thread_id, 0, sink, replay=False)
        events = await thread.commit(400, end=True)
        for event in events:  # 400 entries, one per event, on a stream kept to about 100
            await fanout.writer.publish([event])
        await asyncio.wait_for(fanout.appended.heard.wait(), HANG_GUARD)
        await fanout.reader.start(fanout.behind)  # the start of its stream is gone
        while sink.seqs[-1:] != [400]:
            await asyncio.wait_for(_changed(sink), HANG_GUARD)
        await replayed(follower)
        follower.stop()
    assert sink.seqs == list(range(1, 401))
    assert sink.reads[:1] == [0]  # what the stream lost was read from the log


async def test_on_redis_an_agui_stream_across_a_resync_gets_its_whole_run_once(
    thread: FollowedThread, redis_service: RedisService, redis_prefix: str
) -> None:
    async with redis_instances(redis_service.url, redis_prefix, thread.thread_id, 400) as fanout:
        events = follow_run(
            thread.db, fanout.reader, thread.owner_id, thread.thread_id, thread.run_id, 0
        )
        first = asyncio.ensure_future(_next(events))  # listening, and reading the empty log
        stored = await thread.commit(400, end=True)
        for event in stored:
            await fanout.writer.publish([event])
        await asyncio.wait_for(fanout.appended.heard.wait(), HANG_GUARD)
        await fanout.reader.start(fanout.behind)
        seen = _events([await asyncio.wait_for(first, HANG_GUARD)])
        seen += _events([event async for event in events])
    assert [e.seq for e in seen] == list(range(1, 401))
    assert [e.event_id for e in seen] == [e.event_id for e in stored]
    assert seen[-1].is_terminal


async def _changed(sink: LogSink) -> None:
    """Until the sink is given another event."""
    count = len(sink.events)
    sink.given.clear()
    while len(sink.events) == count:
        await sink.given.wait()
        sink.given.clear()


async def test_on_redis_away_only_followers_behind_the_log_read_it(
    thread: FollowedThread,
    private_redis: RestartableRedis,
    redis_prefix: str,
) -> None:
    # While Redis is unreachable, one query a poll finds where each followed thread's log
    # ends: followers that have it all read nothing; when an event is committed, they read.
    await thread.commit(2)
    client = redis.asyncio.Redis.from_url(
        private_redis.url, decode_responses=True, socket_connect_timeout=1, socket_timeout=3
    )
    bus = RedisEventBus(
        client,
        new_id("srv"),
        shards=1,
        max_length=100,
        prefix=redis_prefix,
        poll_interval=0.05,
        log_ends=functools.partial(log_ends, thread.db),
    )
    await bus.start()
    sinks = [LogSink(thread.db, thread.owner_id) for _ in range(5)]
    followers = [ThreadFollower(bus, thread.thread_id, 0, s, replay=True) for s in sinks]
    try:
        for follower in followers:
            await replayed(follower)
        assert [s.reads for s in sinks] == [[0]] * 5

        private_redis.stop()
        for _ in range(3):  # three polls of the log with nothing new in it
            bus.polled.clear()
            await asyncio.wait_for(bus.polled.wait(), HANG_GUARD)
        assert [s.reads for s in sinks] == [[0]] * 5

        await thread.commit(1)  # by another instance, whose publish cannot reach Redis
        for s in sinks:
            async with asyncio.timeout(HANG_GUARD):
                while s.seqs != [1, 2, 3]:
                    s.given.clear()
                    await s.given.wait()
        assert all(s.reads[:2] == [0, 2] for s in sinks)
    finally:
        for follower in followers:
            follower.stop()
        await bus.close(flush_timeout=1)
        await client.aclose()
