"""SIGTERM with runs in flight: they end, their clients see the end live, then 1001."""

from __future__ import annotations

import asyncio
import signal

import pytest
from websockets.exceptions import ConnectionClosed

from netra.realtime.frames import CloseCode
from netra.testing.fixtures import register_user
from netra.testing.ws import EventValidator, WsClient

CLIENTS = 50
TERMINAL = {"agent_completed", "agent_error", "agent_cancelled"}


async def test_sigterm_ends_every_run_once_and_each_client_receives_the_end_live(
    netra_server_factory, event_validator: EventValidator
) -> None:
    server = netra_server_factory({"NETRA_SHUTDOWN_GRACE": "10"})
    users = await asyncio.gather(*(register_user(server.base_url) for _ in range(CLIENTS)))
    clients = [await WsClient.connect(server.ws_url, user.access_token) for user in users]
    # Half finish well within the grace; the other half would take two minutes.
    texts = ["wait 2 seconds please" if i % 2 else "wait 120 seconds" for i in range(CLIENTS)]
    accepted = [await c.start_run(text) for c, text in zip(clients, texts, strict=True)]
    await asyncio.gather(*(c.recv_type("tool_executing", timeout=30) for c in clients))

    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    endings = await asyncio.gather(
        *(
            c.events_until_terminal(a["run_id"], timeout=60)
            for c, a in zip(clients, accepted, strict=True)
        )
    )
    codes = []
    for client in clients:
        with pytest.raises(ConnectionClosed) as closed:
            await client.recv(timeout=30)
        assert closed.value.rcvd is not None
        codes.append(closed.value.rcvd.code)
    # uvicorn re-raises the signal it handled once it has shut down.
    assert await asyncio.to_thread(server.process.wait, 30) in (0, -signal.SIGTERM)

    assert codes == [CloseCode.GOING_AWAY] * CLIENTS
    for client, text, events in zip(clients, texts, endings, strict=True):
        run_events = [e for e in client.events() if e["run_id"] == events[-1]["run_id"]]
        assert sum(e["type"] in TERMINAL for e in run_events) == 1
        if text.startswith("wait 120"):
            assert events[-1]["type"] == "agent_cancelled"
            assert events[-1]["data"]["reason"] == "server_shutdown"
        else:
            assert events[-1]["type"] == "agent_completed"
        event_validator.assert_valid(client.events())


async def test_sigterm_to_one_instance_and_its_runs_end_live_on_the_other_too(
    netra_cluster, event_validator: EventValidator
) -> None:
    a, b = netra_cluster(2, settings={"NETRA_SHUTDOWN_GRACE": "5"})
    users = await asyncio.gather(*(register_user(a.base_url) for _ in range(20)))
    runners = [await WsClient.connect(a.ws_url, user.access_token) for user in users]
    watchers = [await WsClient.connect(b.ws_url, user.access_token) for user in users]
    accepted = [await runner.start_run("wait 120 seconds") for runner in runners]
    await asyncio.gather(*(r.recv_type("tool_executing", timeout=30) for r in runners))
    for watcher, run in zip(watchers, accepted, strict=True):
        await watcher.send({"type": "subscribe", "thread_id": run["thread_id"], "after_seq": 0})

    assert a.process is not None
    a.process.send_signal(signal.SIGTERM)
    on_a = await asyncio.gather(
        *(
            r.events_until_terminal(run["run_id"], timeout=60)
            for r, run in zip(runners, accepted, strict=True)
        )
    )
    on_b = await asyncio.gather(
        *(
            w.events_until_terminal(run["run_id"], timeout=60)
            for w, run in zip(watchers, accepted, strict=True)
        )
    )
    for watcher in watchers:
        await watcher.close()

    for ended_on_a, seen_on_b, watcher in zip(on_a, on_b, watchers, strict=True):
        assert ended_on_a[-1]["type"] == "agent_cancelled"
        assert ended_on_a[-1]["data"]["reason"] == "server_shutdown"
        assert seen_on_b[-1] == ended_on_a[-1]  # the same end, heard live through Redis
        assert sum(e["type"] in TERMINAL for e in watcher.events()) == 1
        event_validator.assert_valid(watcher.events())
