"""The agent event contract (DESIGN section 4): types, envelope and terminal events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, field_serializer


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


class AgentEvent(BaseModel):
    """One event as persisted and as sent to clients."""

    model_config = ConfigDict(frozen=True)

    type: EventType
    event_id: str
    thread_id: str
    run_id: str
    seq: int
    ts: datetime
    data: dict[str, Any]

    @field_serializer("ts")
    def _iso_millis(self, ts: datetime) -> str:
        return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"

    @classmethod
    def from_record(cls, record: Any) -> AgentEvent:
        """Build from a persisted row (`netra.db.models.Event`)."""
        return cls(
            type=record.type,
            event_id=record.id,
            thread_id=record.thread_id,
            run_id=record.run_id,
            seq=record.seq,
            ts=record.ts,
            data=record.data,
        )

    def to_frame(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_EVENTS
