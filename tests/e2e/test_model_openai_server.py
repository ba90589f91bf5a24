"""`netra serve` on an OpenAI-compatible endpoint: the golden path over a real WebSocket."""

from __future__ import annotations

import json

import httpx
import pytest

from netra.testing.fake_openai import RECORDED_ANSWER, RECORDED_TOOL_CALL, FakeOpenAI, Stream
from netra.testing.fixtures import register_user
from netra.testing.ws import EventValidator, WsClient

API_KEY = "sk-e2e-0123456789abcdefMUSTNOTLEAK"


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_golden_path_on_a_real_model_endpoint(netra_server_factory, log_format: str) -> None:
    async with FakeOpenAI() as fake:
        fake.enqueue(Stream(RECORDED_TOOL_CALL), Stream(RECORDED_ANSWER))
        server = netra_server_factory(
            settings={
                "NETRA_MODEL_PROVIDER": "openai",
                "NETRA_MODEL_BASE_URL": fake.base_url,
                "NETRA_MODEL_NAME": "gpt-4o-mini",
                "NETRA_MODEL_API_KEY": API_KEY,
                "NETRA_LOG_LEVEL": "debug",
                "NETRA_LOG_FORMAT": log_format,
            }
        )
        user = await register_user(server.base_url)
        client = await WsClient.connect(server.ws_url, user.access_token)
        try:
            accepted = await client.start_run("What is 12 * (3 + 4)?")
            events = await client.events_until_terminal(accepted["run_id"])
        finally:
            await client.close()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            stored = await http.get(
                f"/api/threads/{accepted['thread_id']}/events", headers=user.headers
            )

    validator = EventValidator()
    validator.assert_valid(events, allowed_threads=[accepted["thread_id"]], require_critical=True)
    validator.assert_same_history(events, stored.json())
    tool = next(e for e in events if e["type"] == "tool_completed")
    assert tool["data"]["result"]["value"] == 84
    assert events[-1]["data"]["text"] == "12 * (3 + 4) = **84**."
    assert events[-1]["data"]["usage"]["total_tokens"] == 161 + 187
    assert [h["authorization"] for h in fake.headers] == [f"Bearer {API_KEY}"] * 2
    assert fake.requests[0]["model"] == "gpt-4o-mini"
    assert API_KEY not in json.dumps(events)
    assert API_KEY not in server.log()
    assert "chat/completions" in server.log()  # debug logging was on, and said nothing secret
    if log_format == "json":  # every line is one JSON object, and none holds the key
        lines = [json.loads(line) for line in server.log().splitlines() if line.strip()]
        assert not [line for line in lines if API_KEY in json.dumps(line)]
        assert any("chat/completions" in line["message"] for line in lines)
