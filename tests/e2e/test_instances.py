"""Several `netra serve` instances on one PostgreSQL and one Redis (DESIGN section 2)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from netra.testing.agui import abort_at_first_tool_call, assert_valid_run, run_agent
from netra.testing.fixtures import register_user
from netra.testing.server import NetraServer
from netra.testing.services import RestartableRedis
from netra.testing.ws import EventValidator, WsClient

Cluster = Callable[..., list[NetraServer]]
LEASE_TTL = 3.0  # seconds: a lost instance's runs end within this plus one sweep
TERMINAL = {"agent_completed", "agent_error", "agent_cancelled"}


async def test_a_run_started_on_one_instance_is_seen_live_on_the_other(
    netra_cluster: Cluster, event_validator: EventValidator
) -> None:
    a, b = netra_cluster(2)
    user = await register_user(a.base_url)
    on_a = await WsClient.connect(a.ws_url, user.access_token)
    on_b = await WsClient.connect(b.ws_url, user.access_token)
    try:
        accepted = await on_b.start_run("What is 6 * 7?")
        await on_a.send({"type": "subscribe", "thread_id": accepted["thread_id"], "after_seq": 0})
        seen_on_a = await on_a.events_until_terminal(accepted["run_id"])
        seen_on_b = await on_b.events_until_terminal(accepted["run_id"])
    finally:
        await on_a.close()
        await on_b.close()

    assert seen_on_a == seen_on_b
    assert seen_on_a[-1]["type"] == "agent_completed"
    event_validator.assert_valid(seen_on_a, require_critical=True)


async def test_a_client_resumes_on_the_other_instance_with_no_gap(
    netra_cluster: Cluster, event_validator: EventValidator
) -> None:
    a, b = netra_cluster(2)
    user = await register_user(a.base_url)
    first = await WsClient.connect(a.ws_url, user.access_token)
    accepted = await first.start_run("wait 1 seconds please")
    await first.recv_type("tool_executing")
    seen = [e for e in first.events() if e["run_id"] == accepted["run_id"]]
    await first.close()  # dropped while the timer runs on A

    second = await WsClient.connect(b.ws_url, user.access_token)
    try:
        await second.send(
            {"type": "subscribe", "thread_id": accepted["thread_id"], "after_seq": seen[-1]["seq"]}
        )
        rest = await second.events_until_terminal(accepted["run_id"])
    finally:
        await second.close()

    combined = seen + rest
    assert [e["seq"] for e in combined] == list(range(1, len(combined) + 1))
    assert combined[-1]["type"] == "agent_completed"
    event_validator.assert_valid(combined, require_critical=True)
    async with httpx.AsyncClient(base_url=b.base_url) as http:
        stored = await http.get(
            f"/api/threads/{accepted['thread_id']}/events", headers=user.headers
        )
    event_validator.assert_same_history(combined, stored.json())


# A lease far longer than the tests: only the notice through Redis can end these runs in time.
NO_RENEWAL_SOON = {"NETRA_RUN_LEASE_TTL": "600"}


async def test_a_run_on_one_instance_is_cancelled_through_the_other(
    netra_cluster: Cluster, event_validator: EventValidator
) -> None:
    a, b = netra_cluster(2, settings=NO_RENEWAL_SOON)
    user = await register_user(a.base_url)
    client = await WsClient.connect(b.ws_url, user.access_token)
    try:
        accepted = await client.start_run("wait 120 seconds")
        await client.recv_type("tool_executing")
        async with httpx.AsyncClient(base_url=a.base_url) as http:
            response = await http.post(
                f"/api/runs/{accepted['run_id']}/cancel", headers=user.headers
            )
        assert response.status_code == 202
        events = await client.events_until_terminal(accepted["run_id"], timeout=LEASE_TTL * 5)
        await client.send({"type": "ping"})
        await client.recv_type("pong")  # anything after the end would have come first
    finally:
        await client.close()

    assert events[-1]["type"] == "agent_cancelled"
    assert events[-1]["data"]["reason"] == "cancelled_by_user"
    assert [e for e in client.events() if e["seq"] > events[-1]["seq"]] == []
    event_validator.assert_valid(client.events(), allowed_threads=[accepted["thread_id"]])


async def test_a_websocket_cancel_on_one_instance_ends_a_run_on_the_other(
    netra_cluster: Cluster,
) -> None:
    a, b = netra_cluster(2, settings=NO_RENEWAL_SOON)
    user = await register_user(a.base_url)
    runner = await WsClient.connect(b.ws_url, user.access_token)
    canceller = await WsClient.connect(a.ws_url, user.access_token)
    try:
        accepted = await runner.start_run("wait 120 seconds")
        await runner.recv_type("tool_executing")
        await canceller.send({"type": "cancel", "run_id": accepted["run_id"]})
        events = await runner.events_until_terminal(accepted["run_id"], timeout=LEASE_TTL * 5)
    finally:
        await runner.close()
        await canceller.close()
    assert events[-1]["type"] == "agent_cancelled"


async def test_a_message_sent_to_one_instance_right_after_an_abort_on_the_other_is_accepted(
    netra_cluster: Cluster,
) -> None:
    # A front end behind a load balancer: its abort closes the stream to A, and its next
    # message reaches B before A has ended the run.
    a, b = netra_cluster(2, settings=NO_RENEWAL_SOON)
    user = await register_user(a.base_url)
    body = {"threadId": "abort-on-a", "runId": "client-run-1"}
    first = [{"id": "m1", "role": "user", "content": "Please wait for 30 seconds"}]
    async with httpx.AsyncClient(base_url=a.base_url) as on_a:  # the timer is running: abort
        await abort_at_first_tool_call(on_a, {**body, "messages": first}, user.headers)
    second = [*first, {"id": "m2", "role": "user", "content": "What is 2 + 3?"}]
    async with httpx.AsyncClient(base_url=b.base_url) as on_b:
        after = await run_agent(on_b, {**body, "messages": second}, user.headers)
        thread = after[0].metadata["netra"]["thread_id"]
        events = (await on_b.get(f"/api/threads/{thread}/events", headers=user.headers)).json()

    assert_valid_run(after)
    assert "5" in after[-1].result["text"]
    ends = [e["type"] for e in events if e["type"] in TERMINAL]
    assert ends == ["agent_cancelled", "agent_completed"]


async def test_the_runs_of_a_killed_instance_are_ended_by_a_survivor(
    netra_cluster: Cluster, event_validator: EventValidator
) -> None:
    a, b = netra_cluster(2, settings={"NETRA_RUN_LEASE_TTL": str(LEASE_TTL)})
    user = await register_user(a.base_url)
    runner = await WsClient.connect(b.ws_url, user.access_token)
    accepted = await runner.start_run("wait 120 seconds")
    await runner.recv_type("tool_executing")
    watcher = await WsClient.connect(a.ws_url, user.access_token)
    await watcher.send({"type": "subscribe", "thread_id": accepted["thread_id"], "after_seq": 0})

    assert b.process is not None
    b.process.kill()  # SIGKILL: no shutdown, no terminal event from B
    try:
        # Within the lease and a sweep or two; generous, as the machine may be loaded.
        events = await watcher.events_until_terminal(accepted["run_id"], timeout=LEASE_TTL * 5)
    finally:
        await watcher.close()

    assert events[-1]["type"] == "agent_error"
    assert events[-1]["data"]["code"] == "instance_lost"
    assert [e["type"] for e in events].count("agent_error") == 1
    closing = [e for e in events if e["type"] == "tool_completed"]
    assert len(closing) == 1  # the timer B had started is closed, with an error
    assert "error" in closing[0]["data"]
    event_validator.assert_valid(events)


async def test_starting_an_instance_leaves_the_runs_of_live_ones_alone(
    netra_cluster: Cluster,
) -> None:
    settings = {"NETRA_RUN_LEASE_TTL": str(LEASE_TTL)}
    (a,) = netra_cluster(1, settings=settings)
    user = await register_user(a.base_url)
    client = await WsClient.connect(a.ws_url, user.access_token)
    try:
        long = await client.start_run("wait 120 seconds")
        await client.recv_type("tool_executing")
        (b,) = netra_cluster(1, settings=settings)  # B starts while A's run is going
        # A second run that lasts almost three leases: by its end B has swept many times.
        short = await client.start_run(f"wait {LEASE_TTL * 3:g} seconds please")
        await client.events_until_terminal(short["run_id"], timeout=LEASE_TTL * 10)
        async with httpx.AsyncClient(base_url=b.base_url) as http:
            response = await http.post(f"/api/runs/{long['run_id']}/cancel", headers=user.headers)
        events = [e for e in client.events() if e["run_id"] == long["run_id"]]
        if events[-1]["type"] not in TERMINAL:
            events += await client.events_until_terminal(long["run_id"], timeout=LEASE_TTL * 5)
    finally:
        await client.close()
    # Still A's run when B was asked to cancel it: ended by the user, not as lost.
    assert response.status_code == 202
    assert events[-1]["type"] == "agent_cancelled"
    assert events[-1]["data"]["reason"] == "cancelled_by_user"


async def test_events_on_both_instances_arrive_in_order_for_concurrent_runs(
    netra_cluster: Cluster, event_validator: EventValidator
) -> None:
    a, b = netra_cluster(2)
    users = [await register_user(a.base_url) for _ in range(4)]

    async def converse(index: int) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        user = users[index]
        starter, follower = (a, b) if index % 2 else (b, a)
        runner = await WsClient.connect(starter.ws_url, user.access_token)
        other = await WsClient.connect(follower.ws_url, user.access_token)
        try:
            first = await runner.start_run("What is 2 + 3?")
            await other.send({"type": "subscribe", "thread_id": first["thread_id"], "after_seq": 0})
            await runner.events_until_terminal(first["run_id"])
            second = await runner.start_run("What is 4 * 5?", thread_id=first["thread_id"])
            await runner.events_until_terminal(second["run_id"])
            await other.events_until_terminal(second["run_id"])
        finally:
            await runner.close()
            await other.close()
        return runner.events(), other.events()

    for runner_events, other_events in await asyncio.gather(*(converse(i) for i in range(4))):
        assert other_events == runner_events
        assert [e["seq"] for e in other_events] == list(range(1, len(other_events) + 1))
        event_validator.assert_valid(other_events)


async def test_state_is_shared_by_the_instances_and_still_per_user(netra_cluster: Cluster) -> None:
    a, b = netra_cluster(2)
    alice, bob = await register_user(a.base_url), await register_user(a.base_url)
    alice_on_a = await WsClient.connect(a.ws_url, alice.access_token)
    alice_on_b = await WsClient.connect(b.ws_url, alice.access_token)
    bob_on_b = await WsClient.connect(b.ws_url, bob.access_token)
    try:
        saved = await alice_on_a.start_run("remember the vault code is 1234")
        await alice_on_a.events_until_terminal(saved["run_id"])
        asked = await alice_on_b.start_run("what are my notes?")
        answer = (await alice_on_b.events_until_terminal(asked["run_id"]))[-1]
        asked_by_bob = await bob_on_b.start_run("what are my notes?")
        bobs = (await bob_on_b.events_until_terminal(asked_by_bob["run_id"]))[-1]
    finally:
        for client in (alice_on_a, alice_on_b, bob_on_b):
            await client.close()
    assert "the vault code is 1234" in answer["data"]["text"]
    assert bobs["data"]["text"] == "You have no notes yet."


async def test_redis_going_away_and_coming_back_during_runs_loses_nothing(
    netra_cluster: Cluster, private_redis: RestartableRedis, event_validator: EventValidator
) -> None:
    a, b = netra_cluster(2, settings={"NETRA_REDIS_URL": private_redis.url})
    user = await register_user(a.base_url)
    runner = await WsClient.connect(b.ws_url, user.access_token)
    watcher = await WsClient.connect(a.ws_url, user.access_token)
    try:
        first = await runner.start_run("wait 2 seconds please")
        await runner.recv_type("tool_executing")
        await watcher.send({"type": "subscribe", "thread_id": first["thread_id"], "after_seq": 0})
        await watcher.recv_type("subscribed")

        private_redis.stop()  # mid-run: B keeps writing, A's follower polls the log
        during = await watcher.events_until_terminal(first["run_id"])
        async with httpx.AsyncClient(base_url=a.base_url) as http:
            ready = await http.get("/ready")
            login = await http.post(
                "/api/auth/login", json={"email": user.email, "password": user.password}
            )
        private_redis.start()

        second = await runner.start_run("What is 6 * 7?", thread_id=first["thread_id"])
        after = await watcher.events_until_terminal(second["run_id"], timeout=LEASE_TTL * 5)
        await runner.events_until_terminal(second["run_id"])
    finally:
        await runner.close()
        await watcher.close()

    assert during[-1]["type"] == "agent_completed"
    assert ready.status_code == 200  # degraded, not down
    assert ready.json()["components"]["events"]["status"] == "degraded"
    assert login.status_code == 200  # throttles count in memory meanwhile
    assert after[-1]["type"] == "agent_completed"
    seen = watcher.events()
    assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))
    event_validator.assert_valid(seen)
    async with httpx.AsyncClient(base_url=a.base_url) as http:
        stored = await http.get(f"/api/threads/{first['thread_id']}/events", headers=user.headers)
    event_validator.assert_same_history(seen, stored.json())
