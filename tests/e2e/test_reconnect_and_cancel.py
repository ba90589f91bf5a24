"""Resuming after a dropped connection, and cancelling runs, against a real server."""

from __future__ import annotations

import httpx

from netra.testing.ws import EventValidator


async def test_reconnect_mid_run_resumes_with_no_gap_and_no_duplicate(
    http: httpx.AsyncClient, make_user, ws_connect, event_validator: EventValidator
) -> None:
    user = await make_user()
    first = await ws_connect(user)
    accepted = await first.start_run("wait 1 seconds please")
    await first.recv_type("tool_executing")
    seen = [e for e in first.events() if e["run_id"] == accepted["run_id"]]
    await first.close()  # dropped while the timer tool is still running

    second = await ws_connect(user)
    await second.send(
        {"type": "subscribe", "thread_id": accepted["thread_id"], "after_seq": seen[-1]["seq"]}
    )
    rest = await second.events_until_terminal(accepted["run_id"])

    combined = seen + rest
    assert [e["seq"] for e in combined] == list(range(1, len(combined) + 1))
    assert rest[0]["seq"] == seen[-1]["seq"] + 1
    assert combined[-1]["type"] == "agent_completed"
    event_validator.assert_valid(combined, require_critical=True)
    stored = await http.get(f"/api/threads/{accepted['thread_id']}/events", headers=user.headers)
    event_validator.assert_same_history(combined, stored.json())


async def test_subscribe_replays_history_then_continues_live(
    make_user, ws_connect, event_validator: EventValidator
) -> None:
    user = await make_user()
    client = await ws_connect(user)
    first = await client.start_run("What is 6 * 7?")
    await client.events_until_terminal(first["run_id"])
    second = await client.start_run("wait 0.5 seconds", thread_id=first["thread_id"])

    other = await ws_connect(user)
    await other.send({"type": "subscribe", "thread_id": first["thread_id"], "after_seq": 0})
    await other.events_until_terminal(first["run_id"])
    await other.events_until_terminal(second["run_id"])

    history = other.events()
    assert [e["seq"] for e in history] == list(range(1, len(history) + 1))
    assert {e["run_id"] for e in history} == {first["run_id"], second["run_id"]}
    event_validator.assert_valid(history, allowed_threads=[first["thread_id"]])


async def test_cancel_over_websocket_ends_the_run_with_agent_cancelled(
    http: httpx.AsyncClient, make_user, ws_connect, event_validator: EventValidator
) -> None:
    user = await make_user()
    client = await ws_connect(user)
    accepted = await client.start_run("wait 120 seconds")
    executing = await client.recv_type("tool_executing")

    await client.send({"type": "cancel", "run_id": accepted["run_id"]})
    events = await client.events_until_terminal(accepted["run_id"])

    assert events[-1]["type"] == "agent_cancelled"
    assert events[-1]["data"]["reason"] == "cancelled_by_user"
    completed = next(e for e in events if e["type"] == "tool_completed")
    assert completed["data"]["tool_call_id"] == executing["data"]["tool_call_id"]
    assert "error" in completed["data"]
    all_events = client.events()
    event_validator.assert_valid(all_events, allowed_threads=[accepted["thread_id"]])

    again = await http.post(f"/api/runs/{accepted['run_id']}/cancel", headers=user.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "run_not_active"


async def test_cancel_over_rest_and_thread_accepts_a_new_run_afterwards(
    http: httpx.AsyncClient, make_user, ws_connect
) -> None:
    user = await make_user()
    client = await ws_connect(user)
    accepted = await client.start_run("wait 120 seconds")
    await client.recv_type("tool_executing")
    busy = await http.post(
        f"/api/threads/{accepted['thread_id']}/runs", json={"text": "hi"}, headers=user.headers
    )
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "run_in_progress"

    cancelled = await http.post(f"/api/runs/{accepted['run_id']}/cancel", headers=user.headers)
    assert cancelled.status_code == 202
    assert cancelled.json() == {"run_id": accepted["run_id"], "thread_id": accepted["thread_id"]}
    events = await client.events_until_terminal(accepted["run_id"])
    assert events[-1]["type"] == "agent_cancelled"

    next_run = await client.start_run("What is 1 + 1?", thread_id=accepted["thread_id"])
    answer = await client.events_until_terminal(next_run["run_id"])
    assert answer[-1]["data"]["text"] == "1 + 1 = 2"
