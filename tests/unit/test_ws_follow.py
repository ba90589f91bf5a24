"""How a connection follows a thread: live events in order, gaps filled from the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson

from netra.ids import new_id
from netra.realtime.bus import InMemoryEventBus
from netra.realtime.connection import REPLAY_PAGE, _Follow
from netra.realtime.events import AgentEvent, EventType

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
    """Stands in for the connection: the "database" holds what was committed."""

    def __init__(self, stored: int) -> None:
        self.closed = False
        self.stored = stored
        self.sent: list[int] = []
        self.reads: list[int] = []
        self.read_started = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def read_events(self, thread_id: str, after_seq: int) -> list[AgentEvent]:
        self.reads.append(after_seq)
        last = min(self.stored, after_seq + REPLAY_PAGE)  # the read's snapshot
        self.read_started.set()
        await self.release.wait()
        return [event(seq) for seq in range(after_seq + 1, last + 1)]

    def send_text(self, text: str) -> None:
        self.sent.append(_seq(text))

    async def send_when_room(self, text: str) -> None:
        self.sent.append(_seq(text))

    def follow_failed(self, follow: _Follow, exc: BaseException) -> None:
        raise AssertionError(f"the follow failed: {exc!r}")


def _seq(frame: str) -> int:
    seq: int = orjson.loads(frame)["seq"]
    return seq


async def publish(bus: InMemoryEventBus, reader: Reader, *seqs: int) -> None:
    reader.stored = max(reader.stored, *seqs)  # committed before published
    await bus.publish([event(seq) for seq in seqs])


async def replayed(follow: _Follow) -> None:
    while (task := follow.replay) is not None:
        await task


async def test_live_events_in_order_go_straight_out_without_a_read() -> None:
    bus, reader = InMemoryEventBus(), Reader(stored=3)
    follow = _Follow(reader, bus, THREAD, 3)  # type: ignore[arg-type]
    await publish(bus, reader, 4, 5)
    await publish(bus, reader, 4, 6)  # a duplicate is dropped
    assert reader.sent == [4, 5, 6]
    assert reader.reads == []
    follow.stop()


async def test_a_gap_on_the_bus_is_filled_from_the_database() -> None:
    bus, reader = InMemoryEventBus(), Reader(stored=1)
    follow = _Follow(reader, bus, THREAD, 1)  # type: ignore[arg-type]
    reader.stored = 4  # 2 to 4 committed, but their publish never reached us
    await publish(bus, reader, 5)
    await replayed(follow)
    await publish(bus, reader, 6)
    assert reader.sent == [2, 3, 4, 5, 6]
    follow.stop()


async def test_events_heard_during_a_replay_are_read_back_not_lost_or_doubled() -> None:
    bus, reader = InMemoryEventBus(), Reader(stored=2)
    follow = _Follow(reader, bus, THREAD, 0)  # type: ignore[arg-type]
    reader.release.clear()
    follow.start_replay()
    await reader.read_started.wait()  # the read of 1..2 is in flight
    await publish(bus, reader, 3, 4)  # heard while replaying: not sent live
    reader.release.set()
    await replayed(follow)
    await publish(bus, reader, 5)
    assert reader.sent == [1, 2, 3, 4, 5]
    assert reader.reads == [0, 2]
    follow.stop()


async def test_a_stopped_follow_sends_nothing_more() -> None:
    bus, reader = InMemoryEventBus(), Reader(stored=0)
    follow = _Follow(reader, bus, THREAD, 0)  # type: ignore[arg-type]
    await publish(bus, reader, 1)
    follow.stop()
    await publish(bus, reader, 2)
    assert reader.sent == [1]


async def test_a_replay_of_a_deleted_thread_stops_instead_of_reading_forever() -> None:
    bus, reader = InMemoryEventBus(), Reader(stored=1)
    failures: list[BaseException] = []
    reader.follow_failed = lambda follow, exc: failures.append(exc)  # type: ignore[method-assign]
    follow = _Follow(reader, bus, THREAD, 1)  # type: ignore[arg-type]
    await bus.publish([event(3)])  # a gap; then the thread and its events are deleted
    await replayed(follow)
    assert reader.reads == [1]
    assert [type(exc) for exc in failures] == [LookupError]
    follow.stop()
