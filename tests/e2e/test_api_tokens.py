"""API tokens on a real server: a server-side AG-UI client holds one instead of the
15-minute access token; it works on POST /api/agui only, until revoked."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from ag_ui.core import RunFinishedEvent

from netra.testing.agui import assert_valid_run, run_agent
from netra.testing.fixtures import error_of, register_user
from netra.testing.plugin import Server


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


async def test_a_forged_api_token_is_refused_before_the_body_is_read(netra_server: Server) -> None:
    host, port = netra_server.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    # The headers promise a body that never comes: only a check made before reading it answers.
    writer.write(
        b"POST /api/agui HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer nat_forged\r\nContent-Length: 100000\r\n\r\n"
    )
    await writer.drain()
    try:
        status = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    assert status.split()[1] == b"401"
