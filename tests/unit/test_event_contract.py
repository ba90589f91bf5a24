"""AgentEvent, the event contract's envelope: what the event log writer publishes is
what a client decodes, what a replay rebuilds from the row, and what consumers read."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import orjson

from netra.realtime.events import AgentEvent, EventType

TS = datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)
DATA = {"tool_call_id": "tc_1", "tool": "calculator", "args": {"expression": "1 + 1"}}


def _stored(data: dict[str, Any], data_json: str) -> AgentEvent:
    return AgentEvent.stored(
        EventType.TOOL_EXECUTING, "evt_1", "thr_1", "run_1", 7, TS, data, data_json
    )


def test_a_stored_event_is_the_event_a_replay_rebuilds_from_its_row() -> None:
    event = _stored(DATA, orjson.dumps(DATA).decode())
    row = SimpleNamespace(
        type="tool_executing",
        id="evt_1",
        thread_id="thr_1",
        run_id="run_1",
        seq=7,
        ts=TS,
        data=DATA,
    )
    replayed = AgentEvent.from_record(row)

    # Live consumers (AG-UI's translation, the supervisor's open tool calls) read .data.
    assert event == replayed
    assert event.data == DATA
    assert event.frame == replayed.frame
    assert event.to_frame() == {
        "type": "tool_executing",
        "event_id": "evt_1",
        "thread_id": "thr_1",
        "run_id": "run_1",
        "seq": 7,
        "ts": "2026-11-21T10:00:00.123Z",
        "data": DATA,
    }


def test_a_stored_events_frame_is_built_around_the_stored_json_alone() -> None:
    # Encode once: the writer already encoded data when it stored it; the frame reuses
    # that JSON and data is not encoded again (here it could not be).
    unencodable = {"value": object()}
    event = _stored(unencodable, '{"value":1}')
    assert event.to_frame()["data"] == {"value": 1}
    assert event.data is unencodable
