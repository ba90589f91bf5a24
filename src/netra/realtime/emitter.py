"""RunEmitter: the only writer of a run's events. Persist first, then publish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from netra.db.engine import Database
from netra.db.repositories import EventLog
from netra.realtime.bus import EventBus
from netra.realtime.events import AgentEvent, EventType

AlsoInTransaction = Callable[[AsyncSession], Awaitable[None]]


class RunEmitter:
    """Emits the events of one run on one thread, in order.

    Each write runs as its own task behind `asyncio.shield`, so cancelling the
    run never leaves an event persisted but unpublished; `settle()` waits for
    such a write before the terminal event goes out.
    """

    def __init__(self, db: Database, bus: EventBus, thread_id: str, run_id: str) -> None:
        self.db = db
        self._bus = bus
        self.thread_id = thread_id
        self.run_id = run_id
        self._pending: asyncio.Task[AgentEvent] | None = None
        #: tool_call_id -> (tool name, perf_counter at start) for calls not yet completed.
        self.open_tool_calls: dict[str, tuple[str, float]] = {}
        self.finished = False

    async def emit(
        self, type_: EventType, data: dict[str, Any], also: AlsoInTransaction | None = None
    ) -> AgentEvent:
        """Persist and publish one event; `also` runs in the same transaction."""
        await self.settle()  # first, so a terminal write still in flight is seen
        if self.finished:
            raise RuntimeError(f"run {self.run_id} already ended; no event may follow")
        self._pending = asyncio.ensure_future(self._write(type_, data, also))
        return await asyncio.shield(self._pending)

    async def settle(self) -> None:
        """Wait for a write that was in flight when the caller got cancelled."""
        if self._pending is not None and not self._pending.done():
            await asyncio.wait([self._pending])

    async def _write(
        self, type_: EventType, data: dict[str, Any], also: AlsoInTransaction | None
    ) -> AgentEvent:
        async with self.db.session() as session:
            record = await EventLog(session).append(self.thread_id, self.run_id, type_, data)
            if also is not None:
                await also(session)
        event = AgentEvent.from_record(record)
        if type_ is EventType.TOOL_EXECUTING:
            self.open_tool_calls[data["tool_call_id"]] = (data["tool"], time.perf_counter())
        elif type_ is EventType.TOOL_COMPLETED:
            self.open_tool_calls.pop(data["tool_call_id"], None)
        elif event.is_terminal:
            self.finished = True
        await self._bus.publish(event)
        return event
