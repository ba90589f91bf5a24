"""Whole runs on the OpenAI-compatible provider: a real platform, a local fake endpoint."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from netra.config import Settings
from netra.db.repositories import ThreadRepository, UserRepository
from netra.lifecycle import Platform, start, stop
from netra.realtime.events import AgentEvent
from netra.testing.bus import live_events
from netra.testing.fake_openai import (
    RECORDED_ANSWER,
    RECORDED_TOOL_CALL,
    FakeOpenAI,
    Status,
    Stream,
)
from netra.testing.ws import EventValidator

API_KEY = "sk-live-abcdef0123456789TOPSECRET"
RUN_TIMEOUT = 30  # a hang guard, not a speed claim


@pytest.fixture
async def model_endpoint() -> AsyncIterator[FakeOpenAI]:
    """The fake endpoint the platform's model talks to; tests queue its replies."""
    server = await FakeOpenAI().start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def model_platform(
    sqlite_url: str, make_settings: Callable[..., Settings], model_endpoint: FakeOpenAI
) -> AsyncIterator[Platform]:
    settings = make_settings(
        sqlite_url,
        model_provider="openai",
        model_base_url=model_endpoint.base_url,
        model_name="gpt-4o-mini",
        model_api_key=API_KEY,
        model_max_retries=1,
    )
    platform = await start(settings)
    try:
        yield platform
    finally:
        await stop(platform)


async def run_to_the_end(platform: Platform, text: str) -> list[dict[str, Any]]:
    user_id = await new_user(platform)
    async with platform.db.session() as session:
        thread_id = (await ThreadRepository(session, user_id).add("t")).id
    async with live_events(platform.bus, thread_id) as queue:
        await platform.runs.start(user_id, text, thread_id)
        events: list[AgentEvent] = []
        while not events or not events[-1].is_terminal:
            events.append(await asyncio.wait_for(queue.get(), RUN_TIMEOUT))
    return [event.to_frame() for event in events]


async def new_user(platform: Platform) -> str:
    async with platform.db.session() as session:
        user = await UserRepository(session).add("model-user@example.com", "M", "stored-hash")
    return user.id


async def test_a_calculator_run_on_a_recorded_model_stream(
    model_platform: Platform, model_endpoint: FakeOpenAI
) -> None:
    model_endpoint.enqueue(Stream(RECORDED_TOOL_CALL), Stream(RECORDED_ANSWER))

    events = await run_to_the_end(model_platform, "What is 12 * (3 + 4)?")

    EventValidator().assert_valid(events, require_critical=True)
    by_type = {e["type"]: e for e in events}
    assert by_type["tool_executing"]["data"]["provider_call_id"] == "call_Qy8W3tA1"
    assert by_type["tool_executing"]["data"]["tool_call_id"].startswith("tc_")
    assert by_type["tool_executing"]["data"]["args"] == {"expression": "12 * (3 + 4)"}
    assert by_type["tool_completed"]["data"]["result"]["value"] == 84
    completed = events[-1]
    assert completed["type"] == "agent_completed"
    assert completed["data"]["text"] == "12 * (3 + 4) = **84**."
    deltas = "".join(e["data"]["delta"] for e in events if e["type"] == "agent_message_delta")
    assert deltas == completed["data"]["text"]
    # Usage adds up both model calls of the run.
    assert completed["data"]["usage"] == {
        "prompt_tokens": 142 + 175,
        "completion_tokens": 19 + 12,
        "total_tokens": 161 + 187,
    }
    # The second call carried the tool's result back to the model.
    tool_message = model_endpoint.requests[1]["messages"][-1]
    assert tool_message["role"] == "tool"
    # Under Netra's id, in the assistant's call and the tool's answer alike.
    assert tool_message["tool_call_id"] == by_type["tool_executing"]["data"]["tool_call_id"]
    assistant = model_endpoint.requests[1]["messages"][-2]
    assert assistant["tool_calls"][0]["id"] == tool_message["tool_call_id"]
    assert json.loads(tool_message["content"])["value"] == 84


async def test_a_failing_endpoint_ends_the_run_with_agent_error_and_no_key_anywhere(
    model_platform: Platform, model_endpoint: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    model_endpoint.enqueue(
        *[Status(503, f"overloaded (key {API_KEY})", {"retry-after-ms": "1"})] * 2
    )

    events = await run_to_the_end(model_platform, "What is 2 + 2?")

    EventValidator().assert_valid(events)
    assert events[-1]["type"] == "agent_error"
    assert events[-1]["data"]["code"] == "model_server_error"
    assert "HTTP 503" in events[-1]["data"]["message"]
    assert len(model_endpoint.requests) == 2  # one retry, as configured
    assert API_KEY not in json.dumps(events)
    assert API_KEY not in caplog.text
    assert "overloaded" in events[-1]["data"]["message"]
