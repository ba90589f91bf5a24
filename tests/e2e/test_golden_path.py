"""The golden path over a real server process, real HTTP and a real WebSocket."""

from __future__ import annotations

import httpx

from netra.testing.fixtures import TestUser
from netra.testing.server import NetraServer
from netra.testing.ws import EventValidator

CALCULATION = "What is 12 * (3 + 4)?"


async def test_calculator_run_streams_the_five_events_and_answers_84(
    netra_server: NetraServer, make_user, ws_connect, event_validator: EventValidator
) -> None:
    user: TestUser = make_user()
    client = await ws_connect(user)

    accepted = await client.start_run(CALCULATION, client_msg_id="m1")
    events = await client.events_until_terminal(accepted["run_id"])

    assert accepted["client_msg_id"] == "m1"
    types = [e["type"] for e in events]
    critical = [t for t in types if t not in ("agent_message_delta",)]
    assert critical[:5] == ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_thinking"]
    assert types[-1] == "agent_completed"
    assert "84" in events[-1]["data"]["text"]
    tool = next(e for e in events if e["type"] == "tool_completed")
    assert tool["data"]["tool"] == "calculator"
    assert tool["data"]["result"]["value"] == 84
    event_validator.assert_valid(events, allowed_threads=[accepted["thread_id"]], require_critical=True)

    stored = httpx.get(
        f"{netra_server.base_url}/api/threads/{accepted['thread_id']}/events", headers=user.headers
    ).json()
    event_validator.assert_same_history(events, stored)
