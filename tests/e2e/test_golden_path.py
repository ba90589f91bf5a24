"""The golden path over a real server process, real HTTP and a real WebSocket."""

from __future__ import annotations

import httpx

from netra.testing.fixtures import DEFAULT_PASSWORD
from netra.testing.ws import EventValidator, WsClient

CALCULATION = "What is 12 * (3 + 4)?"
CRITICAL = ["agent_started", "agent_thinking", "tool_executing", "tool_completed"]


async def test_calculator_run_streams_the_five_events_and_answers_84(
    http: httpx.AsyncClient, make_user, ws_connect, event_validator: EventValidator
) -> None:
    user = await make_user()
    client = await ws_connect(user)

    accepted = await client.start_run(CALCULATION, client_msg_id="m1")
    events = await client.events_until_terminal(accepted["run_id"])

    assert accepted["client_msg_id"] == "m1"
    types = [e["type"] for e in events]
    assert [t for t in types if t != "agent_message_delta"][:4] == CRITICAL
    assert types[-1] == "agent_completed"
    assert "84" in events[-1]["data"]["text"]
    tool = next(e for e in events if e["type"] == "tool_completed")
    assert tool["data"]["tool"] == "calculator"
    assert tool["data"]["result"]["value"] == 84
    event_validator.assert_valid(
        events, allowed_threads=[accepted["thread_id"]], require_critical=True
    )
    stored = await http.get(f"/api/threads/{accepted['thread_id']}/events", headers=user.headers)
    event_validator.assert_same_history(events, stored.json())


async def test_login_then_websocket_then_history(
    http: httpx.AsyncClient, make_user, netra_server
) -> None:
    registered = await make_user(display_name="Ada")
    login = await http.post(
        "/api/auth/login", json={"email": registered.email.upper(), "password": DEFAULT_PASSWORD}
    )
    assert login.status_code == 200, login.text
    body = login.json()
    assert body["token_type"] == "bearer"
    assert body["user"] == {**body["user"], "id": registered.id, "display_name": "Ada"}
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await http.get("/api/me", headers=headers)).json()["email"] == registered.email

    client = await WsClient.connect(netra_server.ws_url, body["access_token"])
    try:
        accepted = await client.start_run(CALCULATION)
        events = await client.events_until_terminal(accepted["run_id"])
    finally:
        await client.close()

    thread_id = accepted["thread_id"]
    threads = (await http.get("/api/threads", headers=headers)).json()
    assert [t["id"] for t in threads] == [thread_id]
    messages = (await http.get(f"/api/threads/{thread_id}/messages", headers=headers)).json()
    assert [(m["role"], m["text"]) for m in messages] == [
        ("user", CALCULATION),
        ("assistant", events[-1]["data"]["text"]),
    ]
    assert messages[1]["id"] == events[-1]["data"]["message_id"]


async def test_run_started_over_rest_is_seen_over_ws_and_rest(
    http: httpx.AsyncClient, make_user, ws_connect, event_validator: EventValidator
) -> None:
    user = await make_user()
    thread = (await http.post("/api/threads", json={"title": "Sums"}, headers=user.headers)).json()
    client = await ws_connect(user)
    await client.send({"type": "subscribe", "thread_id": thread["id"], "after_seq": 0})
    await client.recv_type("subscribed")

    started = await http.post(
        f"/api/threads/{thread['id']}/runs", json={"text": "what is 2 ** 10"}, headers=user.headers
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    events = await client.events_until_terminal(run_id)

    assert events[-1]["data"]["text"] == "2 ** 10 = 1024"
    event_validator.assert_valid(events, allowed_threads=[thread["id"]], require_critical=True)
    stored = await http.get(f"/api/threads/{thread['id']}/events?after_seq=0", headers=user.headers)
    event_validator.assert_same_history(events, stored.json())
    later = await http.get(f"/api/threads/{thread['id']}/events?after_seq=3", headers=user.headers)
    assert [e["seq"] for e in later.json()] == [e["seq"] for e in events[3:]]


async def test_a_failing_tool_is_reported_and_the_run_still_answers(
    make_user, ws_connect, event_validator: EventValidator
) -> None:
    client = await ws_connect(await make_user())
    accepted = await client.start_run("What is 1 / 0?")
    events = await client.events_until_terminal(accepted["run_id"])

    completed = next(e for e in events if e["type"] == "tool_completed")
    assert completed["data"]["error"] == "division by zero"
    assert "result" not in completed["data"]
    assert events[-1]["type"] == "agent_completed"
    assert "division by zero" in events[-1]["data"]["text"]
    event_validator.assert_valid(events, require_critical=True)


async def test_clock_and_plain_questions(make_user, ws_connect) -> None:
    client = await ws_connect(await make_user())
    clock = await client.start_run("What time is it?")
    clock_events = await client.events_until_terminal(clock["run_id"])
    plain = await client.start_run("Tell me a joke", thread_id=clock["thread_id"])
    plain_events = await client.events_until_terminal(plain["run_id"])

    assert [e["data"]["tool"] for e in clock_events if e["type"] == "tool_executing"] == ["clock"]
    assert clock_events[-1]["data"]["text"].startswith("It is ")
    assert not [e for e in plain_events if e["type"] == "tool_executing"]
    assert "offline model" in plain_events[-1]["data"]["text"]
    deltas = "".join(e["data"]["delta"] for e in plain_events if e["type"] == "agent_message_delta")
    assert deltas == plain_events[-1]["data"]["text"]
