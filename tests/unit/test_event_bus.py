"""netra.realtime.bus.InMemoryEventBus: per-thread fan-out without loss or leaks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from netra.ids import new_id
from netra.realtime.bus import InMemoryEventBus
from netra.realtime.events import AgentEvent, EventType
from netra.testing.bus import live_events

THREAD_A = new_id("thr")
THREAD_B = new_id("thr")


def make_event(thread_id: str, seq: int) -> AgentEvent:
    return AgentEvent(
        type=EventType.AGENT_THINKING,
        event_id=new_id("evt"),
        thread_id=thread_id,
        run_id=new_id("run"),
        seq=seq,
        ts=datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC),
        data={"text": f"{thread_id} #{seq}"},
    )


def drain(queue: asyncio.Queue[AgentEvent]) -> list[AgentEvent]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


@pytest.fixture
def bus() -> InMemoryEventBus:
    return InMemoryEventBus()


async def test_subscriber_gets_only_its_threads_events(bus: InMemoryEventBus) -> None:
    async with live_events(bus, THREAD_A) as a, live_events(bus, THREAD_B) as b:
        published = [make_event(t, seq) for seq in (1, 2, 3) for t in (THREAD_A, THREAD_B)]
        for event in published:
            await bus.publish([event])
        got_a, got_b = drain(a), drain(b)
    assert got_a == [e for e in published if e.thread_id == THREAD_A]
    assert got_b == [e for e in published if e.thread_id == THREAD_B]
    assert [e.seq for e in got_a] == [1, 2, 3]


async def test_every_subscriber_of_a_thread_gets_every_event(bus: InMemoryEventBus) -> None:
    async with live_events(bus, THREAD_A) as first, live_events(bus, THREAD_A) as second:
        events = [make_event(THREAD_A, seq) for seq in range(1, 6)]
        for event in events:
            await bus.publish([event])
        assert drain(first) == events
        assert drain(second) == events


async def test_publish_without_subscribers_is_a_no_op(bus: InMemoryEventBus) -> None:
    await bus.publish([make_event(THREAD_A, 1)])
    async with live_events(bus, THREAD_A) as queue:
        assert queue.empty()  # the bus is live only; history comes from the database


async def test_unsubscribe_on_exit(bus: InMemoryEventBus) -> None:
    async with live_events(bus, THREAD_A) as stays:
        async with live_events(bus, THREAD_A) as leaves:
            await bus.publish([make_event(THREAD_A, 1)])
        await bus.publish([make_event(THREAD_A, 2)])
        assert [e.seq for e in drain(leaves)] == [1]
        assert [e.seq for e in drain(stays)] == [1, 2]


async def test_unsubscribe_even_when_the_subscriber_fails(bus: InMemoryEventBus) -> None:
    queue: asyncio.Queue[AgentEvent] | None = None
    with pytest.raises(RuntimeError, match="consumer crashed"):
        async with live_events(bus, THREAD_A) as queue:
            raise RuntimeError("consumer crashed")
    assert queue is not None
    await bus.publish([make_event(THREAD_A, 1)])
    assert queue.empty()


async def test_resubscribing_after_everyone_left_works(bus: InMemoryEventBus) -> None:
    async with live_events(bus, THREAD_A):
        pass
    async with live_events(bus, THREAD_A) as queue:
        await bus.publish([make_event(THREAD_A, 1)])
        assert [e.seq for e in drain(queue)] == [1]


async def test_close_stops_delivery(bus: InMemoryEventBus) -> None:
    async with live_events(bus, THREAD_A) as queue:
        await bus.close()
        await bus.publish([make_event(THREAD_A, 1)])
        assert queue.empty()


async def test_waiting_subscriber_is_woken_by_publish(bus: InMemoryEventBus) -> None:
    async with live_events(bus, THREAD_A) as queue:
        blocking = asyncio.Event()

        async def wait_for_one() -> AgentEvent:
            blocking.set()  # nothing yields between here and the get(): it blocks next
            return await queue.get()

        waiter = asyncio.create_task(wait_for_one())
        await blocking.wait()
        assert queue.empty()
        event = make_event(THREAD_A, 1)
        await bus.publish([event])
        assert await asyncio.wait_for(waiter, 5) == event


def test_event_frame_has_the_design_envelope() -> None:
    event = make_event(THREAD_A, 7)
    frame = event.to_frame()
    assert set(frame) == {"type", "event_id", "thread_id", "run_id", "seq", "ts", "data"}
    assert frame["type"] == "agent_thinking"
    assert frame["ts"] == "2026-11-21T10:00:00.123Z"
    assert not event.is_terminal


class Calls:
    """A bus listener that calls a function with each event."""

    def __init__(self, deliver: Callable[[AgentEvent], object]) -> None:
        self.deliver = deliver

    def resync(self, upto: int | None = None) -> None:
        raise AssertionError("the in-process bus never misses an event")


async def test_listeners_are_called_in_order_and_stop_for_good(bus: InMemoryEventBus) -> None:
    heard: list[tuple[str, int]] = []
    stop_first = bus.listen(THREAD_A, Calls(lambda event: heard.append(("first", event.seq))))
    stop_second = bus.listen(THREAD_A, Calls(lambda event: heard.append(("second", event.seq))))
    await bus.publish([make_event(THREAD_A, 1), make_event(THREAD_B, 1)])
    stop_first()
    await bus.publish([make_event(THREAD_A, 2)])
    stop_second()
    await bus.publish([make_event(THREAD_A, 3)])
    assert heard == [("first", 1), ("second", 1), ("second", 2)]


async def test_a_listener_may_stop_itself_while_it_is_being_called(bus: InMemoryEventBus) -> None:
    heard: list[int] = []

    def once(event: AgentEvent) -> None:
        heard.append(event.seq)
        stop()

    stop = bus.listen(THREAD_A, Calls(once))
    others = bus.listen(THREAD_A, Calls(lambda event: heard.append(-event.seq)))
    await bus.publish([make_event(THREAD_A, 1), make_event(THREAD_A, 2)])
    others()
    assert heard == [1, -1, -2]


class BrokenListener:
    """A subscriber whose every delivery and resync fails."""

    def __init__(self) -> None:
        self.calls = 0

    def deliver(self, event: AgentEvent) -> None:
        self.calls += 1
        raise RuntimeError("broken subscriber")

    def resync(self, upto: int | None = None) -> None:
        self.calls += 1
        raise RuntimeError("broken subscriber")


class RecordingListener:
    def __init__(self) -> None:
        self.delivered: list[int] = []
        self.resyncs: list[int | None] = []

    def deliver(self, event: AgentEvent) -> None:
        self.delivered.append(event.seq)

    def resync(self, upto: int | None = None) -> None:
        self.resyncs.append(upto)


async def test_a_failing_listener_costs_the_others_nothing(bus: InMemoryEventBus) -> None:
    broken, healthy = BrokenListener(), RecordingListener()
    bus.listen(THREAD_A, broken)
    bus.listen(THREAD_A, healthy)

    await bus.publish([make_event(THREAD_A, 1), make_event(THREAD_A, 2)])
    bus.resync(THREAD_A, upto=2)
    bus.resync_all()

    assert broken.calls == 4  # each failure was contained, and the next call still made
    assert healthy.delivered == [1, 2]
    assert healthy.resyncs == [2, None]
