"""The event bus: fan-out of persisted events to every interested connection.

Events are persisted before they are published, so a subscriber that missed
something can always read it back from the database; the bus only has to be
fast, not durable.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from netra.realtime.events import AgentEvent


class EventBus(Protocol):
    """Publish committed events; subscribe to one thread's live events."""

    async def publish(self, events: Sequence[AgentEvent]) -> None:
        """Deliver one committed batch, in order (seq order within each thread)."""
        ...

    def subscribe(
        self, thread_id: str
    ) -> AbstractAsyncContextManager[asyncio.Queue[AgentEvent]]: ...

    async def close(self) -> None: ...


class InMemoryEventBus:
    """Single-process bus: one unbounded queue per subscription.

    Queues are unbounded on purpose: the bus must not drop an event; bounding
    (and disconnecting slow clients) is the connection's send queue's job.
    """

    def __init__(self) -> None:
        self._subscribers: defaultdict[str, set[asyncio.Queue[AgentEvent]]] = defaultdict(set)

    async def publish(self, events: Sequence[AgentEvent]) -> None:
        subscribers = self._subscribers
        for event in events:
            for queue in tuple(subscribers.get(event.thread_id, ())):
                queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self, thread_id: str) -> AsyncIterator[asyncio.Queue[AgentEvent]]:
        queue: asyncio.Queue[AgentEvent] = asyncio.Queue()
        self._subscribers[thread_id].add(queue)
        try:
            yield queue
        finally:
            subscribers = self._subscribers.get(thread_id)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._subscribers[thread_id]

    async def close(self) -> None:
        self._subscribers.clear()
