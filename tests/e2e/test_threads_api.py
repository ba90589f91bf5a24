"""PATCH and DELETE /api/threads/{id}, runs in progress in the list, rendered answers."""

from __future__ import annotations

import httpx
import pytest


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def _thread(http: httpx.AsyncClient, user, title: str = "Plans") -> dict:
    response = await http.post("/api/threads", json={"title": title}, headers=user.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_rename_a_thread(http: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    thread = await _thread(http, user)

    renamed = await http.patch(
        f"/api/threads/{thread['id']}", json={"title": "  Trip to Lyon "}, headers=user.headers
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["title"] == "Trip to Lyon"
    assert renamed.json()["id"] == thread["id"]
    listed = (await http.get("/api/threads", headers=user.headers)).json()
    assert [(t["id"], t["title"]) for t in listed] == [(thread["id"], "Trip to Lyon")]


@pytest.mark.parametrize(
    "body", [{}, {"title": ""}, {"title": "   "}, {"title": "x" * 201}, {"title": 7}]
)
async def test_rename_refuses_a_bad_title(http: httpx.AsyncClient, make_user, body) -> None:
    user = await make_user()
    thread = await _thread(http, user)
    response = await http.patch(f"/api/threads/{thread['id']}", json=body, headers=user.headers)
    assert _error(response) == (422, "invalid_request")
    assert (await http.get(f"/api/threads/{thread['id']}", headers=user.headers)).json()[
        "title"
    ] == "Plans"


async def test_another_users_thread_cannot_be_renamed_or_deleted(
    http: httpx.AsyncClient, make_user
) -> None:
    owner, other = await make_user(), await make_user()
    thread = await _thread(http, owner)
    path = f"/api/threads/{thread['id']}"

    rename = await http.patch(path, json={"title": "mine now"}, headers=other.headers)
    assert _error(rename) == (404, "not_found")
    assert _error(await http.delete(path, headers=other.headers)) == (404, "not_found")
    assert _error(await http.delete("/api/threads/thr_missing", headers=owner.headers)) == (
        404,
        "not_found",
    )
    assert _error(await http.patch(path, json={"title": "x"})) == (401, "unauthorized")
    assert _error(await http.delete(path)) == (401, "unauthorized")
    assert (await http.get(path, headers=owner.headers)).json()["title"] == "Plans"


async def test_delete_removes_the_thread_and_its_history(
    http: httpx.AsyncClient, make_user, ws_connect
) -> None:
    user = await make_user()
    client = await ws_connect(user)
    accepted = await client.start_run("What is 2 + 3?")
    await client.events_until_terminal(accepted["run_id"])
    path = f"/api/threads/{accepted['thread_id']}"

    deleted = await http.delete(path, headers=user.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert _error(await http.get(path, headers=user.headers)) == (404, "not_found")
    assert _error(await http.get(f"{path}/events", headers=user.headers)) == (404, "not_found")
    assert (await http.get("/api/threads", headers=user.headers)).json() == []
    again = await http.delete(path, headers=user.headers)
    assert _error(again) == (404, "not_found")


async def test_delete_cancels_the_active_run_first(
    http: httpx.AsyncClient, make_user, ws_connect
) -> None:
    user = await make_user()
    client = await ws_connect(user)
    accepted = await client.start_run("wait 120 seconds")
    await client.recv_type("tool_executing")
    listed = (await http.get("/api/threads", headers=user.headers)).json()
    assert [t["active_run_id"] for t in listed] == [accepted["run_id"]]

    deleted = await http.delete(f"/api/threads/{accepted['thread_id']}", headers=user.headers)

    assert deleted.status_code == 204
    # The live subscriber saw the run end as cancelled before the thread went.
    events = await client.events_until_terminal(accepted["run_id"])
    assert [e["type"] for e in events][-2:] == ["tool_completed", "agent_cancelled"]
    assert events[-1]["data"] == {"reason": "cancelled_by_user"}
    cancel = await http.post(f"/api/runs/{accepted['run_id']}/cancel", headers=user.headers)
    assert _error(cancel) == (404, "not_found")
    # The server is free for the next chat.
    next_run = await client.start_run("What is 1 + 1?")
    answer = await client.events_until_terminal(next_run["run_id"])
    assert answer[-1]["data"]["text"] == "1 + 1 = 2"
    listed = (await http.get("/api/threads", headers=user.headers)).json()
    assert [(t["id"], t["active_run_id"]) for t in listed] == [(next_run["thread_id"], None)]


async def test_answers_come_with_their_rendered_html(
    http: httpx.AsyncClient, make_user, ws_connect
) -> None:
    user = await make_user()
    client = await ws_connect(user)
    accepted = await client.start_run("remember **bold** <img src=x onerror=alert(1)>")
    await client.events_until_terminal(accepted["run_id"])
    second = await client.start_run("what are my notes?", thread_id=accepted["thread_id"])
    events = await client.events_until_terminal(second["run_id"])
    completed = events[-1]
    assert completed["type"] == "agent_completed"
    path = f"/api/threads/{accepted['thread_id']}/messages"

    messages = (await http.get(path, headers=user.headers)).json()
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert [m["html"] for m in messages if m["role"] == "user"] == [None, None]
    answer = messages[-1]
    assert answer["id"] == completed["data"]["message_id"]
    assert "<strong>bold</strong>" in answer["html"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in answer["html"]
    assert "<img" not in answer["html"]

    one = await http.get(f"{path}/{answer['id']}", headers=user.headers)
    assert one.status_code == 200
    assert one.json() == answer
    other = await make_user()
    assert _error(await http.get(f"{path}/{answer['id']}", headers=other.headers)) == (
        404,
        "not_found",
    )
    assert _error(await http.get(f"{path}/msg_missing", headers=user.headers)) == (
        404,
        "not_found",
    )
