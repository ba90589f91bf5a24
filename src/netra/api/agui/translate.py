"""Persisted agent events -> AG-UI events, one run at a time.

| Netra event          | AG-UI events |
|----------------------|--------------|
| agent_started        | RUN_STARTED |
| agent_thinking       | REASONING_START, REASONING_MESSAGE_START/CONTENT/END, REASONING_END (*) |
| agent_message_delta  | TEXT_MESSAGE_START (first delta of a message), TEXT_MESSAGE_CONTENT |
| tool_executing       | TEXT_MESSAGE_END (if open), TOOL_CALL_START (**), _ARGS, _END |
| tool_completed       | TOOL_CALL_RESULT (content: the result, or {"error": ...}, as JSON) |
| agent_completed      | TEXT_MESSAGE_END (or the whole answer), client calls (***), RUN_FINISHED |
| agent_error          | TEXT_MESSAGE_END (if open), RUN_ERROR |
| agent_cancelled      | TEXT_MESSAGE_END (if open), RUN_FINISHED with the `cancelled` outcome |

(*) not for Netra's placeholder thinking; (**) with parentMessageId when the
model wrote text before the call in the same turn; (***) TOOL_CALL_START/_ARGS/
_END for each client tool the run waits for.

Every AG-UI event carries `metadata.netra` = {event_id, seq, run_id, thread_id}
of the persisted event it came from, so a client can line both formats up (and
find the thread over /ws when it named it by its own id).

Two dialects: a client that sends `protocolVersion` gets AG-UI 1.0's shapes; one
that sends none (`@ag-ui/client` before 1.0, as bundled in `@copilotkit/runtime`
1.75) gets the shapes its schemas accept: RUN_STARTED without
`protocolVersion`, and a cancelled run as RUN_FINISHED with no `outcome`
(0.0.x knows only `success` and `interrupt`) and `result: {"cancelled": true,
"reason": ...}`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ag_ui.core import (
    PROTOCOL_VERSION,
    BaseEvent,
    ReasoningEndEvent,
    ReasoningMessageContentEvent,
    ReasoningMessageEndEvent,
    ReasoningMessageStartEvent,
    ReasoningStartEvent,
    RunAgentInput,
    RunErrorEvent,
    RunFinishedCancelledOutcome,
    RunFinishedEvent,
    RunFinishedSuccessOutcome,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    TokenUsage,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)

from netra.realtime.events import AgentEvent, EventType


class AguiTranslator:
    """Translates the events of one run, in order, keeping AG-UI's open/close pairs.

    `thread_id` and `run_id` are the ids the AG-UI client sent: AG-UI events
    echo them, while `metadata.netra` names Netra's own run and thread. `legacy`
    selects the pre-1.0 shapes (see the module docstring); by default it follows
    the input: no `protocolVersion`, legacy.
    """

    def __init__(
        self,
        thread_id: str,
        run_id: str,
        run_input: RunAgentInput | None = None,
        *,
        legacy: bool | None = None,
    ) -> None:
        self.thread_id = thread_id
        self.run_id = run_id
        self._input = run_input
        if legacy is None:
            legacy = run_input is not None and run_input.protocol_version is None
        self.legacy = legacy
        self._open_text: str | None = None  # the AG-UI text message being streamed
        self._sent_text: set[str] = set()  # messages whose text the client has

    def translate(self, event: AgentEvent) -> list[BaseEvent]:
        """The AG-UI events for one Netra event (possibly none)."""
        common: dict[str, Any] = {
            "timestamp": int(event.ts.timestamp() * 1000),
            "metadata": {
                "netra": {
                    "event_id": event.event_id,
                    "seq": event.seq,
                    "run_id": event.run_id,
                    "thread_id": event.thread_id,
                }
            },
        }
        data = event.data
        match event.type:
            case EventType.AGENT_STARTED:
                return [
                    RunStartedEvent(
                        thread_id=self.thread_id,
                        run_id=self.run_id,
                        protocol_version=None if self.legacy else PROTOCOL_VERSION,
                        input=self._input,
                        **common,
                    )
                ]
            case EventType.AGENT_THINKING:
                if data.get("placeholder"):  # Netra's "Thinking…": noise in a client's history
                    return []
                reasoning = _reasoning(event.event_id, data["text"], common)
                return [*self._close_text(common), *reasoning]
            case EventType.AGENT_MESSAGE_DELTA:
                return self._delta(data["message_id"], data["delta"], common)
            case EventType.TOOL_EXECUTING:
                parent = data.get("message_id")
                if parent not in self._sent_text:
                    parent = None
                return [*self._close_text(common), *_tool_call(data, parent, common)]
            case EventType.TOOL_COMPLETED:
                outcome = {"error": data["error"]} if "error" in data else data.get("result")
                return [
                    ToolCallResultEvent(
                        message_id=event.event_id,
                        tool_call_id=data["tool_call_id"],
                        content=json.dumps(outcome, ensure_ascii=False),
                        role="tool",
                        **common,
                    )
                ]
            case EventType.AGENT_COMPLETED:
                events = self._answer(data, common)
                parent = data["message_id"] if data["message_id"] in self._sent_text else None
                for call in data.get("client_tool_calls", ()):
                    events += _tool_call(call, parent, common)
                return [*events, self._finished(data, common)]
            case EventType.AGENT_ERROR:
                error = RunErrorEvent(message=data["message"], code=data["code"], **common)
                return [*self._close_text(common), error]
            case EventType.AGENT_CANCELLED:
                reason = data.get("reason")
                if self.legacy:
                    cancelled = RunFinishedEvent(
                        thread_id=self.thread_id,
                        run_id=self.run_id,
                        result={"cancelled": True, "reason": reason},
                        **common,
                    )
                else:
                    cancelled = RunFinishedEvent(
                        thread_id=self.thread_id,
                        run_id=self.run_id,
                        outcome=RunFinishedCancelledOutcome(),
                        result={"reason": reason},
                        **common,
                    )
                return [*self._close_text(common), cancelled]
        return []  # an event type this protocol has no place for

    def failed(self, code: str, message: str) -> list[BaseEvent]:
        """RUN_ERROR ending a stream that cannot go on, when no persisted event ends it
        (so it has no `metadata.netra`); a text message left open is closed first."""
        common: dict[str, Any] = {"timestamp": int(time.time() * 1000)}
        return [*self._close_text(common), RunErrorEvent(message=message, code=code, **common)]

    def _delta(self, message_id: str, delta: str, common: dict[str, Any]) -> list[BaseEvent]:
        # Netra gives each model turn's text its own message id: the text before a tool
        # call and the answer after it are separate messages, under Netra's ids.
        events: list[BaseEvent] = []
        if self._open_text != message_id:
            events += self._close_text(common)
            events.append(self._open(message_id, common))
        events.append(TextMessageContentEvent(message_id=message_id, delta=delta, **common))
        return events

    def _open(self, message_id: str, common: dict[str, Any]) -> BaseEvent:
        self._open_text = message_id
        self._sent_text.add(message_id)
        return TextMessageStartEvent(message_id=message_id, role="assistant", **common)

    def _close_text(self, common: dict[str, Any]) -> list[BaseEvent]:
        if self._open_text is None:
            return []
        closing = TextMessageEndEvent(message_id=self._open_text, **common)
        self._open_text = None
        return [closing]

    def _answer(self, data: dict[str, Any], common: dict[str, Any]) -> list[BaseEvent]:
        message_id = data["message_id"]
        if message_id in self._sent_text or not data["text"]:
            return self._close_text(common)
        # The model did not stream its answer: send it whole, as one message.
        events = [*self._close_text(common), self._open(message_id, common)]
        events.append(TextMessageContentEvent(message_id=message_id, delta=data["text"], **common))
        return [*events, *self._close_text(common)]

    def _finished(self, data: dict[str, Any], common: dict[str, Any]) -> BaseEvent:
        result: dict[str, Any] = {"text": data["text"]}
        if data["message_id"] in self._sent_text:  # the message holding the answer
            result["message_id"] = data["message_id"]
        if data.get("client_tool_calls"):
            result["client_tool_calls"] = [c["tool_call_id"] for c in data["client_tool_calls"]]
        usage = data.get("usage")
        return RunFinishedEvent(
            thread_id=self.thread_id,
            run_id=self.run_id,
            outcome=RunFinishedSuccessOutcome(),
            result=result,
            # Left out when the provider reported none, rather than claiming zero tokens.
            usage=None
            if not usage
            else [
                TokenUsage(
                    input_tokens=usage.get("prompt_tokens", 0),
                    output_tokens=usage.get("completion_tokens", 0),
                    total_tokens=usage.get("total_tokens", 0),
                )
            ],
            **common,
        )


def _reasoning(message_id: str, text: str, common: dict[str, Any]) -> list[BaseEvent]:
    return [
        ReasoningStartEvent(message_id=message_id, **common),
        ReasoningMessageStartEvent(message_id=message_id, role="reasoning", **common),
        ReasoningMessageContentEvent(message_id=message_id, delta=text, **common),
        ReasoningMessageEndEvent(message_id=message_id, **common),
        ReasoningEndEvent(message_id=message_id, **common),
    ]


def _tool_call(data: dict[str, Any], parent: str | None, common: dict[str, Any]) -> list[BaseEvent]:
    call_id = data["tool_call_id"]
    return [
        ToolCallStartEvent(
            tool_call_id=call_id,
            tool_call_name=data["tool"],
            parent_message_id=parent,
            **common,
        ),
        ToolCallArgsEvent(
            tool_call_id=call_id, delta=json.dumps(data["args"], ensure_ascii=False), **common
        ),
        ToolCallEndEvent(tool_call_id=call_id, **common),
    ]
