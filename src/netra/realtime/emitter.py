"""RunEmitter: the only writer of one run's events, in order, through the event log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row

from netra.db.repositories import RunEnd
from netra.realtime.events import TERMINAL_EVENTS, AgentEvent, EventType
from netra.realtime.log import EventLogError, EventLogWriter

# Committed before the caller goes on: a tool runs only once its start is on record.
_WAIT_FOR_COMMIT = frozenset({EventType.TOOL_EXECUTING})


class RunEmitter:
    """Emits the events of one run on one thread, in order.

    Streamed events (thinking, answer deltas, tool results) are queued for the next
    batch and `emit` returns at once; `tool_executing` and `end` return once their
    event is committed. After a failed write every call raises EventLogError, and
    the run is ended from its stored history instead.
    """

    def __init__(self, writer: EventLogWriter, thread_id: str, run_id: str) -> None:
        self._writer = writer
        self.thread_id = thread_id
        self.run_id = run_id
        #: tool_call_id -> (tool name, perf_counter at start) for calls not yet completed.
        self.open_tool_calls: dict[str, tuple[str, float]] = {}
        self.finished = False  # the terminal event is queued or written
        self.failure: EventLogError | None = None  # set by the writer
        # For the run's analytics record: its tool calls, and when its first event
        # after agent_started was appended (perf_counter).
        self.tool_calls = 0
        self.first_event_at: float | None = None

    async def emit(self, type_: EventType, data: dict[str, Any]) -> None:
        """Append one event; waits for the commit only where the contract says so."""
        if type_ in TERMINAL_EVENTS:
            raise ValueError(f"{type_} ends the run: use end()")
        self._check()
        committed = self._writer.append(self, type_, data, wait=type_ in _WAIT_FOR_COMMIT)
        if self.first_event_at is None and type_ is not EventType.AGENT_STARTED:
            self.first_event_at = time.perf_counter()
        if type_ is EventType.TOOL_EXECUTING:
            self.tool_calls += 1
            self.open_tool_calls[data["tool_call_id"]] = (data["tool"], time.perf_counter())
        elif type_ is EventType.TOOL_COMPLETED:
            self.open_tool_calls.pop(data["tool_call_id"], None)
        if committed is not None:
            # Shielded: a run cancelled meanwhile still has this event written.
            await asyncio.shield(committed)
        elif self._writer.backlogged:
            await self._writer.room()

    async def end(self, type_: EventType, data: dict[str, Any], end: RunEnd) -> None:
        """Write the terminal event with `end`, closing open tool calls first (with an
        error), and return once it is committed. RunAlreadyEnded if another writer
        ended the run first; then none of these events is written."""
        if type_ not in TERMINAL_EVENTS:
            raise ValueError(f"{type_} is not a terminal event")
        self._check()
        why = "cancelled" if type_ is EventType.AGENT_CANCELLED else "the run failed"
        for call_id, (tool, started) in list(self.open_tool_calls.items()):
            closing = {
                "tool_call_id": call_id,
                "tool": tool,
                "error": f"interrupted: {why}",
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            }
            self._writer.append(self, EventType.TOOL_COMPLETED, closing)
        self.open_tool_calls.clear()
        committed = self._writer.append(self, type_, data, end=end, wait=True)
        self.finished = True
        assert committed is not None
        await asyncio.shield(committed)

    async def republish(self, stored: Sequence[Row[Any]]) -> None:
        """Publish the run's stored events again: an end whose COMMIT reported failure
        may have been applied all the same, and then nobody has published it."""
        await self._writer.republish([AgentEvent.from_record(row) for row in stored])

    def _check(self) -> None:
        if self.failure is not None:
            raise self.failure
        if self.finished:
            raise RuntimeError(f"run {self.run_id} already ended; no event may follow")
