"""A user never sees another user's threads or events."""

from __future__ import annotations

import httpx


async def test_second_user_gets_no_events_and_404_on_first_users_thread(
    http: httpx.AsyncClient, make_user, ws_connect
) -> None:
    alice, bob = await make_user(), await make_user()
    alice_ws, bob_ws = await ws_connect(alice), await ws_connect(bob)

    accepted = await alice_ws.start_run("What is 12 * (3 + 4)?")
    await alice_ws.events_until_terminal(accepted["run_id"])
    # Frames on one connection are ordered: had any of Alice's events been routed to
    # Bob, they would have been queued before this pong.
    await bob_ws.send({"type": "ping"})
    assert await bob_ws.recv() == {"type": "pong"}
    assert bob_ws.events() == []

    thread_id, run_id = accepted["thread_id"], accepted["run_id"]
    for path in (
        f"/api/threads/{thread_id}",
        f"/api/threads/{thread_id}/messages",
        f"/api/threads/{thread_id}/events",
    ):
        response = await http.get(path, headers=bob.headers)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    assert (await http.get("/api/threads", headers=bob.headers)).json() == []
    cancel = await http.post(f"/api/runs/{run_id}/cancel", headers=bob.headers)
    assert cancel.status_code == 404
    post = await http.post(
        f"/api/threads/{thread_id}/runs", json={"text": "hi"}, headers=bob.headers
    )
    assert post.status_code == 404

    await bob_ws.send({"type": "subscribe", "thread_id": thread_id})
    assert (await bob_ws.recv())["code"] == "not_found"
    await bob_ws.send({"type": "user_message", "text": "hi", "thread_id": thread_id})
    assert (await bob_ws.recv())["code"] == "not_found"
    await bob_ws.send({"type": "cancel", "run_id": run_id})
    assert (await bob_ws.recv())["code"] == "not_found"
    assert bob_ws.events() == []


async def test_notes_are_per_user(make_user, ws_connect) -> None:
    alice, bob = await make_user(), await make_user()
    alice_ws, bob_ws = await ws_connect(alice), await ws_connect(bob)

    saved = await alice_ws.start_run("remember the vault code is 1234")
    await alice_ws.events_until_terminal(saved["run_id"])
    alice_list = await alice_ws.start_run("what are my notes?")
    bob_list = await bob_ws.start_run("what are my notes?")

    alice_answer = (await alice_ws.events_until_terminal(alice_list["run_id"]))[-1]
    bob_answer = (await bob_ws.events_until_terminal(bob_list["run_id"]))[-1]
    assert "the vault code is 1234" in alice_answer["data"]["text"]
    assert bob_answer["data"]["text"] == "You have no notes yet."
