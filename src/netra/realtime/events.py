"""The agent event contract (DESIGN section 4): types, envelope and terminal events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

import orjson


class EventType(StrEnum):
    AGENT_STARTED = "agent_started"
    AGENT_THINKING = "agent_thinking"
    TOOL_EXECUTING = "tool_executing"
    TOOL_COMPLETED = "tool_completed"
    AGENT_MESSAGE_DELTA = "agent_message_delta"
    AGENT_COMPLETED = "agent_completed"
    AGENT_ERROR = "agent_error"
    AGENT_CANCELLED = "agent_cancelled"


#: seq is stored as a 32-bit integer.
MAX_SEQ = 2**31 - 1

TERMINAL_EVENTS = frozenset(
    {EventType.AGENT_COMPLETED, EventType.AGENT_ERROR, EventType.AGENT_CANCELLED}
)
#: The five events every successful tool-using run shows, in this order.
CRITICAL_EVENTS = (
    EventType.AGENT_STARTED,
    EventType.AGENT_THINKING,
    EventType.TOOL_EXECUTING,
    EventType.TOOL_COMPLETED,
    EventType.AGENT_COMPLETED,
)


@lru_cache(maxsize=256)  # the events of a batch share one timestamp
def iso_millis(ts: datetime) -> str:
    """`2026-11-21T10:00:00.123Z`: the envelope's timestamp format."""
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class AgentEvent:
    """One event as persisted and as sent to clients.

    `frame` is its wire form, encoded once: every subscriber, transport and replay
    sends the same text. The event log writer passes the frame it built around the
    JSON it stored; anything else leaves it out and it is encoded here.
    """

    type: EventType
    event_id: str
    thread_id: str
    run_id: str
    seq: int
    ts: datetime
    data: dict[str, Any]
    frame: str = field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.frame:
            object.__setattr__(self, "frame", self._encode(orjson.dumps(self.data)))

    @classmethod
    def stored(
        cls,
        type_: EventType,
        event_id: str,
        thread_id: str,
        run_id: str,
        seq: int,
        ts: datetime,
        data: dict[str, Any],
        data_json: str,
    ) -> AgentEvent:
        """An event just written, its frame built around `data_json`, the JSON it stored."""
        event = cls(type_, event_id, thread_id, run_id, seq, ts, data, frame="-")
        object.__setattr__(event, "frame", event._encode(data_json))
        return event

    def _encode(self, data_json: bytes | str) -> str:
        envelope = {
            "type": self.type,
            "event_id": self.event_id,
            "thread_id": self.thread_id,
            "run_id": self.run_id,
            "seq": self.seq,
            "ts": iso_millis(self.ts),
            "data": orjson.Fragment(data_json),
        }
        return orjson.dumps(envelope).decode()

    @classmethod
    def from_record(cls, record: Any) -> AgentEvent:
        """Build from a persisted row (an `events` row or `netra.db.models.Event`)."""
        return cls(
            type=EventType(record.type),
            event_id=record.id,
            thread_id=record.thread_id,
            run_id=record.run_id,
            seq=record.seq,
            ts=record.ts,
            data=record.data,
        )

    def to_frame(self) -> dict[str, Any]:
        """The frame as a client decodes it."""
        frame: dict[str, Any] = orjson.loads(self.frame)
        return frame

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_EVENTS
