"""The OpenAI-compatible provider against a local server, through the real `openai` client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from netra.agents.models.base import ChatMessage, ModelError, ModelTurn, ToolCall, ToolSpec
from netra.agents.models.openai_compat import EndpointConfig, OpenAIEndpoint
from netra.testing.fake_openai import (
    RECORDED_TOOL_CALL,
    FakeOpenAI,
    Stall,
    Status,
    Stream,
    chunk,
    text_stream,
    tool_call_stream,
    usage_chunk,
)

API_KEY = "sk-test-0123456789abcdefSECRET"
CALCULATOR = ToolSpec(
    "calculator",
    "Evaluate arithmetic.",
    {"type": "object", "properties": {"expression": {"type": "string"}}},
)
QUESTION = [ChatMessage("system", "Be brief."), ChatMessage("user", "What is 12 * (3 + 4)?")]
FAST_RETRY = {"retry-after-ms": "1"}  # the client honours it, so retries take no time
HANG_GUARD = 10  # seconds: a guard against hanging, not a speed claim


class StreamLog:
    """A TurnStream that keeps what the model streamed."""

    def __init__(self) -> None:
        self.deltas: list[str] = []
        self.thoughts: list[str] = []

    async def thinking(self, text: str) -> None:
        self.thoughts.append(text)

    async def text_delta(self, delta: str) -> None:
        self.deltas.append(delta)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


def endpoint_for(fake: FakeOpenAI, *, timeout: float = 5.0, retries: int = 2) -> OpenAIEndpoint:
    return OpenAIEndpoint(EndpointConfig(fake.base_url, API_KEY, timeout, retries))


async def complete_with(endpoint: OpenAIEndpoint, stream: StreamLog | None = None) -> ModelTurn:
    try:
        return await endpoint.model("gpt-4o-mini").complete(
            QUESTION, [CALCULATOR], stream or StreamLog()
        )
    finally:
        await endpoint.close()


async def failure(endpoint: OpenAIEndpoint) -> ModelError:
    with pytest.raises(ModelError) as caught:
        await complete_with(endpoint)
    assert API_KEY not in caught.value.message
    return caught.value


async def test_text_streams_as_deltas_with_usage(fake: FakeOpenAI) -> None:
    fake.enqueue(text_stream("Hello", ", ", "world.", usage=(31, 4)))
    stream = StreamLog()

    turn = await complete_with(endpoint_for(fake), stream)

    assert stream.deltas == ["Hello", ", ", "world."]
    assert turn.text == "Hello, world."
    assert turn.tool_calls == ()
    assert turn.usage.as_dict() == {
        "prompt_tokens": 31,
        "completion_tokens": 4,
        "total_tokens": 35,
    }
    request = fake.requests[0]
    assert request["model"] == "gpt-4o-mini"
    assert request["stream"] is True
    assert request["stream_options"] == {"include_usage": True}
    assert request["tools"][0]["function"]["name"] == "calculator"
    assert fake.headers[0]["authorization"] == f"Bearer {API_KEY}"


async def test_a_recorded_tool_call_split_across_chunks_is_assembled(fake: FakeOpenAI) -> None:
    fake.enqueue(Stream(RECORDED_TOOL_CALL))

    turn = await complete_with(endpoint_for(fake))

    assert turn.tool_calls == (
        ToolCall("call_Qy8W3tA1", "calculator", {"expression": "12 * (3 + 4)"}),
    )
    assert turn.usage.prompt_tokens == 142
    assert turn.usage.completion_tokens == 19


async def test_tool_results_go_back_in_the_chat_completions_shape(fake: FakeOpenAI) -> None:
    fake.enqueue(text_stream("84"))
    call = ToolCall("call_1", "calculator", {"expression": "12*7"})
    history = [
        *QUESTION,
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", '{"value": 84}', tool_call_id="call_1"),
        ChatMessage("tool", "no such thing", tool_call_id="call_2", is_error=True),
    ]
    endpoint = endpoint_for(fake)
    try:
        await endpoint.model("m").complete(history, [CALCULATOR], StreamLog())
    finally:
        await endpoint.close()

    sent = fake.requests[0]["messages"]
    assert sent[2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "calculator", "arguments": '{"expression": "12*7"}'},
            }
        ],
    }
    assert sent[3] == {"role": "tool", "tool_call_id": "call_1", "content": '{"value": 84}'}
    assert sent[4]["content"] == "Error: no such thing"


async def test_429_is_retried_then_succeeds(fake: FakeOpenAI) -> None:
    fake.enqueue(Status(429, "Rate limit reached", FAST_RETRY), text_stream("fine"))

    turn = await complete_with(endpoint_for(fake, retries=2))

    assert turn.text == "fine"
    assert len(fake.requests) == 2


async def test_500_after_the_retries_is_a_server_error(fake: FakeOpenAI) -> None:
    fake.enqueue(*[Status(500, "The server had an error", FAST_RETRY)] * 3)

    error = await failure(endpoint_for(fake, retries=2))

    assert error.code == "model_server_error"
    assert "HTTP 500" in error.message
    assert len(fake.requests) == 3


async def test_429_that_persists_is_rate_limited(fake: FakeOpenAI) -> None:
    fake.enqueue(*[Status(429, "Slow down", FAST_RETRY)] * 2)

    error = await failure(endpoint_for(fake, retries=1))

    assert error.code == "model_rate_limited"
    assert "Slow down" in error.message


async def test_a_malformed_chunk_is_a_bad_response(fake: FakeOpenAI) -> None:
    body = chunk({"role": "assistant", "content": "Hi"}) + "data: {not json at all\n\n"
    fake.enqueue(Stream(body))

    error = await failure(endpoint_for(fake))

    assert error.code == "model_bad_response"
    assert "malformed chunk" in error.message


async def test_tool_arguments_that_are_not_json_are_a_bad_response(fake: FakeOpenAI) -> None:
    fake.enqueue(tool_call_stream("calculator", '{"expression": "1+'))

    error = await failure(endpoint_for(fake))

    assert error.code == "model_bad_response"
    assert "calculator" in error.message


async def test_a_stream_cut_before_it_finished_is_a_bad_response(fake: FakeOpenAI) -> None:
    fake.enqueue(Stream(chunk({"role": "assistant", "content": "Half an ans"})))

    error = await failure(endpoint_for(fake))

    assert error.code == "model_bad_response"
    assert "ended before" in error.message


async def test_no_answer_at_all_times_out(fake: FakeOpenAI) -> None:
    fake.enqueue(Stall())

    error = await failure(endpoint_for(fake, timeout=0.3, retries=0))

    assert error.code == "model_timeout"


async def test_a_stream_that_stalls_midway_times_out(fake: FakeOpenAI) -> None:
    fake.enqueue(Stream(text_stream("one ", "two ", "three").body, stall_after=2))
    stream = StreamLog()

    with pytest.raises(ModelError) as caught:
        await complete_with(endpoint_for(fake, timeout=0.3, retries=0), stream)

    assert caught.value.code == "model_timeout"
    assert stream.deltas == ["one "]  # what arrived before the stall was streamed on


async def test_a_rejected_key_is_not_repeated_back(fake: FakeOpenAI) -> None:
    fake.enqueue(Status(401, f"Incorrect API key provided: {API_KEY}"))

    error = await failure(endpoint_for(fake))

    assert error.code == "model_auth_failed"
    assert "NETRA_MODEL_API_KEY" in error.message


async def test_an_unreachable_endpoint_is_unavailable() -> None:
    server = await FakeOpenAI().start()
    base_url = server.base_url
    await server.stop()  # nothing listens on that port any more
    endpoint = OpenAIEndpoint(EndpointConfig(base_url, API_KEY, 2.0, 0))

    error = await failure(endpoint)

    assert error.code == "model_unavailable"
    assert "NETRA_MODEL_BASE_URL" in error.message


async def test_reasoning_content_becomes_the_turns_thinking(fake: FakeOpenAI) -> None:
    body = (
        chunk({"role": "assistant", "reasoning_content": "Twelve times seven. "})
        + chunk({"reasoning_content": "That is 84."})
        + text_stream("84").body
    )
    fake.enqueue(Stream(body))

    turn = await complete_with(endpoint_for(fake))

    assert turn.thinking == "Twelve times seven. That is 84."
    assert turn.text == "84"


class BlockingStream(StreamLog):
    """A TurnStream whose first delta never returns, as when a run is cancelled mid-emit."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked = asyncio.Event()

    async def text_delta(self, delta: str) -> None:
        await super().text_delta(delta)
        self.blocked.set()
        await asyncio.Event().wait()


async def test_cancelling_a_run_mid_stream_closes_the_http_stream(fake: FakeOpenAI) -> None:
    fake.enqueue(Stream(text_stream("one ", "two").body, stall_after=2))
    endpoint = endpoint_for(fake, timeout=30)
    stream = BlockingStream()
    task = asyncio.create_task(endpoint.model("m").complete(QUESTION, [CALCULATOR], stream))
    await stream.blocked.wait()

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # The task (and its traceback) is still referenced: only an explicit close frees the socket.
    await asyncio.wait_for(fake.all_closed(), HANG_GUARD)
    assert fake.open_connections == 0
    await endpoint.close()


async def test_a_stream_that_fails_midway_is_not_retried_so_no_delta_repeats(
    fake: FakeOpenAI,
) -> None:
    fake.enqueue(
        Stream(text_stream("one ", "two ", "three").body, stall_after=2), text_stream("again")
    )
    stream = StreamLog()

    with pytest.raises(ModelError) as caught:
        await complete_with(endpoint_for(fake, timeout=0.3, retries=2), stream)

    assert caught.value.code == "model_timeout"
    assert len(fake.requests) == 1
    assert stream.deltas == ["one "]


def tool_calls_body(*calls: dict[str, Any], finish: str = "tool_calls") -> str:
    parts = [chunk({"role": "assistant", "tool_calls": [call]}) for call in calls]
    return "".join(parts) + chunk({}, finish) + usage_chunk(9, 9) + "data: [DONE]\n\n"


def fn(name: str | None = None, arguments: str = "") -> dict[str, str]:
    return {"name": name, "arguments": arguments} if name else {"arguments": arguments}


async def test_parallel_tool_calls_with_an_index_gap_are_assembled_in_order(
    fake: FakeOpenAI,
) -> None:
    body = tool_calls_body(
        {"index": 0, "id": "call_a", "type": "function", "function": fn("calculator")},
        {"index": 2, "id": "call_b", "type": "function", "function": fn("clock")},
        {"index": 0, "function": fn(arguments='{"expression": "1+')},
        {"index": 2, "function": fn(arguments="")},
        {"index": 0, "function": fn(arguments='1"}')},
    )
    fake.enqueue(Stream(body))

    turn = await complete_with(endpoint_for(fake))

    assert turn.tool_calls == (
        ToolCall("call_a", "calculator", {"expression": "1+1"}),
        ToolCall("call_b", "clock", {}),
    )


async def test_tool_call_arguments_split_inside_a_character_are_joined(fake: FakeOpenAI) -> None:
    # The JSON escape of one emoji (a surrogate pair) split across two chunks.
    body = tool_calls_body(
        {"index": 0, "id": "call_n", "type": "function", "function": fn("notes")},
        {"index": 0, "function": fn(arguments='{"text": "hi \\ud83d')},
        {"index": 0, "function": fn(arguments='\\ude00 é"}')},
    )
    fake.enqueue(Stream(body))

    turn = await complete_with(endpoint_for(fake))

    assert turn.tool_calls[0].arguments == {"text": "hi 😀 é"}
    json.dumps(turn.tool_calls[0].arguments, ensure_ascii=False).encode()


async def test_tool_calls_without_an_index_are_told_apart_by_their_id(fake: FakeOpenAI) -> None:
    # Gemini's OpenAI-compatible endpoint leaves `index` out, and ends with "stop".
    body = tool_calls_body(
        {"id": "call_1", "type": "function", "function": fn("calculator", '{"expression"')},
        {"function": fn(arguments=': "2*3"}')},
        {"id": "call_2", "type": "function", "function": fn("clock", "{}")},
        finish="stop",
    )
    fake.enqueue(Stream(body))

    turn = await complete_with(endpoint_for(fake))

    assert turn.tool_calls == (
        ToolCall("call_1", "calculator", {"expression": "2*3"}),
        ToolCall("call_2", "clock", {}),
    )


async def test_reasoning_is_streamed_before_the_answer_text(fake: FakeOpenAI) -> None:
    order: list[str] = []

    class Ordered(StreamLog):
        async def thinking(self, text: str) -> None:
            order.append(f"thinking:{text}")

        async def text_delta(self, delta: str) -> None:
            order.append(f"delta:{delta}")

    body = (
        chunk({"role": "assistant", "reasoning_content": "Six times seven."})
        + text_stream("4", "2").body
    )
    fake.enqueue(Stream(body))

    await complete_with(endpoint_for(fake), Ordered())

    assert order == ["thinking:Six times seven.", "delta:4", "delta:2"]


async def test_an_error_sent_mid_stream_is_reported_without_the_key(fake: FakeOpenAI) -> None:
    error = {"error": {"message": f"engine crashed ({API_KEY})", "type": "server_error"}}
    fake.enqueue(Stream(chunk({"content": "Hel"}) + f"data: {json.dumps(error)}\n\n"))

    failed = await failure(endpoint_for(fake))

    assert failed.code == "model_error"
    assert "engine crashed (***)" in failed.message
