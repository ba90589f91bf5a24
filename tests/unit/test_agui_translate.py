"""Netra agent events -> AG-UI events, and the AG-UI order checker the e2e tests rely on."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from ag_ui.core import (
    EventType,
    RunAgentInput,
    RunFinishedEvent,
    TextMessageStartEvent,
    ToolCallResultEvent,
    UserMessage,
)

from netra.api.agui.service import AguiRequest
from netra.api.agui.translate import AguiTranslator
from netra.errors import AppError
from netra.realtime.events import AgentEvent
from netra.testing.agui import abort_at_first_tool_call, order_problems, parse_sse

T = EventType
MSG = "msg_01"


def netra_events(*steps: tuple[str, dict[str, Any]]) -> list[AgentEvent]:
    return [
        AgentEvent(
            type=kind,
            event_id=f"evt_{seq:02d}",
            thread_id="thr_1",
            run_id="run_1",
            seq=seq,
            ts=datetime(2026, 1, 1, tzinfo=UTC),
            data=data,
        )
        for seq, (kind, data) in enumerate(steps, start=1)
    ]


def translate(*steps: tuple[str, dict[str, Any]]) -> list[Any]:
    translator = AguiTranslator("thr_client", "run_client")
    return [out for event in netra_events(*steps) for out in translator.translate(event)]


STARTED = ("agent_started", {"agent": "assistant", "input": "What is 2+2?"})
THINKING = ("agent_thinking", {"text": "Arithmetic; using the calculator."})
EXECUTING = (
    "tool_executing",
    {"tool_call_id": "tc_1", "tool": "calculator", "args": {"expression": "2+2"}},
)
COMPLETED_TOOL = (
    "tool_completed",
    {"tool_call_id": "tc_1", "tool": "calculator", "result": {"value": 4}, "duration_ms": 1},
)
USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def delta(text: str) -> tuple[str, dict[str, Any]]:
    return ("agent_message_delta", {"message_id": MSG, "delta": text})


def answer(text: str) -> tuple[str, dict[str, Any]]:
    return ("agent_completed", {"message_id": MSG, "text": text, "usage": USAGE})


def test_a_calculator_run_maps_to_a_valid_ag_ui_run() -> None:
    events = translate(
        STARTED, THINKING, EXECUTING, COMPLETED_TOOL, delta("2+2 = 4"), answer("2+2 = 4")
    )

    assert order_problems(events) == []
    assert [e.type for e in events] == [
        T.RUN_STARTED,
        T.REASONING_START,
        T.REASONING_MESSAGE_START,
        T.REASONING_MESSAGE_CONTENT,
        T.REASONING_MESSAGE_END,
        T.REASONING_END,
        T.TOOL_CALL_START,
        T.TOOL_CALL_ARGS,
        T.TOOL_CALL_END,
        T.TOOL_CALL_RESULT,
        T.TEXT_MESSAGE_START,
        T.TEXT_MESSAGE_CONTENT,
        T.TEXT_MESSAGE_END,
        T.RUN_FINISHED,
    ]
    assert (events[0].thread_id, events[0].run_id) == ("thr_client", "run_client")
    assert json.loads(events[7].delta) == {"expression": "2+2"}
    result = events[9]
    assert isinstance(result, ToolCallResultEvent)
    assert json.loads(result.content) == {"value": 4}
    finished = events[-1]
    assert isinstance(finished, RunFinishedEvent)
    assert finished.result == {"message_id": MSG, "text": "2+2 = 4"}
    assert finished.usage is not None
    assert finished.usage[0].total_tokens == 10
    assert events[3].metadata == {
        "netra": {"event_id": "evt_02", "seq": 2, "run_id": "run_1", "thread_id": "thr_1"}
    }


def test_an_answer_that_was_not_streamed_is_sent_whole() -> None:
    events = translate(STARTED, THINKING, answer("Hello there"))

    assert order_problems(events) == []
    content = [e.delta for e in events if e.type == T.TEXT_MESSAGE_CONTENT]
    assert content == ["Hello there"]


def test_text_before_a_tool_call_and_the_answer_after_it_are_two_messages() -> None:
    before = ("agent_message_delta", {"message_id": "msg_before", "delta": "Let me check. "})
    executing = ("tool_executing", {**EXECUTING[1], "message_id": "msg_before"})
    events = translate(
        STARTED,
        before,
        executing,
        COMPLETED_TOOL,
        delta("It is 4."),
        answer("It is 4."),
    )

    assert order_problems(events) == []
    starts = [e for e in events if isinstance(e, TextMessageStartEvent)]
    assert [s.message_id for s in starts] == ["msg_before", MSG]
    assert events.index(starts[1]) > [e.type for e in events].index(T.TOOL_CALL_RESULT)
    call = next(e for e in events if e.type == T.TOOL_CALL_START)
    assert call.parent_message_id == "msg_before"  # the call belongs to the text before it
    # The answer is the second message, and RUN_FINISHED names it.
    assert events[-1].result == {"message_id": MSG, "text": "It is 4."}


def test_a_tool_call_without_text_before_it_has_no_parent_message() -> None:
    events = translate(STARTED, EXECUTING, COMPLETED_TOOL, answer("4"))

    call = next(e for e in events if e.type == T.TOOL_CALL_START)
    assert call.parent_message_id is None
    assert "parentMessageId" not in call.model_dump_json(by_alias=True, exclude_none=True)


def test_the_thinking_placeholder_is_not_sent_but_real_thinking_is() -> None:
    placeholder = ("agent_thinking", {"text": "Thinking…", "placeholder": True})
    events = translate(STARTED, placeholder, THINKING, delta("4"), answer("4"))

    reasoning = [e.delta for e in events if e.type == T.REASONING_MESSAGE_CONTENT]
    assert reasoning == ["Arithmetic; using the calculator."]
    assert order_problems(events) == []


def test_usage_is_left_out_when_the_provider_gave_none() -> None:
    no_usage = ("agent_completed", {"message_id": MSG, "text": "Hi", "usage": None})
    events = translate(STARTED, delta("Hi"), no_usage)

    assert events[-1].usage is None
    assert "usage" not in events[-1].model_dump_json(by_alias=True, exclude_none=True)


def test_client_tool_calls_end_the_run_as_pending_tool_calls_then_run_finished() -> None:
    calls = [{"tool_call_id": "tc_9", "tool": "pick_color", "args": {"hint": "sky"}}]
    waiting = (
        "agent_completed",
        {
            "message_id": "msg_ask",
            "text": "Let me ask. ",
            "usage": USAGE,
            "client_tool_calls": calls,
        },
    )
    text = ("agent_message_delta", {"message_id": "msg_ask", "delta": "Let me ask. "})
    events = translate(STARTED, text, waiting)

    assert order_problems(events) == []
    assert [e.type for e in events][-5:] == [
        T.TEXT_MESSAGE_END,
        T.TOOL_CALL_START,
        T.TOOL_CALL_ARGS,
        T.TOOL_CALL_END,
        T.RUN_FINISHED,
    ]
    start = events[-4]
    assert (start.tool_call_id, start.tool_call_name, start.parent_message_id) == (
        "tc_9",
        "pick_color",
        "msg_ask",
    )
    assert json.loads(events[-3].delta) == {"hint": "sky"}
    assert events[-1].outcome.type == "success"
    assert events[-1].result["client_tool_calls"] == ["tc_9"]


def test_a_failed_tool_carries_its_error_as_the_result() -> None:
    failed = (
        "tool_completed",
        {"tool_call_id": "tc_1", "tool": "calculator", "error": "division by zero"},
    )
    events = translate(STARTED, EXECUTING, failed, answer("No."))

    result = next(e for e in events if isinstance(e, ToolCallResultEvent))
    assert json.loads(result.content) == {"error": "division by zero"}


def test_an_error_closes_the_open_message_then_ends_with_run_error() -> None:
    error = (
        "agent_error",
        {"code": "model_timeout", "message": "the model endpoint did not answer"},
    )
    events = translate(STARTED, delta("Partial"), error)

    assert order_problems(events) == []
    assert [e.type for e in events][-2:] == [T.TEXT_MESSAGE_END, T.RUN_ERROR]
    assert events[-1].code == "model_timeout"


def test_a_stream_that_stops_following_closes_the_open_message_then_ends_with_run_error() -> None:
    translator = AguiTranslator("thr_client", "run_client")
    events = [
        e for event in netra_events(STARTED, delta("Part")) for e in translator.translate(event)
    ]
    events += translator.failed("subscription_failed", "stopped following")

    assert order_problems(events) == []
    assert [e.type for e in events][-2:] == [T.TEXT_MESSAGE_END, T.RUN_ERROR]
    assert (events[-1].code, events[-1].metadata) == ("subscription_failed", None)
    assert translator.failed("subscription_failed", "again")[0].type == T.RUN_ERROR  # none open


def test_a_cancelled_run_finishes_with_the_cancelled_outcome() -> None:
    events = translate(STARTED, ("agent_cancelled", {"reason": "cancelled_by_user"}))

    assert order_problems(events) == []
    assert events[-1].type == T.RUN_FINISHED
    assert events[-1].outcome.type == "cancelled"
    assert events[0].protocol_version is not None


def test_a_client_without_protocol_version_gets_the_shapes_it_knows() -> None:
    old_input = RunAgentInput(thread_id="t", run_id="r", messages=[])
    new_input = RunAgentInput(thread_id="t", run_id="r", messages=[], protocol_version="1.0.0")
    cancelled = ("agent_cancelled", {"reason": "cancelled_by_user"})

    old = AguiTranslator("t", "r", old_input)
    new = AguiTranslator("t", "r", new_input)
    old_events = [e for ev in netra_events(STARTED, cancelled) for e in old.translate(ev)]
    new_events = [e for ev in netra_events(STARTED, cancelled) for e in new.translate(ev)]

    assert (old.legacy, new.legacy) == (True, False)
    finished = json.loads(old_events[-1].model_dump_json(by_alias=True, exclude_none=True))
    assert "outcome" not in finished  # 0.0.x accepts only success and interrupt
    assert finished["result"] == {"cancelled": True, "reason": "cancelled_by_user"}
    started = json.loads(old_events[0].model_dump_json(by_alias=True, exclude_none=True))
    assert "protocolVersion" not in started
    assert new_events[-1].outcome.type == "cancelled"
    assert new_events[0].protocol_version is not None


def test_the_order_checker_finds_broken_streams() -> None:
    good = translate(STARTED, delta("Hi"), answer("Hi"))
    without_end = [e for e in good if e.type != T.TEXT_MESSAGE_END]
    without_start = good[1:]
    twice_finished = [*good, good[-1]]

    assert any("never closed" in p for p in order_problems(without_end))
    assert any("RUN_STARTED" in p for p in order_problems(without_start))
    assert any("RUN_FINISHED/RUN_ERROR" in p for p in order_problems(twice_finished))


def test_parse_sse_reads_data_lines_and_skips_comments() -> None:
    body = ': keepalive\n\ndata: {"type":"RUN_STARTED","threadId":"t","runId":"r"}\n\n'

    events = parse_sse(body)

    assert [(e.type, e.thread_id) for e in events] == [(T.RUN_STARTED, "t")]


def run_input(messages: list[Any], **extra: Any) -> RunAgentInput:
    return RunAgentInput(thread_id="thr_x", run_id="r1", messages=messages, **extra)


def test_the_request_is_the_last_user_message_and_an_optional_agent() -> None:
    messages = [
        UserMessage(id="1", content="first"),
        {"id": "2", "role": "assistant", "content": "ok"},
        UserMessage(
            id="3", content=[{"type": "text", "text": "What is"}, {"type": "text", "text": "2+2?"}]
        ),
    ]

    request = AguiRequest.from_input(run_input(messages, forwarded_props={"agent": "helper"}))

    assert request == AguiRequest(
        text="What is\n2+2?", agent="helper", earlier=(("user", "first"), ("assistant", "ok"))
    )


def test_client_tools_are_read_and_trailing_tool_messages_are_their_results() -> None:
    messages = [
        UserMessage(id="1", content="pick a colour"),
        {
            "id": "2",
            "role": "assistant",
            "toolCalls": [
                {"id": "tc_a", "type": "function", "function": {"name": "pick", "arguments": "{}"}}
            ],
        },
        {"id": "3", "role": "tool", "toolCallId": "tc_a", "content": "blue"},
    ]
    tools = [{"name": "pick", "description": "Ask the user", "parameters": {"type": "object"}}]

    request = AguiRequest.from_input(run_input(messages, tools=tools))

    assert request.tool_results == {"tc_a": "blue"}
    assert request.text == ""
    assert [(t.name, t.description) for t in request.tools] == [("pick", "Ask the user")]


def test_a_client_tool_with_a_name_no_model_accepts_is_refused() -> None:
    tools = [{"name": "no spaces!", "description": "x", "parameters": {}}]

    with pytest.raises(AppError) as caught:
        AguiRequest.from_input(run_input([UserMessage(id="1", content="hi")], tools=tools))

    assert caught.value.status == 422
    assert "no spaces!" in caught.value.message


def test_an_input_without_a_user_message_is_refused() -> None:
    with pytest.raises(AppError) as caught:
        AguiRequest.from_input(run_input([{"id": "2", "role": "assistant", "content": "ok"}]))

    assert caught.value.status == 422
    assert "user message" in caught.value.message


def _agui_answering(status: int, body: str) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=body, headers={"content-type": "text/event-stream"})

    return httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://netra")


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, 'data: {"type":"RUN_STARTED"}\n\ndata: {"type":"RUN_FINISHED"}\n\n', "ended"),
        (409, '{"error": {"code": "run_in_progress"}}', "answered 409"),
    ],
)
async def test_aborting_at_the_first_tool_call_fails_when_there_is_none(
    status: int, body: str, error: str
) -> None:
    async with _agui_answering(status, body) as client:
        with pytest.raises(AssertionError, match=error):
            await abort_at_first_tool_call(client, {}, {})


async def test_aborting_at_the_first_tool_call_returns_once_it_starts() -> None:
    body = 'data: {"type":"RUN_STARTED"}\n\ndata: {"type":"TOOL_CALL_START"}\n\n'
    async with _agui_answering(200, body) as client:
        assert await abort_at_first_tool_call(client, {}, {}) is None
