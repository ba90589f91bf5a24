"""Nothing is lost across a restart: runs cut off by a stop or a crash still end properly."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from netra.testing.fixtures import TestUser, register_user
from netra.testing.ws import EventValidator, WsClient


async def _start_long_run(ws_url: str, user: TestUser) -> dict:
    client = await WsClient.connect(ws_url, user.access_token)
    try:
        accepted = await client.start_run("wait 120 seconds")
        await client.recv_type("tool_executing")
    finally:
        await client.close()
    return accepted


async def _history(base_url: str, user: TestUser, thread_id: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get(f"/api/threads/{thread_id}/events", headers=user.headers)
    return response.json()


async def test_graceful_stop_cancels_running_runs(netra_server_factory, tmp_path: Path) -> None:
    # The run waits 120 s: it does not finish within the grace, so it is cancelled.
    server = netra_server_factory({"NETRA_SHUTDOWN_GRACE": "1"}, data_dir=tmp_path / "data")
    user = await register_user(server.base_url)
    accepted = await _start_long_run(server.ws_url, user)

    server.stop()
    restarted = netra_server_factory(data_dir=tmp_path / "data")
    events = await _history(restarted.base_url, user, accepted["thread_id"])

    assert events[-1]["type"] == "agent_cancelled"
    assert events[-1]["data"]["reason"] == "server_shutdown"
    EventValidator().assert_valid(events)


async def test_crashed_run_ends_with_interrupted_after_restart(
    netra_server_factory, tmp_path: Path
) -> None:
    server = netra_server_factory(data_dir=tmp_path / "data")
    user = await register_user(server.base_url)
    accepted = await _start_long_run(server.ws_url, user)

    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    restarted = netra_server_factory(data_dir=tmp_path / "data")
    events = await _history(restarted.base_url, user, accepted["thread_id"])

    assert [e["type"] for e in events[-2:]] == ["tool_completed", "agent_error"]
    assert events[-1]["data"]["code"] == "interrupted"
    EventValidator().assert_valid(events)
    async with httpx.AsyncClient(base_url=restarted.base_url) as http:
        again = await http.post(
            f"/api/threads/{accepted['thread_id']}/runs", json={"text": "hi"}, headers=user.headers
        )
    assert again.status_code == 202
