"""Bad frames get error frames; abuse closes the connection with a documented code."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from netra.auth.tokens import AccessTokens
from netra.realtime.frames import CloseCode
from netra.testing.server import NetraServer


async def _recv(connection: ClientConnection, timeout: float) -> str | bytes:
    return await asyncio.wait_for(connection.recv(), timeout)


async def _closed_with(connection: ClientConnection, timeout: float = 10) -> int | None:
    """Read until the server closes; return the close code it sent."""
    try:
        while True:
            await _recv(connection, timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def test_bad_frames_get_errors_and_the_connection_stays_usable(make_user, ws_connect) -> None:
    client = await ws_connect(await make_user())
    cases = [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        (json.dumps({"type": "launch_missiles"}), "unknown_type"),
        (json.dumps({"type": "user_message"}), "invalid_frame"),
        (json.dumps({"type": "user_message", "text": "hi", "extra": 1}), "invalid_frame"),
        (json.dumps({"type": "subscribe", "thread_id": "thr_x", "after_seq": -1}), "invalid_frame"),
        (json.dumps({"type": "subscribe", "thread_id": "thr_nope"}), "not_found"),
        (json.dumps({"type": "cancel", "run_id": "run_nope"}), "not_found"),
        (json.dumps({"type": "user_message", "text": "hi", "agent": "nobody"}), "unknown_agent"),
        (json.dumps({"type": "auth", "token": "not-a-jwt"}), "token_invalid"),
    ]
    for raw, code in cases:
        await client.connection.send(raw)
        reply = await client.recv()
        assert (reply["type"], reply["code"]) == ("error", code), raw
        assert reply["message"]
    await client.connection.send(b"\x00binary")
    assert (await client.recv())["code"] == "invalid_frame"
    await client.send({"type": "ping"})
    assert await client.recv() == {"type": "pong"}


async def test_error_frame_echoes_client_msg_id(make_user, ws_connect) -> None:
    client = await ws_connect(await make_user())
    await client.send(
        {"type": "user_message", "text": "hi", "thread_id": "thr_x", "client_msg_id": "c9"}
    )
    reply = await client.recv()
    assert reply == {**reply, "type": "error", "code": "not_found", "client_msg_id": "c9"}


async def test_oversized_frame_closes_with_1009(netra_server: NetraServer, make_user) -> None:
    user = await make_user()
    async with websockets.connect(netra_server.ws_url) as connection:
        await connection.send(json.dumps({"type": "auth", "token": user.access_token}))
        await _recv(connection, 10)
        await connection.send(json.dumps({"type": "user_message", "text": "x" * 200_000}))
        assert await _closed_with(connection) == CloseCode.MESSAGE_TOO_BIG


async def test_first_frame_must_be_auth(netra_server: NetraServer) -> None:
    async with websockets.connect(netra_server.ws_url) as connection:
        await connection.send(json.dumps({"type": "ping"}))
        assert await _closed_with(connection) == CloseCode.UNAUTHORIZED


@pytest.mark.parametrize("token", ["garbage", "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"])
async def test_invalid_token_closes_with_4401(netra_server: NetraServer, token: str) -> None:
    async with websockets.connect(netra_server.ws_url) as connection:
        await connection.send(json.dumps({"type": "auth", "token": token}))
        assert await _closed_with(connection) == CloseCode.UNAUTHORIZED


async def test_authorization_header_on_upgrade_is_accepted(netra_server, make_user) -> None:
    user = await make_user()
    async with websockets.connect(netra_server.ws_url, additional_headers=user.headers) as ws:
        reply = json.loads(await _recv(ws, 10))
        assert reply == {"type": "auth_ok", "user_id": user.id}


async def test_tampered_token_is_rejected_over_rest(http: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    header, payload, signature = user.access_token.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}AA"
    response = await http.get("/api/me", headers={"Authorization": f"Bearer {tampered}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"
    assert (await http.get("/api/me")).json()["error"]["code"] == "unauthorized"


async def test_flooding_frames_closes_with_4429(netra_server: NetraServer, make_user) -> None:
    user = await make_user()
    async with websockets.connect(netra_server.ws_url) as connection:
        await connection.send(json.dumps({"type": "auth", "token": user.access_token}))
        await _recv(connection, 10)
        ping = json.dumps({"type": "ping"})
        # Far past the burst allowance of 2 s worth of frames; the server may close
        # the socket before all are sent.
        with contextlib.suppress(ConnectionClosed):
            for _ in range(1000):
                await connection.send(ping)
        assert await _closed_with(connection) == CloseCode.TOO_MANY_FRAMES


async def test_no_auth_frame_in_time_closes_with_4408(netra_server_factory) -> None:
    server = netra_server_factory({"NETRA_WS_AUTH_TIMEOUT": "0.3"})
    async with websockets.connect(server.ws_url) as connection:
        assert await _closed_with(connection) == CloseCode.AUTH_TIMEOUT


async def test_binary_first_frame_closes_with_4401(netra_server: NetraServer) -> None:
    async with websockets.connect(netra_server.ws_url) as connection:
        await connection.send(b'{"type": "auth"}')
        assert await _closed_with(connection) == CloseCode.UNAUTHORIZED


async def test_binary_frames_count_towards_the_flood_limit(netra_server, make_user) -> None:
    user = await make_user()
    async with websockets.connect(netra_server.ws_url, additional_headers=user.headers) as ws:
        await _recv(ws, 10)
        with contextlib.suppress(ConnectionClosed):
            for _ in range(1000):
                await ws.send(b"\x00")
        assert await _closed_with(ws) == CloseCode.TOO_MANY_FRAMES


async def test_subscribe_past_the_end_is_clamped_so_new_events_still_arrive(
    make_user, ws_connect
) -> None:
    client = await ws_connect(await make_user())
    first = await client.start_run("What is 2 + 2?")
    done = await client.events_until_terminal(first["run_id"])
    await client.send({"type": "subscribe", "thread_id": first["thread_id"], "after_seq": 10_000})
    subscribed = await client.recv_type("subscribed")
    assert subscribed["after_seq"] == done[-1]["seq"]

    second = await client.start_run("What is 3 + 3?", thread_id=first["thread_id"])
    events = await client.events_until_terminal(second["run_id"])
    assert events[0]["seq"] == done[-1]["seq"] + 1
    assert events[-1]["data"]["text"] == "3 + 3 = 6"


async def test_out_of_range_seq_is_a_validation_error(
    http: httpx.AsyncClient, make_user, ws_connect
) -> None:
    user = await make_user()
    client = await ws_connect(user)
    accepted = await client.start_run("What is 1 + 1?")
    await client.events_until_terminal(accepted["run_id"])
    huge = 2**70
    response = await http.get(
        f"/api/threads/{accepted['thread_id']}/events?after_seq={huge}", headers=user.headers
    )
    assert response.status_code == 422
    await client.send({"type": "subscribe", "thread_id": accepted["thread_id"], "after_seq": huge})
    assert (await client.recv_type("error"))["code"] == "invalid_frame"


async def test_expired_token_is_rejected_over_rest_and_websocket(
    local_netra_server: NetraServer, http: httpx.AsyncClient, make_user
) -> None:
    user = await make_user()
    # The server generated its signing key in its data dir; sign an already expired token.
    key = (local_netra_server.data_dir / "secret_key").read_text().strip()
    expired = AccessTokens(key, ttl_seconds=60).issue(user.id, now=time.time() - 3600)

    response = await http.get("/api/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"
    async with websockets.connect(local_netra_server.ws_url) as connection:
        await connection.send(json.dumps({"type": "auth", "token": expired}))
        assert await _closed_with(connection) == CloseCode.UNAUTHORIZED
