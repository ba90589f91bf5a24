"""The event bus: fan-out of persisted events to every interested connection.

Events are persisted before they are published, so a subscriber that missed
something can always read it back from the database; the bus only has to be
fast, not durable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from netra.realtime.events import AgentEvent

if TYPE_CHECKING:
    from prometheus_client import Histogram

    from netra.observability import Metrics

log = logging.getLogger(__name__)


class Listener(Protocol):
    """What follows one thread's live events. Neither method may block or raise."""

    def deliver(self, event: AgentEvent) -> None:
        """One committed event of the thread, in seq order as published."""
        ...

    def resync(self, upto: int | None = None) -> None:
        """Events may have been missed (a fan-out outage or a trimmed stream): read
        the log from the last event seen, unless that was seq `upto` or later (the
        log's end, when the bus knows it). (The in-process bus never misses one.)"""
        ...


class EventBus(Protocol):
    """Publish committed events; listen to one thread's live events."""

    async def publish(self, events: Sequence[AgentEvent]) -> None:
        """Deliver one committed batch, in order (seq order within each thread)."""
        ...

    def listen(self, thread_id: str, listener: Listener) -> Callable[[], None]:
        """Give `listener` each event of the thread published from now on, in order;
        returns the function that stops it."""
        ...

    async def notify_cancel(self, thread_id: str, run_id: str, reason: str) -> None:
        """Tell the other instances that a run is to be cancelled (the request itself is
        durable in the database; this only makes its owner act at once)."""
        ...

    def on_cancel(self, handler: Callable[[str, str], None]) -> None:
        """Have `handler(run_id, reason)` called for each cancel another instance asks."""
        ...

    async def close(self) -> None: ...


class InMemoryEventBus:
    """Single-process bus: publishing calls each listener of the thread directly.

    No queue or task per subscriber: a connection's listener puts the event's frame
    on its own bounded send queue, which is where slow clients are dealt with.
    """

    def __init__(self, metrics: Metrics | None = None) -> None:
        self._listeners: dict[str, list[Listener]] = {}
        self._lag = None if metrics is None else metrics.fanout_lag.labels("local")

    async def publish(self, events: Sequence[AgentEvent]) -> None:
        self.dispatch(events, self._lag)

    def dispatch(self, events: Sequence[AgentEvent], lag: Histogram | None = None) -> None:
        """Hand each event to the listeners of its thread, now; with `lag`, observe how
        long after its timestamp each batch of a thread that has listeners is delivered
        (once per batch and thread, not per event: a streamed answer's batch holds
        hundreds of deltas that share one timestamp, and observing costs a lock)."""
        listeners = self._listeners
        now, ts, thread = time.time(), None, ""
        for event in events:
            receivers = listeners.get(event.thread_id, ())
            if lag is not None and receivers and (event.ts != ts or event.thread_id != thread):
                ts, thread = event.ts, event.thread_id  # the events of a batch share one ts
                lag.observe(now - ts.timestamp())
            for listener in receivers:
                try:
                    listener.deliver(event)
                except Exception:  # one broken subscriber must not cost the others events
                    log.exception("a listener of %s failed", event.thread_id)

    def has_listeners(self, thread_id: str) -> bool:
        return thread_id in self._listeners

    def threads(self) -> list[str]:
        """The threads that have listeners."""
        return list(self._listeners)

    def resync(self, thread_id: str, upto: int | None = None) -> None:
        """Tell the thread's listeners that they may have missed events (up to `upto`)."""
        for listener in self._listeners.get(thread_id, ()):
            try:
                listener.resync(upto)
            except Exception:
                log.exception("a listener of %s failed to resync", thread_id)

    def resync_all(self) -> None:
        for thread_id in list(self._listeners):
            self.resync(thread_id)

    def listen(self, thread_id: str, listener: Listener) -> Callable[[], None]:
        # Copy on write: a listener may stop listening (itself or another) during publish.
        self._listeners[thread_id] = [*self._listeners.get(thread_id, ()), listener]

        def stop() -> None:
            listeners = self._listeners.get(thread_id, ())
            remaining = [other for other in listeners if other is not listener]
            if remaining:
                self._listeners[thread_id] = remaining
            else:
                self._listeners.pop(thread_id, None)

        return stop

    async def notify_cancel(self, thread_id: str, run_id: str, reason: str) -> None:
        pass  # there is no other instance to tell

    def on_cancel(self, handler: Callable[[str, str], None]) -> None:
        pass  # and none that would ask

    async def close(self) -> None:
        self._listeners.clear()
