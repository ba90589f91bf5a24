"""Event bus helpers for tests: a thread's live events on a queue, and a bus with outages.

Both are built on the `EventBus` protocol's `listen`, so they work with any bus.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from netra.realtime.bus import EventBus, InMemoryEventBus, Listener
from netra.realtime.events import AgentEvent


@asynccontextmanager
async def live_events(bus: EventBus, thread_id: str) -> AsyncIterator[asyncio.Queue[AgentEvent]]:
    """The thread's events published while inside, as the bus delivers them, on an
    unbounded queue: what a test reads to see exactly what the bus fanned out.

    It does not read the log: a bus's `resync()` is ignored here (follow the thread
    with `netra.realtime.follow.ThreadFollower` to test that).
    """
    queue: asyncio.Queue[AgentEvent] = asyncio.Queue()
    stop = bus.listen(thread_id, _QueueListener(queue))
    try:
        yield queue
    finally:
        stop()


class _QueueListener:
    __slots__ = ("queue",)

    def __init__(self, queue: asyncio.Queue[AgentEvent]) -> None:
        self.queue = queue

    def deliver(self, event: AgentEvent) -> None:
        self.queue.put_nowait(event)

    def resync(self, upto: int | None = None) -> None:
        pass  # live events only, by design


class OutageBus:
    """An `EventBus` around another (in-process by default) whose fan-out can go down.

    While `down`, published events reach no listener: what a Redis fan-out outage or
    a trimmed stream does. `recover()` brings it back and, like a fan-out that knows
    it lost events, tells every listener to `resync()`; `recover(resync=False)` is a
    fan-out that lost events without noticing, so listeners see only the gap.
    """

    def __init__(self, bus: EventBus | None = None) -> None:
        self.inner: EventBus = bus if bus is not None else InMemoryEventBus()
        self.down = False
        self.lost: list[AgentEvent] = []  # published while down
        self._listeners: list[Listener] = []

    async def publish(self, events: Sequence[AgentEvent]) -> None:
        if self.down:
            self.lost.extend(events)
            return
        await self.inner.publish(events)

    def listen(self, thread_id: str, listener: Listener) -> Callable[[], None]:
        stop_inner = self.inner.listen(thread_id, listener)
        self._listeners.append(listener)

        def stop() -> None:
            stop_inner()
            self._listeners = [other for other in self._listeners if other is not listener]

        return stop

    def outage(self) -> None:
        """From now on, published events reach nobody."""
        self.down = True

    def recover(self, *, resync: bool = True) -> None:
        """Deliver again; with `resync`, tell every current listener it may have missed events."""
        self.down = False
        if resync:
            for listener in list(self._listeners):
                listener.resync()

    async def notify_cancel(self, thread_id: str, run_id: str, reason: str) -> None:
        await self.inner.notify_cancel(thread_id, run_id, reason)

    def on_cancel(self, handler: Callable[[str, str], None]) -> None:
        self.inner.on_cancel(handler)

    @property
    def listeners(self) -> int:
        """How many listeners are listening (a stopped follower is not)."""
        return len(self._listeners)

    async def close(self) -> None:
        self._listeners.clear()
        await self.inner.close()
