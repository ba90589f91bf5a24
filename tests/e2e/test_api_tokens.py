"""API tokens on a real server: a server-side AG-UI client holds one instead of the
15-minute access token; it works on POST /api/agui only, until revoked."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import websockets
from ag_ui.core import RunFinishedEvent
from websockets.exceptions import ConnectionClosed

from netra.realtime.frames import CloseCode
from netra.testing.agui import assert_valid_run, run_agent
from netra.testing.fixtures import error_of, register_user
from netra.testing.plugin import Server
from netra.testing.ws import WsClient


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _input(thread_id: str, text: str) -> dict[str, Any]:
    return {
        "threadId": thread_id,
        "runId": "r1",
        "messages": [{"id": "m1", "role": "user", "content": text}],
    }


async def _make(http: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await http.post("/api/me/api-tokens", json={"name": "runtime", **body}, headers=headers)


async def test_an_api_token_runs_agents_over_ag_ui_as_its_owner(
    http: httpx.AsyncClient, make_user
) -> None:
    user = await make_user()
    made = await _make(http, user.headers, expires_in_days=7)
    assert made.status_code == 201
    token = made.json()
    assert token["token"].startswith("nat_")
    assert (token["name"], token["scope"], token["last_used_at"]) == ("runtime", "agui", None)

    events = await run_agent(
        http, _input("copilot-thread", "What is 6 * 7?"), _bearer(token["token"])
    )

    assert_valid_run(events)
    assert isinstance(events[-1], RunFinishedEvent)
    assert "42" in events[-1].result["text"]
    # The run is the owner's: their access token finds the thread it made.
    threads = (await http.get("/api/threads", headers=user.headers)).json()
    assert [t["title"] for t in threads] == ["What is 6 * 7?"]
    listed = (await http.get("/api/me/api-tokens", headers=user.headers)).json()
    assert [(t["id"], t["last_used_at"] is not None) for t in listed] == [(token["id"], True)]
    assert "token" not in listed[0]  # the secret is shown once


async def test_an_api_token_is_refused_everywhere_but_ag_ui(
    http: httpx.AsyncClient, make_user
) -> None:
    user = await make_user()
    secret = (await _make(http, user.headers)).json()["token"]
    for method, path in [
        ("GET", "/api/threads"),
        ("GET", "/api/me"),
        ("GET", "/api/me/api-tokens"),
        ("POST", "/api/me/api-tokens"),  # a token cannot make tokens
    ]:
        refused = await http.request(method, path, json={"name": "x"}, headers=_bearer(secret))
        assert error_of(refused) == (401, "token_scope"), path


async def test_an_api_token_opens_no_websocket_and_no_readiness_details(
    netra_server: Server, http: httpx.AsyncClient, make_user
) -> None:
    user = await make_user()
    secret = (await _make(http, user.headers)).json()["token"]
    refused = await http.get("/ready", headers=_bearer(secret))
    assert error_of(refused) == (401, "token_scope")

    async def closed(connection: websockets.ClientConnection) -> tuple[int, str] | None:
        try:
            while True:
                await asyncio.wait_for(connection.recv(), 10)
        except ConnectionClosed as close:
            return (close.rcvd.code, close.rcvd.reason) if close.rcvd else None

    async with websockets.connect(netra_server.ws_url) as first_frame:
        await first_frame.send(json.dumps({"type": "auth", "token": secret}))
        assert await closed(first_frame) == (CloseCode.UNAUTHORIZED, "token_scope")
    async with websockets.connect(netra_server.ws_url, additional_headers=_bearer(secret)) as up:
        assert await closed(up) == (CloseCode.UNAUTHORIZED, "token_scope")
    # Nor does it renew an open connection's authentication.
    client = await WsClient.connect(netra_server.ws_url, user.access_token)
    try:
        await client.send({"type": "auth", "token": secret})
        reply = await client.recv_type("error", "auth_ok")
        assert (reply["type"], reply.get("code")) == ("error", "token_scope")
    finally:
        await client.close()


async def test_a_revoked_token_is_refused_at_once_and_only_its_owner_can_revoke_it(
    http: httpx.AsyncClient, make_user
) -> None:
    owner, other = await make_user(), await make_user()
    token = (await _make(http, owner.headers)).json()
    path = f"/api/me/api-tokens/{token['id']}"
    assert error_of(await http.delete(path, headers=other.headers)) == (404, "not_found")
    assert (await http.get("/api/me/api-tokens", headers=other.headers)).json() == []

    assert (await http.delete(path, headers=owner.headers)).status_code == 204

    refused = await http.post("/api/agui", json=_input("t", "hi"), headers=_bearer(token["token"]))
    assert error_of(refused) == (401, "token_invalid")
    assert (await http.get("/api/me/api-tokens", headers=owner.headers)).json() == []


async def test_bad_requests_for_a_token_are_422_and_the_count_is_limited(
    netra_server_factory, make_user
) -> None:
    server: Server = netra_server_factory({"NETRA_API_TOKENS_PER_USER": "2"})
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        user = await register_user(server.base_url)
        for bad in [
            {"name": ""},
            {"expires_in_days": 0},
            {"expires_in_days": 366},
            {"scope": "ws"},
        ]:
            assert error_of(await _make(http, user.headers, **bad)) == (422, "invalid_request"), bad
        made = await asyncio.gather(*(_make(http, user.headers) for _ in range(3)))
        assert sorted(r.status_code for r in made) == [201, 201, 409]
        assert [error_of(r) for r in made if r.status_code == 409] == [(409, "api_token_limit")]
