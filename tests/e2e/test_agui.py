"""POST /api/agui on a real server: AG-UI events over SSE, from the same runs as /ws."""

from __future__ import annotations

from typing import Any

import httpx
from ag_ui.core import EventType, RunErrorEvent, RunFinishedEvent, RunStartedEvent

from netra.ids import new_id
from netra.testing.agui import abort_at_first_tool_call, assert_valid_run, run_agent
from netra.testing.fake_openai import FakeOpenAI, Stream, chunk
from netra.testing.fixtures import register_user
from netra.testing.ws import EventValidator

T = EventType


def run_input(thread_id: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "threadId": thread_id,
        "runId": "client-run-1",
        "messages": [{"id": "m1", "role": "user", "content": text}],
        **extra,
    }


async def test_a_calculator_run_streams_a_valid_ag_ui_run_seen_over_ws_and_rest(
    http: httpx.AsyncClient, make_user, ws_connect, event_validator: EventValidator
) -> None:
    user = await make_user()
    thread = (await http.post("/api/threads", json={}, headers=user.headers)).json()
    client = await ws_connect(user)
    await client.send({"type": "subscribe", "thread_id": thread["id"], "after_seq": 0})
    await client.recv_type("subscribed")

    events = await run_agent(http, run_input(thread["id"], "What is 12 * (3 + 4)?"), user.headers)

    assert_valid_run(events)
    started, finished = events[0], events[-1]
    assert isinstance(started, RunStartedEvent)
    assert (started.thread_id, started.run_id) == (thread["id"], "client-run-1")
    assert isinstance(finished, RunFinishedEvent)
    assert "84" in finished.result["text"]
    types = [e.type for e in events]
    assert types.index(T.TOOL_CALL_START) < types.index(T.TOOL_CALL_RESULT)
    assert types.index(T.TOOL_CALL_RESULT) < types.index(T.TEXT_MESSAGE_START)
    netra_run = started.metadata["netra"]["run_id"]
    # The same run, over the WebSocket and in the persisted history.
    live = await client.events_until_terminal(netra_run)
    event_validator.assert_valid(live, allowed_threads=[thread["id"]], require_critical=True)
    stored = await http.get(f"/api/threads/{thread['id']}/events", headers=user.headers)
    event_validator.assert_same_history(live, stored.json())
    assert live[-1]["data"]["text"] == finished.result["text"]
    assert {e.metadata["netra"]["seq"] for e in events} == {e["seq"] for e in live}


async def test_an_unknown_netra_thread_id_is_not_found_and_creates_nothing(
    http: httpx.AsyncClient, make_user
) -> None:
    user, other = await make_user(), await make_user()
    theirs = (await http.post("/api/threads", json={}, headers=other.headers)).json()["id"]

    for thread_id in (new_id("thr"), theirs):
        response = await http.post(
            "/api/agui", json=run_input(thread_id, "What is 2 + 3?"), headers=user.headers
        )
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"

    assert (await http.get("/api/threads", headers=user.headers)).json() == []


async def test_a_too_long_message_is_refused_before_a_thread_is_created(
    http: httpx.AsyncClient, make_user
) -> None:
    user = await make_user()

    response = await http.post(
        "/api/agui", json=run_input("client-thread-1", "x" * 16_001), headers=user.headers
    )

    assert response.status_code == 422
    assert "16000" in response.json()["error"]["message"]
    assert (await http.get("/api/threads", headers=user.headers)).json() == []


async def test_another_users_thread_is_not_found(http: httpx.AsyncClient, make_user) -> None:
    owner, intruder = await make_user(), await make_user()
    thread = (await http.post("/api/threads", json={}, headers=owner.headers)).json()

    response = await http.post(
        "/api/agui", json=run_input(thread["id"], "What is 1 + 1?"), headers=intruder.headers
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    events = await http.get(f"/api/threads/{thread['id']}/events", headers=owner.headers)
    assert events.json() == []


async def test_a_client_thread_id_keeps_naming_the_same_thread_of_that_user(
    http: httpx.AsyncClient, make_user
) -> None:
    ada, bob = await make_user(), await make_user()
    client_id = "5b0c0c4e-2f6d-4f55-9d7b-0f2ab1c4e9a1"  # a UUID, as CopilotKit mints them

    first = await run_agent(http, run_input(client_id, "What is 2 + 3?"), ada.headers)
    second = await run_agent(http, run_input(client_id, "What is 4 * 5?"), ada.headers)
    other = await run_agent(http, run_input(client_id, "What is 1 + 1?"), bob.headers)

    for events in (first, second, other):
        assert_valid_run(events)
        assert events[0].thread_id == client_id  # AG-UI echoes the client's id
    netra_thread = first[0].metadata["netra"]["thread_id"]
    assert netra_thread.startswith("thr_")
    assert second[0].metadata["netra"]["thread_id"] == netra_thread
    assert other[0].metadata["netra"]["thread_id"] != netra_thread  # Bob's own thread
    history = await http.get(f"/api/threads/{netra_thread}/events", headers=ada.headers)
    runs = {e["run_id"] for e in history.json()}
    assert runs == {first[0].metadata["netra"]["run_id"], second[0].metadata["netra"]["run_id"]}
    hidden = await http.get(f"/api/threads/{netra_thread}/events", headers=bob.headers)
    assert hidden.status_code == 404


async def test_a_thread_id_longer_than_200_characters_is_refused(
    http: httpx.AsyncClient, make_user
) -> None:
    user = await make_user()

    response = await http.post("/api/agui", json=run_input("x" * 201, "hi"), headers=user.headers)

    assert response.status_code == 422
    assert "200 characters" in response.json()["error"]["message"]


async def test_unauthenticated_calls_are_rejected(http: httpx.AsyncClient) -> None:
    body = run_input(new_id("thr"), "What is 1 + 1?")

    missing = await http.post("/api/agui", json=body)
    forged = await http.post("/api/agui", json=body, headers={"Authorization": "Bearer nope"})

    assert missing.status_code == 401
    assert set(missing.json()) == {"error"}
    assert missing.json()["error"]["code"] == "unauthorized"
    assert "Bearer" in missing.json()["error"]["message"]
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "token_invalid"


async def test_a_model_failure_ends_the_stream_with_run_error(netra_server_factory) -> None:
    async with FakeOpenAI() as fake:
        fake.enqueue(Stream(chunk({"role": "assistant", "content": "Hi"}) + "data: {broken\n\n"))
        server = netra_server_factory(
            settings={
                "NETRA_MODEL_PROVIDER": "openai",
                "NETRA_MODEL_BASE_URL": fake.base_url,
                "NETRA_MODEL_NAME": "fake-gpt",
            }
        )
        user = await register_user(server.base_url)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            events = await run_agent(http, run_input("client-thread", "Say hi"), user.headers)

    assert_valid_run(events)
    error = events[-1]
    assert isinstance(error, RunErrorEvent)
    assert error.code == "model_bad_response"
    assert [e.type for e in events][-2:] == [T.TEXT_MESSAGE_END, T.RUN_ERROR]


async def test_a_client_that_leaves_mid_run_cancels_it_and_the_thread_takes_the_next_message(
    http: httpx.AsyncClient, make_user, ws_connect
) -> None:
    user = await make_user()
    thread = (await http.post("/api/threads", json={}, headers=user.headers)).json()
    client = await ws_connect(user)
    await client.send({"type": "subscribe", "thread_id": thread["id"], "after_seq": 0})
    await client.recv_type("subscribed")
    body = run_input(thread["id"], "Please wait for 30 seconds")

    await abort_at_first_tool_call(http, body, user.headers)  # the timer is running
    started = await client.recv_type("agent_started")

    events = await client.events_until_terminal(started["run_id"], timeout=10)

    assert events[-1]["type"] == "agent_cancelled"
    assert events[-1]["data"]["reason"] == "cancelled_by_user"
    after = await run_agent(http, run_input(thread["id"], "What is 2 + 3?"), user.headers)
    assert_valid_run(after)
    assert isinstance(after[-1], RunFinishedEvent)
    assert "5" in after[-1].result["text"]


async def test_the_next_message_sent_right_after_an_abort_is_accepted(
    http: httpx.AsyncClient, make_user
) -> None:
    user = await make_user()
    body = run_input("abort-then-ask", "Please wait for 30 seconds")

    await abort_at_first_tool_call(http, body, user.headers)
    # At once, as a front end does after abortRun(): no 409 run_in_progress.
    after = await run_agent(http, run_input("abort-then-ask", "What is 2 + 3?"), user.headers)

    assert_valid_run(after)
    assert "5" in after[-1].result["text"]
    thread = after[0].metadata["netra"]["thread_id"]
    events = (await http.get(f"/api/threads/{thread}/events", headers=user.headers)).json()
    ends = [e for e in events if e["type"] in {"agent_cancelled", "agent_completed"}]
    assert [e["type"] for e in ends] == ["agent_cancelled", "agent_completed"]
