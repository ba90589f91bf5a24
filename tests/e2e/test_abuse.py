"""Abuse resistance on real servers (issue 12): throttles, quotas, limits, private data."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from netra.realtime.frames import CloseCode
from netra.testing.fixtures import DEFAULT_PASSWORD, error_of, register_user
from netra.testing.plugin import Server
from netra.testing.server import NetraServer
from netra.testing.ws import WsClient

Factory = Callable[..., NetraServer]
PROXY = {"NETRA_TRUSTED_PROXIES": "127.0.0.1"}


async def _login(http: httpx.AsyncClient, email: str, password: str, client: str) -> httpx.Response:
    return await http.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": client},
    )


async def _close_code(connection: websockets.ClientConnection) -> int | None:
    try:
        while True:
            await asyncio.wait_for(connection.recv(), 10)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


# -- 1, 4: login throttling per client and per account; X-Forwarded-For -------------------
async def test_an_attacker_cannot_lock_the_owner_out(netra_server_factory: Factory) -> None:
    server = netra_server_factory(PROXY)
    owner = await register_user(server.base_url)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        for _ in range(5):
            assert error_of(await _login(http, owner.email, "guess", "203.0.113.1"))[0] == 401
        # The attacker's client is stopped on this account, even with the right password...
        stopped = await _login(http, owner.email, DEFAULT_PASSWORD, "203.0.113.1")
        assert error_of(stopped) == (429, "too_many_attempts")
        assert int(stopped.headers["Retry-After"]) > 0
        # ...a spree spread over more clients only slows the account down...
        spree = await asyncio.gather(
            *(_login(http, owner.email, "guess", f"203.0.113.{n}") for n in range(2, 6))
        )
        assert [r.status_code for r in spree] == [401] * 4
        # ...and the owner, from another client, gets in.
        mine = await _login(http, owner.email, DEFAULT_PASSWORD, "198.51.100.7")
        assert mine.status_code == 200, mine.text


async def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    netra_server_factory: Factory,
) -> None:
    server = netra_server_factory()  # NETRA_TRUSTED_PROXIES unset
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        # 20 failures (4 x NETRA_LOGIN_MAX_FAILURES) from one address, each claiming another.
        for n in range(20):
            response = await _login(http, f"u{n}@example.com", "guess", f"192.0.2.{n}")
            assert response.status_code == 401
        spoofed = await _login(http, "u20@example.com", "guess", "192.0.2.200")
    assert error_of(spoofed) == (429, "too_many_attempts")


# -- 3: request bodies ------------------------------------------------------------------
async def test_a_body_over_the_limit_is_refused_with_413(http: httpx.AsyncClient) -> None:
    big = b'{"email": "a@example.com", "password": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    declared = await http.post(
        "/api/auth/login", content=big, headers={"content-type": "application/json"}
    )
    assert error_of(declared) == (413, "payload_too_large")

    async def chunks():  # no Content-Length: counted while it streams in
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    streamed = await http.post(
        "/api/auth/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in streamed.request.headers
    assert error_of(streamed) == (413, "payload_too_large")
    deep = b'{"email": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    nested = await http.post(
        "/api/auth/login", content=deep, headers={"content-type": "application/json"}
    )
    assert error_of(nested) == (400, "bad_request")


@pytest.mark.parametrize(
    ("path", "token"),
    [
        ("/api/threads", "forged"),
        ("/api/agui", "forged"),
        ("/api/agui", "nat_forged"),  # an API token is checked there too
        ("/api/agui", "nat_" + "x" * 43),  # shaped like one: refused after a lookup
    ],
)
async def test_an_authenticated_route_checks_the_token_before_reading_the_body(
    netra_server: Server, path: str, token: str
) -> None:
    host, port = netra_server.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    # The headers promise a body that never comes: only a check made before reading it
    # can answer.
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: 100000\r\n\r\n".encode()
    )
    await writer.drain()
    try:
        status = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    assert status.split()[1] == b"401"


# -- 5: registrations ---------------------------------------------------------------------
async def test_registrations_are_limited_per_client_address(
    netra_server_factory: Factory,
) -> None:
    server = netra_server_factory({**PROXY, "NETRA_REGISTRATIONS_PER_HOUR": "2"})

    async def sign_up(n: int, client: str) -> httpx.Response:
        body = {"email": f"new{n}@example.com", "password": DEFAULT_PASSWORD}
        return await http.post("/api/auth/register", json=body, headers={"X-Forwarded-For": client})

    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        assert [(await sign_up(n, "203.0.113.9")).status_code for n in range(2)] == [201, 201]
        refused = await sign_up(2, "203.0.113.9")
        assert error_of(refused) == (429, "too_many_registrations")
        assert int(refused.headers["Retry-After"]) > 0
        assert (await sign_up(2, "198.51.100.1")).status_code == 201


async def test_logins_are_answered_while_sign_ups_queue_for_hashing(
    netra_server_factory: Factory,
) -> None:
    server = netra_server_factory(PROXY)
    user = await register_user(server.base_url)
    flood = 40
    async with httpx.AsyncClient(base_url=server.base_url, timeout=120) as http:
        sign_ups = [
            asyncio.create_task(
                http.post(
                    "/api/auth/register",
                    json={"email": f"flood{n}@example.com", "password": DEFAULT_PASSWORD},
                    headers={"X-Forwarded-For": f"10.0.{n // 250}.{n % 250}"},
                )
            )
            for n in range(flood)
        ]
        # Once one sign-up is done, the others are queued or hashing on the server.
        await asyncio.wait(sign_ups, return_when=asyncio.FIRST_COMPLETED)
        login = await _login(http, user.email, DEFAULT_PASSWORD, "198.51.100.50")
        pending = sum(not task.done() for task in sign_ups)
        answers = await asyncio.gather(*sign_ups)
    assert login.status_code == 200
    assert [r.status_code for r in answers] == [201] * flood
    # Sign-ups hash on their own slots: the login did not wait for the queue to drain.
    assert pending >= flood // 4, pending


# -- 6: per-user quotas -------------------------------------------------------------------
async def test_connections_and_active_runs_per_user_are_capped(
    netra_server_factory: Factory,
) -> None:
    server = netra_server_factory(
        {"NETRA_MAX_CONNECTIONS_PER_USER": "2", "NETRA_MAX_ACTIVE_RUNS_PER_USER": "2"}
    )
    user, other = await register_user(server.base_url), await register_user(server.base_url)
    first = await WsClient.connect(server.ws_url, user.access_token)
    second = await WsClient.connect(server.ws_url, user.access_token)
    try:
        async with websockets.connect(server.ws_url) as third:
            await third.send(json.dumps({"type": "auth", "token": user.access_token}))
            assert await _close_code(third) == CloseCode.TOO_MANY_CONNECTIONS
        await (await WsClient.connect(server.ws_url, other.access_token)).close()

        # Runs that outlast the checks below however slow the machine (they are cancelled
        # at the end): a run ending on its own would free its slot before a check.
        runs = [await first.start_run("wait 60 seconds") for _ in range(2)]
        await first.send({"type": "user_message", "text": "wait 60 seconds", "client_msg_id": "c3"})
        refused = await first.recv_type("error")
        assert (refused["code"], refused["client_msg_id"]) == ("too_many_runs", "c3")
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            thread = (await http.post("/api/threads", json={}, headers=user.headers)).json()
            rest = await http.post(
                f"/api/threads/{thread['id']}/runs", json={"text": "hi"}, headers=user.headers
            )
            assert error_of(rest) == (429, "too_many_runs")
            assert rest.headers["Retry-After"]
            agui = await http.post(
                "/api/agui",
                json={
                    "threadId": "client-thread",
                    "runId": "r",
                    "messages": [{"id": "m", "role": "user", "content": "hi"}],
                },
                headers=user.headers,
            )
            assert error_of(agui) == (429, "too_many_runs")
            # A refused message created no thread: the two runs' and the one made above.
            threads = (await http.get("/api/threads", headers=user.headers)).json()
            assert len(threads) == 3
            for run in runs:
                await first.send({"type": "cancel", "run_id": run["run_id"]})
                await first.events_until_terminal(run["run_id"])
            # A slot comes back when its run ends.
            again = await http.post(
                f"/api/threads/{thread['id']}/runs", json={"text": "hi"}, headers=user.headers
            )
            assert again.status_code == 202, again.text
    finally:
        await first.close()
        await second.close()


# -- 7, 8, 13: NUL, deep JSON and loose types ------------------------------------------------
@pytest.fixture(params=["postgresql", "sqlite"])
def any_db_server(request: pytest.FixtureRequest, netra_server_factory: Factory) -> Server:
    if request.param == "postgresql":
        server: Server = request.getfixturevalue("netra_server")
        return server
    return netra_server_factory()  # no NETRA_DATABASE_URL: SQLite in its data dir


async def test_nul_characters_are_refused_everywhere(any_db_server: Server) -> None:
    base = any_db_server.base_url
    with pytest.raises(AssertionError, match="422"):
        await register_user(base, display_name="Ada\x00")
    user = await register_user(base)
    h = user.headers
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        thread = (await http.post("/api/threads", json={"title": "ok"}, headers=h)).json()
        calls = [
            http.post("/api/threads", json={"title": "a\x00b"}, headers=h),
            http.post(f"/api/threads/{thread['id']}/runs", json={"text": "hi\x00"}, headers=h),
            http.post(
                f"/api/threads/{thread['id']}/runs", json={"text": "hi", "agent": "\x00"}, headers=h
            ),
            http.get("/api/threads/thr_%00", headers=h),
            http.get("/api/threads/%00/messages", headers=h),
            http.get(f"/api/threads/{thread['id']}/events?after_seq=%00", headers=h),
            http.post("/api/runs/run_%00/cancel", headers=h),
            http.post("/api/auth/login", json={"email": user.email, "password": "a\x00"}),
            http.post("/api/auth/refresh", json={"refresh_token": "nrt_\x00"}),
            http.post(
                "/api/agui",
                json={
                    "threadId": "client\x00thread",
                    "runId": "r",
                    "messages": [{"id": "m", "role": "user", "content": "hi"}],
                },
                headers=h,
            ),
        ]
        for response in await asyncio.gather(*calls):
            assert error_of(response) == (422, "invalid_request"), response.request.url
    client = await WsClient.connect(any_db_server.ws_url, user.access_token)
    try:
        for frame in (
            {"type": "user_message", "text": "hi\x00"},
            {"type": "user_message", "text": "hi", "thread_id": "thr_\x00"},
            {"type": "subscribe", "thread_id": "\x00"},
            {"type": "cancel", "run_id": "run_\x00"},
        ):
            await client.send(frame)
            assert (await client.recv())["code"] == "invalid_frame", frame
        await client.send({"type": "ping"})
        assert await client.recv() == {"type": "pong"}
    finally:
        await client.close()


async def test_deep_json_frames_are_refused_without_a_traceback(
    local_netra_server: NetraServer, make_user, ws_connect
) -> None:
    deep = "[" * 30_000 + "]" * 30_000  # under NETRA_WS_MAX_FRAME_BYTES
    async with websockets.connect(local_netra_server.ws_url) as anonymous:
        await anonymous.send(deep)
        assert await _close_code(anonymous) == CloseCode.UNAUTHORIZED
    client = await ws_connect(await make_user())
    for _ in range(3):
        await client.connection.send(deep)
        assert (await client.recv())["code"] == "invalid_json"
    await client.send({"type": "ping"})
    assert await client.recv() == {"type": "pong"}
    assert "RecursionError" not in local_netra_server.log()


async def test_frame_fields_are_strictly_typed(make_user, ws_connect) -> None:
    client = await ws_connect(await make_user())
    for after_seq in ('"5"', "true", "1e3"):
        await client.connection.send(
            f'{{"type": "subscribe", "thread_id": "thr_x", "after_seq": {after_seq}}}'
        )
        reply = await client.recv()
        assert (reply["code"], reply["message"].split(":")[0]) == ("invalid_frame", "after_seq")


# -- 10: private files ----------------------------------------------------------------------
async def test_the_data_dir_and_database_are_private_whatever_the_umask(
    netra_server_factory: Factory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "fresh" / "data"
    previous = os.umask(0)  # the server inherits it: today's files would be world-writable
    try:
        netra_server_factory({"NETRA_DATA_DIR": str(data_dir)})
    finally:
        os.umask(previous)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "netra.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / "secret_key").stat().st_mode) == 0o600


# -- 11, 12: what the public surface says -------------------------------------------------
async def test_no_server_header_and_no_docs_unless_asked(
    http: httpx.AsyncClient, netra_server_factory: Factory
) -> None:
    health = await http.get("/health")
    assert "server" not in health.headers
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert (await http.get(path)).status_code == 404, path
    documented = netra_server_factory({"NETRA_API_DOCS": "true"})
    async with httpx.AsyncClient(base_url=documented.base_url) as docs_http:
        assert (await docs_http.get("/openapi.json")).json()["info"]["title"] == "Netra"
        assert (await docs_http.get("/docs")).status_code == 404  # Swagger UI needs a CDN


async def test_options_and_405_list_every_method_of_a_path(http: httpx.AsyncClient) -> None:
    options = await http.options("/api/threads")
    assert options.status_code == 204
    assert {"GET", "POST", "OPTIONS"} <= set(options.headers["allow"].split(", "))
    refused = await http.delete("/api/threads")
    assert error_of(refused) == (405, "method_not_allowed")
    assert set(refused.headers["allow"].split(", ")) == set(options.headers["allow"].split(", "))
