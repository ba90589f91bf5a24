"""ThreadFollower on a stand-in log: live events in order, gaps and resyncs filled from the log.

The same cases on the real databases are in tests/integration/test_follow.py.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from netra.ids import new_id
from netra.realtime.bus import InMemoryEventBus
from netra.realtime.events import AgentEvent, EventType
from netra.realtime.follow import REPLAY_PAGE, ThreadFollower

THREAD = new_id("thr")
RUN = new_id("run")


def event(seq: int) -> AgentEvent:
    return AgentEvent(
        type=EventType.AGENT_MESSAGE_DELTA,
        event_id=new_id("evt"),
        thread_id=THREAD,
        run_id=RUN,
        seq=seq,
        ts=datetime(2026, 12, 1, tzinfo=UTC),
        data={"delta": f"#{seq}"},
    )


class Reader:
    """A sink whose "log" holds the events up to `stored`, as committed."""

    def __init__(self, stored: int) -> None:
        self.closed = False
        self.stored = stored
        self.sent: list[int] = []
        self.reads: list[int] = []
        self.read_started = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def read_events(self, thread_id: str, after_seq: int, limit: int) -> list[AgentEvent]:
        self.reads.append(after_seq)
        last = min(self.stored, after_seq + limit)  # the read's snapshot
        self.read_started.set()
        await self.release.wait()
        return [event(seq) for seq in range(after_seq + 1, last + 1)]

    def send_event(self, event: AgentEvent) -> None:
        self.sent.append(event.seq)

    async def send_event_when_room(self, event: AgentEvent) -> None:
        self.sent.append(event.seq)

    def follow_failed(self, follower: ThreadFollower, exc: BaseException) -> None:
        raise AssertionError(f"the follower failed: {exc!r}")


async def publish(bus: InMemoryEventBus, reader: Reader, *seqs: int) -> None:
    reader.stored = max(reader.stored, *seqs)  # committed before published
    await bus.publish([event(seq) for seq in seqs])


async def replayed(follower: ThreadFollower) -> None:
    while (task := follower.replay) is not None:
        await task


async def test_live_events_in_order_go_straight_out_without_a_read() -> None:
    bus, reader = InMemoryEventBus(), Reader(stored=3)
    follower = ThreadFollower(bus, THREAD, 3, reader, replay=False)
    await publish(bus, reader, 4, 5)
    await publish(bus, reader, 4, 6)  # a duplicate is dropped
    assert reader.sent == [4, 5, 6]
    assert reader.reads == []
    follower.stop()


async def test_a_gap_on_the_bus_is_filled_from_the_database() -> None:
    bus, reader = InMemoryEventBus(), Reader(stored=1)
    follower = ThreadFollower(bus, THREAD, 1, reader, replay=False)
    reader.stored = 4  # 2 to 4 committed, but their publish never reached us
    await publish(bus, reader, 5)
    await replayed(follower)
    await publish(bus, reader, 6)
    assert reader.sent == [2, 3, 4, 5, 6]
    follower.stop()


async def test_events_heard_during_a_replay_are_read_back_not_lost_or_doubled() -> None:
    bus, reader = InMemoryEventBus(), Reader(stored=2)
    reader.release.clear()
    follower = ThreadFollower(bus, THREAD, 0, reader, replay=True)
    await reader.read_started.wait()  # the read of 1..2 is in flight
    await publish(bus, reader, 3, 4)  # heard while replaying: not sent live
    reader.release.set()
    await replayed(follower)
    await publish(bus, reader, 5)
    assert reader.sent == [1, 2, 3, 4, 5]
    assert reader.reads == [0, 2]
    follower.stop()


async def test_a_stopped_follow_sends_nothing_more() -> None:
    bus, reader = InMemoryEventBus(), Reader(stored=0)
    follower = ThreadFollower(bus, THREAD, 0, reader, replay=False)
    await publish(bus, reader, 1)
    follower.stop()
    await publish(bus, reader, 2)
    assert reader.sent == [1]


async def test_a_replay_of_a_deleted_thread_stops_instead_of_reading_forever() -> None:
    bus, reader = InMemoryEventBus(), Reader(stored=1)
    failures: list[BaseException] = []
    reader.follow_failed = lambda follower, exc: failures.append(exc)  # type: ignore[method-assign]
    follower = ThreadFollower(bus, THREAD, 1, reader, replay=False)
    await bus.publish([event(3)])  # a gap; then the thread and its events are deleted
    await replayed(follower)
    assert reader.reads == [1]
    assert [type(exc) for exc in failures] == [LookupError]
    follower.stop()


async def test_a_long_history_is_read_page_by_page() -> None:
    bus, reader = InMemoryEventBus(), Reader(stored=REPLAY_PAGE + 5)
    follower = ThreadFollower(bus, THREAD, 0, reader, replay=True)
    await replayed(follower)
    assert reader.sent == list(range(1, REPLAY_PAGE + 6))
    assert reader.reads == [0, REPLAY_PAGE]
    follower.stop()


async def test_a_resync_during_a_replay_reads_once_more_after_it() -> None:
    bus, reader = InMemoryEventBus(), Reader(stored=2)
    reader.release.clear()
    follower = ThreadFollower(bus, THREAD, 0, reader, replay=True)
    await reader.read_started.wait()  # the read's snapshot holds 1..2
    reader.stored = 3  # committed, and lost by the bus, which then says so
    follower.resync()
    reader.release.set()
    await replayed(follower)
    assert reader.sent == [1, 2, 3]
    assert reader.reads == [0, 2]
    follower.stop()


async def test_a_resync_while_live_reads_from_the_last_event_delivered() -> None:
    bus, reader = InMemoryEventBus(), Reader(stored=0)
    follower = ThreadFollower(bus, THREAD, 0, reader, replay=False)
    await publish(bus, reader, 1, 2)
    follower.resync()
    await replayed(follower)
    assert (reader.sent, reader.reads) == ([1, 2], [2])  # nothing missed, nothing twice
    reader.stored = 4  # 3 and 4 lost
    follower.resync()
    await replayed(follower)
    await publish(bus, reader, 4, 5)
    assert reader.sent == [1, 2, 3, 4, 5]
    follower.stop()


async def test_a_closed_sink_stops_the_replay_and_a_failed_follower_stops_listening() -> None:
    bus, reader = InMemoryEventBus(), Reader(stored=REPLAY_PAGE + 5)
    reader.release.clear()
    follower = ThreadFollower(bus, THREAD, 0, reader, replay=True)
    await reader.read_started.wait()
    reader.closed = True
    reader.release.set()
    await replayed(follower)
    assert reader.sent == [1]  # the first page stops at the first event after closing
    assert reader.reads == [0]
    follower.stop()

    failures: list[BaseException] = []
    reader = Reader(stored=1)
    reader.follow_failed = lambda follower, exc: failures.append(exc)  # type: ignore[method-assign]
    follower = ThreadFollower(bus, THREAD, 1, reader, replay=False)
    await bus.publish([event(3)])  # a gap that the log cannot fill
    await replayed(follower)
    assert follower.stopped
    await publish(bus, reader, 4)
    assert (reader.sent, len(failures)) == ([], 1)
