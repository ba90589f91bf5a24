"""netra.agents.models.builtin: the deterministic offline model."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from netra.agents.models.base import ChatMessage, ModelTurn, ToolCall
from netra.agents.models.builtin import OFFLINE_ANSWER, BuiltinModel, find_expression
from netra.agents.registry import DEFAULT_SYSTEM_PROMPT
from netra.agents.tools import BUILTIN_TOOLS
from netra.agents.tools.calculator import evaluate
from netra.ids import is_valid

if TYPE_CHECKING:
    from conftest import RecordingStream

ALL_TOOLS = [tool.spec for tool in BUILTIN_TOOLS]


def conversation(text: str) -> list[ChatMessage]:
    return [ChatMessage("system", DEFAULT_SYSTEM_PROMPT), ChatMessage("user", text)]


async def ask(text: str, stream: RecordingStream, tools: Any = None) -> ModelTurn:
    return await BuiltinModel().complete(
        conversation(text), ALL_TOOLS if tools is None else tools, stream
    )


async def only_call(text: str, stream: RecordingStream) -> ToolCall:
    turn = await ask(text, stream)
    assert len(turn.tool_calls) == 1, turn
    assert turn.text == ""
    return turn.tool_calls[0]


def answered(
    text: str, call: ToolCall, content: Any, *, is_error: bool = False
) -> list[ChatMessage]:
    """The conversation after `call` ran and answered with `content`."""
    body = content if is_error else json.dumps(content)
    return [
        *conversation(text),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", body, tool_call_id=call.id, is_error=is_error),
    ]


def without_call_ids(turn: ModelTurn) -> ModelTurn:
    calls = tuple(dataclasses.replace(c, id="tc_") for c in turn.tool_calls)
    return dataclasses.replace(turn, tool_calls=calls)


# -- determinism ----------------------------------------------------------------
@pytest.mark.parametrize(
    "text", ["What is 12 * (3 + 4)?", "hello", "remember milk", "wait 2 seconds", "what time is it"]
)
async def test_same_conversation_gives_the_same_turn(
    text: str, make_stream: Callable[[], RecordingStream]
) -> None:
    first_stream, second_stream = make_stream(), make_stream()
    first = await ask(text, first_stream)
    second = await ask(text, second_stream)
    assert without_call_ids(first) == without_call_ids(second)
    assert first_stream.calls == second_stream.calls


async def test_tool_call_ids_are_fresh_tc_ids(recording_stream: RecordingStream) -> None:
    first = await only_call("What is 1 + 1?", recording_stream)
    second = await only_call("What is 1 + 1?", recording_stream)
    assert is_valid(first.id, "tc")
    assert first.id != second.id


# -- arithmetic -----------------------------------------------------------------
async def test_arithmetic_becomes_one_calculator_call(recording_stream: RecordingStream) -> None:
    turn = await ask("What is 12 * (3 + 4)?", recording_stream)
    assert [(c.name, c.arguments) for c in turn.tool_calls] == [
        ("calculator", {"expression": "12 * (3 + 4)"})
    ]
    assert turn.thinking is not None
    assert "calculator" in turn.thinking
    # A tool-calling turn is not streamed: the engine emits `turn.thinking` itself.
    assert recording_stream.calls == []
    assert turn.usage.prompt_tokens > 0
    assert turn.usage.completion_tokens > 0


async def test_answer_after_calculator_result_contains_the_value(
    recording_stream: RecordingStream, make_stream: Callable[[], RecordingStream]
) -> None:
    question = "What is 12 * (3 + 4)?"
    call = await only_call(question, make_stream())
    result = {"expression": call.arguments["expression"], "value": evaluate("12 * (3 + 4)")}
    turn = await BuiltinModel().complete(
        answered(question, call, result), ALL_TOOLS, recording_stream
    )
    assert turn.tool_calls == ()
    assert "84" in turn.text
    assert turn.text == "12 * (3 + 4) = 84"


async def test_streamed_deltas_add_up_to_the_final_text(
    recording_stream: RecordingStream, make_stream: Callable[[], RecordingStream]
) -> None:
    question = "what are my notes?"
    call = await only_call(question, make_stream())
    result = {"notes": ["buy milk", "call mom", "water the plants"]}
    turn = await BuiltinModel().complete(
        answered(question, call, result), ALL_TOOLS, recording_stream
    )
    assert recording_stream.calls[0] == ("thinking", turn.thinking)
    assert recording_stream.thoughts == [turn.thinking]
    assert recording_stream.text == turn.text
    deltas = [text for kind, text in recording_stream.calls if kind == "delta"]
    assert len(deltas) > 1  # a multi-line answer is really streamed, not one blob
    assert all(kind == "delta" for kind, _ in recording_stream.calls[1:])


async def test_tool_error_is_explained(
    recording_stream: RecordingStream, make_stream: Callable[[], RecordingStream]
) -> None:
    question = "What is 1 / 0?"
    call = await only_call(question, make_stream())
    messages = answered(question, call, "division by zero", is_error=True)
    turn = await BuiltinModel().complete(messages, ALL_TOOLS, recording_stream)
    assert turn.tool_calls == ()
    assert "calculator" in turn.text
    assert "division by zero" in turn.text
    assert recording_stream.text == turn.text
    assert turn.thinking is not None
    assert "failed" in turn.thinking


# -- clock ----------------------------------------------------------------------
@pytest.mark.parametrize("text", ["What time is it?", "what's the date today", "Which day is it?"])
async def test_time_questions_call_the_clock(recording_stream: RecordingStream, text: str) -> None:
    call = await only_call(text, recording_stream)
    assert (call.name, call.arguments) == ("clock", {})


async def test_answer_after_clock_result(
    recording_stream: RecordingStream, make_stream: Callable[[], RecordingStream]
) -> None:
    call = await only_call("What time is it?", make_stream())
    result = {"iso": "2026-11-21T10:00:00+00:00", "timezone": "UTC"}
    messages = answered("What time is it?", call, result)
    turn = await BuiltinModel().complete(messages, ALL_TOOLS, recording_stream)
    assert turn.text == "It is 2026-11-21T10:00:00+00:00 (UTC)."


# -- notes ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "note"),
    [
        ("remember buy milk", "buy milk"),
        ("Please remember that the door code is 1234", "the door code is 1234"),
        ("note: call mom", "call mom"),
        ("Note down  pick up 2 + 2 parcels ", "pick up 2 + 2 parcels"),
        ("remember to wait 5 seconds", "to wait 5 seconds"),
    ],
)
async def test_remember_adds_a_note(
    recording_stream: RecordingStream, text: str, note: str
) -> None:
    call = await only_call(text, recording_stream)
    assert (call.name, call.arguments) == ("notes", {"action": "add", "text": note})


@pytest.mark.parametrize(
    "text", ["what are my notes?", "List my notes", "show notes", "What did I ask you to remember?"]
)
async def test_notes_questions_list_notes(recording_stream: RecordingStream, text: str) -> None:
    call = await only_call(text, recording_stream)
    assert (call.name, call.arguments) == ("notes", {"action": "list"})


@pytest.mark.parametrize(
    ("text", "notes", "answer"),
    [
        ("remember buy milk", ["buy milk"], "Noted. You have 1 note(s)."),
        ("what are my notes?", [], "You have no notes yet."),
        ("what are my notes?", ["buy milk", "call mom"], "Your notes:\n- buy milk\n- call mom"),
    ],
)
async def test_answer_after_notes_result(
    recording_stream: RecordingStream,
    text: str,
    notes: list[str],
    answer: str,
    make_stream: Callable[[], RecordingStream],
) -> None:
    call = await only_call(text, make_stream())
    turn = await BuiltinModel().complete(
        answered(text, call, {"notes": notes}), ALL_TOOLS, recording_stream
    )
    assert turn.text == answer
    assert recording_stream.text == answer


# -- timer ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("wait 3 seconds", 3),
        ("Please wait for 2 secs", 2),
        ("set a timer for 1.5 s", 1.5),
        ("sleep 0 seconds", 0),
        ("pause 10 sec then tell me", 10),
    ],
)
async def test_wait_requests_call_the_timer(
    recording_stream: RecordingStream, text: str, seconds: float
) -> None:
    call = await only_call(text, recording_stream)
    assert (call.name, call.arguments) == ("timer", {"seconds": seconds})
    assert type(call.arguments["seconds"]) is type(seconds)


async def test_answer_after_timer_result(
    recording_stream: RecordingStream, make_stream: Callable[[], RecordingStream]
) -> None:
    call = await only_call("wait 3 seconds", make_stream())
    turn = await BuiltinModel().complete(
        answered("wait 3 seconds", call, {"waited_seconds": 3}), ALL_TOOLS, recording_stream
    )
    assert turn.text == "Done: I waited 3 seconds."


# -- no tool --------------------------------------------------------------------
@pytest.mark.parametrize("text", ["Hello there", "Tell me a joke", "I have 3 apples", ""])
async def test_plain_text_gets_the_offline_answer(
    recording_stream: RecordingStream, text: str
) -> None:
    turn = await ask(text, recording_stream)
    assert turn.tool_calls == ()
    assert turn.text == OFFLINE_ANSWER
    assert recording_stream.thoughts == [turn.thinking]
    assert recording_stream.text == OFFLINE_ANSWER


async def test_intents_need_the_tool_to_be_available(recording_stream: RecordingStream) -> None:
    clock_only = [tool.spec for tool in BUILTIN_TOOLS if tool.name == "clock"]
    turn = await ask("What is 2 + 2? remember milk", recording_stream, tools=clock_only)
    assert turn.tool_calls == ()
    assert turn.text == OFFLINE_ANSWER


async def test_no_tools_at_all_gives_the_offline_answer(recording_stream: RecordingStream) -> None:
    turn = await ask("What is 12 * (3 + 4)?", recording_stream, tools=[])
    assert turn.text == OFFLINE_ANSWER


# -- find_expression ------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expression"),
    [
        ("What is 12 * (3 + 4)?", "12 * (3 + 4)"),
        ("Compute (1 + 2) * 3.", "(1 + 2) * 3"),
        ("what is 5 ^ 2", "5 ^ 2"),
        ("2**10", "2**10"),
        ("(what is 2 + 3)", "2 + 3"),
        ("1.5 * 2.", "1.5 * 2"),
        ("-3 + 5", "-3 + 5"),
        ("first 3 + 4, then 10 * 20 * 30", "10 * 20 * 30"),
        ("9 // 2 and 9 % 2", "9 // 2"),
    ],
)
def test_find_expression(text: str, expression: str) -> None:
    assert find_expression(text) == expression


@pytest.mark.parametrize(
    "text", ["", "no numbers here", "I have 3 apples", "42", "3 and 4", "+ - *"]
)
def test_find_expression_needs_numbers_and_an_operator(text: str) -> None:
    assert find_expression(text) is None


def test_found_expressions_are_evaluable() -> None:
    for text in ["What is 12 * (3 + 4)?", "(what is 2 + 3)", "Compute (1 + 2) * 3."]:
        expression = find_expression(text)
        assert expression is not None
        evaluate(expression)  # raises ToolError if the extraction broke the syntax
        assert expression.count("(") == expression.count(")")
