"""Mission critical: the golden path for two users at once, with every invariant checked."""

from __future__ import annotations

import asyncio

import httpx

from netra.testing.fixtures import DEFAULT_PASSWORD, TestUser
from netra.testing.server import NetraServer
from netra.testing.ws import EventValidator, WsClient

FIVE = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")


async def _golden_path(server: NetraServer, user: TestUser, question: str) -> dict:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        login = await http.post(
            "/api/auth/login", json={"email": user.email, "password": DEFAULT_PASSWORD}
        )
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        client = await WsClient.connect(server.ws_url, token)
        try:
            accepted = await client.start_run(question)
            events = await client.events_until_terminal(accepted["run_id"])
            # Anything else this connection received must be the user's own.
            await client.send({"type": "ping"})
            await client.recv_type("pong")
        finally:
            await client.close()
        stored = await http.get(
            f"/api/threads/{accepted['thread_id']}/events",
            headers={"Authorization": f"Bearer {token}"},
        )
    return {"accepted": accepted, "events": events, "all": client.events(), "stored": stored.json()}


async def test_two_users_run_the_golden_path_at_once(netra_server: NetraServer, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    validator = EventValidator()

    results = await asyncio.gather(
        _golden_path(netra_server, alice, "What is 12 * (3 + 4)?"),
        _golden_path(netra_server, bob, "What is (100 - 16) * 1?"),
    )

    for result in results:
        events, thread_id = result["events"], result["accepted"]["thread_id"]
        assert tuple(t for t in (e["type"] for e in events) if t in FIVE)[:4] == FIVE[:4]
        assert events[-1]["type"] == "agent_completed"
        assert "84" in events[-1]["data"]["text"]
        validator.assert_valid(result["all"], allowed_threads=[thread_id], require_critical=True)
        validator.assert_same_history(events, result["stored"])
    threads = {r["accepted"]["thread_id"] for r in results}
    assert len(threads) == 2
