"""An AG-UI test client: parse an SSE stream with the `ag-ui-protocol` models, check its order.

The order rules are the ones AG-UI clients enforce: a run opens with
RUN_STARTED and closes with exactly one RUN_FINISHED or RUN_ERROR, last; text,
reasoning and tool-call content appears only between its own start and end;
every opened message or call is closed before the run ends; a tool result
answers a call that was started.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from ag_ui.core import BaseEvent, Event, EventType
from pydantic import TypeAdapter

_EVENT: TypeAdapter[Any] = TypeAdapter(Event)
TERMINAL = {EventType.RUN_FINISHED, EventType.RUN_ERROR}
_OPENS = {
    EventType.TEXT_MESSAGE_START: "text",
    EventType.REASONING_MESSAGE_START: "reasoning",
    EventType.REASONING_START: "reasoning block",
    EventType.TOOL_CALL_START: "tool call",
}
_CLOSES = {
    EventType.TEXT_MESSAGE_END: "text",
    EventType.REASONING_MESSAGE_END: "reasoning",
    EventType.REASONING_END: "reasoning block",
    EventType.TOOL_CALL_END: "tool call",
}
_INSIDE = {
    EventType.TEXT_MESSAGE_CONTENT: "text",
    EventType.REASONING_MESSAGE_CONTENT: "reasoning",
    EventType.TOOL_CALL_ARGS: "tool call",
}


def parse_sse(body: str) -> list[BaseEvent]:
    """Every `data:` event of an SSE body, validated as an AG-UI event (comments skipped)."""
    events = []
    for block in body.split("\n\n"):
        data = [line[5:].lstrip() for line in block.splitlines() if line.startswith("data:")]
        if data:
            event: BaseEvent = _EVENT.validate_json("\n".join(data))
            events.append(event)
    return events


def _key(event: BaseEvent) -> str:
    return str(getattr(event, "tool_call_id", None) or getattr(event, "message_id", ""))


def order_problems(events: Sequence[BaseEvent]) -> list[str]:
    """What is out of order in one run's AG-UI events (empty when valid)."""
    problems: list[str] = []
    if not events or events[0].type != EventType.RUN_STARTED:
        problems.append("the stream does not open with RUN_STARTED")
    ends = [i for i, event in enumerate(events) if event.type in TERMINAL]
    if len(ends) != 1 or ends[0] != len(events) - 1:
        problems.append(f"expected one RUN_FINISHED/RUN_ERROR, last; found at {ends}")
    open_: dict[tuple[str, str], int] = {}
    started_calls: set[str] = set()
    for index, event in enumerate(events):
        kind = _OPENS.get(event.type) or _CLOSES.get(event.type) or _INSIDE.get(event.type)
        if kind is None:
            if event.type == EventType.TOOL_CALL_RESULT and _key(event) not in started_calls:
                problems.append(f"#{index} TOOL_CALL_RESULT for a call never started")
            continue
        key = (kind, _key(event))
        if event.type in _OPENS:
            if key in open_:
                problems.append(f"#{index} {event.type.value} for {key} already open")
            open_[key] = index
            if kind == "tool call":
                started_calls.add(key[1])
        elif key not in open_:
            problems.append(f"#{index} {event.type.value} outside its {kind} {key[1]!r}")
        elif event.type in _CLOSES:
            del open_[key]
    for (kind, ident), index in open_.items():
        problems.append(f"{kind} {ident!r} opened at #{index} is never closed")
    return problems


def assert_valid_run(events: Sequence[BaseEvent]) -> None:
    """Raise AssertionError listing every order problem."""
    problems = order_problems(events)
    if problems:
        raise AssertionError("AG-UI order violations:\n  " + "\n  ".join(problems))


async def run_agent(
    client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]
) -> list[BaseEvent]:
    """POST a RunAgentInput to /api/agui and return the parsed events of the whole stream."""
    async with client.stream("POST", "/api/agui", json=body, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            raise AssertionError(f"/api/agui answered {response.status_code}: {response.text}")
        if not response.headers["content-type"].startswith("text/event-stream"):
            raise AssertionError(f"not an SSE stream: {response.headers['content-type']}")
        text = "".join([chunk async for chunk in response.aiter_text()])
    return parse_sse(text)


async def abort_at_first_tool_call(
    client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]
) -> None:
    """POST a RunAgentInput to /api/agui and leave the stream, as a front end's
    `abortRun()` does, once the run's first tool call has started (so the run is busy in
    that tool); AssertionError if the stream ends before one."""
    async with client.stream("POST", "/api/agui", json=body, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            raise AssertionError(f"/api/agui answered {response.status_code}: {response.text}")
        seen = ""
        async for text in response.aiter_text():
            seen += text
            if '"TOOL_CALL_START"' in seen:
                return
    raise AssertionError(f"the stream ended before its first tool call: {seen[-500:]}")
