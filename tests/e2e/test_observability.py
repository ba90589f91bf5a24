"""Metrics, JSON logs and traces of a real `netra serve`, read as an operator would."""

from __future__ import annotations

import json
import secrets
from collections import Counter
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from netra.testing.fake_openai import RECORDED_ANSWER, RECORDED_TOOL_CALL, FakeOpenAI, Stream
from netra.testing.fixtures import TestUser, register_user
from netra.testing.otlp import OtlpReceiver, ReceivedSpan
from netra.testing.ws import EventValidator, WsClient

CALCULATION = "What is 12 * (3 + 4)?"
METRICS_TOKEN = "metrics-" + secrets.token_urlsafe(24)
API_KEY = "sk-e2e-0123456789abcdefMUSTNOTLEAK"
SECRET_KEY = "e2e-secret-" + secrets.token_urlsafe(40)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(base_url: str, token: str | None = METRICS_TOKEN) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def stored_events(base_url: str, user: TestUser, thread_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.get(f"/api/threads/{thread_id}/events", headers=user.headers)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


async def test_metrics_need_the_token_when_one_is_set(netra_server_factory) -> None:
    server = netra_server_factory(settings={"NETRA_METRICS_TOKEN": METRICS_TOKEN})
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        anonymous = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert "netra_events_written_total" in right.text
    assert METRICS_TOKEN not in server.log()


async def test_metrics_move_by_exactly_what_the_runs_did(netra_server_factory) -> None:
    server = netra_server_factory(
        settings={
            "NETRA_METRICS_TOKEN": METRICS_TOKEN,
            "NETRA_RUN_TIMEOUT": "6",
            "NETRA_REGISTRATIONS_PER_HOUR": "2",
            "NETRA_MAX_BODY_BYTES": "1024",
        }
    )
    user = await register_user(server.base_url)
    start = await scrape(server.base_url)
    client = await WsClient.connect(server.ws_url, user.access_token)
    try:
        # Two calculator runs: completed, each one model call for the tool and one to answer.
        threads, usage = [], Counter[str]()
        for _ in range(2):
            accepted = await client.start_run(CALCULATION)
            events = await client.events_until_terminal(accepted["run_id"])
            assert events[-1]["type"] == "agent_completed"
            usage.update(events[-1]["data"]["usage"])
            threads.append(accepted["thread_id"])
        open_now = await scrape(server.base_url)
        written = [e for t in threads for e in await stored_events(server.base_url, user, t)]
        first = await scrape(server.base_url)

        # A tool error (the run still completes), a cancelled run, a timed-out run.
        refused = await client.start_run("wait 500 seconds")
        refused_events = await client.events_until_terminal(refused["run_id"])
        cancelled = await client.start_run("wait for 60 seconds")
        await client.recv_type("tool_executing")
        await client.send({"type": "cancel", "run_id": cancelled["run_id"]})
        cancelled_events = await client.events_until_terminal(cancelled["run_id"])
        timed_out = await client.start_run("wait for 60 seconds")
        timed_out_events = await client.events_until_terminal(timed_out["run_id"])
    finally:
        await client.close()
    # Refusals: a third sign-up from this address (limit 2), and a body over 1024 bytes.
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        await register_user(server.base_url)
        third = await http.post(
            "/api/auth/register", json={"email": "x@example.com", "password": "p" * 12}
        )
        too_big = await http.post("/api/auth/login", content=b"{" + b" " * 2000 + b"}")
    end = await scrape(server.base_url)

    assert value(open_now, "netra_open_connections", transport="ws") == 1
    # Phase one: two completed runs, each with one calculator call.
    assert moved(start, first, "netra_runs_started_total", agent="assistant") == 2
    assert (
        moved(start, first, "netra_runs_ended_total", agent="assistant", outcome="completed") == 2
    )
    assert (
        moved(
            start,
            first,
            "netra_tool_calls_total",
            agent="assistant",
            tool="calculator",
            outcome="ok",
        )
        == 2
    )
    assert moved(start, first, "netra_events_written_total") == len(written)
    # Every batch (one thread here) had a listener, this WebSocket: one lag observation each.
    assert moved(start, first, "netra_fanout_lag_seconds_count", path="local") == moved(
        start, first, "netra_event_batch_size_count"
    )
    assert moved(start, first, "netra_event_batch_size_sum") == len(written)
    assert moved(start, first, "netra_event_write_seconds_count") == moved(
        start, first, "netra_event_batch_size_count"
    )
    assert (
        moved(start, first, "netra_model_request_seconds_count", agent="assistant", outcome="ok")
        == 4
    )
    assert (
        moved(start, first, "netra_model_tokens_total", agent="assistant", direction="in")
        == usage["prompt_tokens"]
    )
    assert (
        moved(start, first, "netra_model_tokens_total", agent="assistant", direction="out")
        == usage["completion_tokens"]
    )
    completed = {"agent": "assistant", "outcome": "completed"}
    assert moved(start, first, "netra_run_duration_seconds_count", **completed) == 2
    assert moved(start, first, "netra_run_first_event_seconds_count", agent="assistant") == 2

    # Phase two: outcomes and tool outcomes as the events tell them.
    assert refused_events[-1]["type"] == "agent_completed"
    assert "error" in next(e for e in refused_events if e["type"] == "tool_completed")["data"]
    assert cancelled_events[-1]["type"] == "agent_cancelled"
    assert timed_out_events[-1]["type"] == "agent_error"
    assert timed_out_events[-1]["data"]["code"] == "timeout"
    assert moved(first, end, "netra_runs_started_total", agent="assistant") == 3
    for outcome, count in {"completed": 1, "cancelled": 1, "failed": 1}.items():
        assert (
            moved(first, end, "netra_runs_ended_total", agent="assistant", outcome=outcome) == count
        )
    timer = {"agent": "assistant", "tool": "timer"}
    assert moved(first, end, "netra_tool_calls_total", **timer, outcome="error") == 1
    assert moved(first, end, "netra_tool_calls_total", **timer, outcome="cancelled") == 2
    assert moved(first, end, "netra_tool_calls_total", **timer, outcome="ok") == 0
    phase_two = [
        e
        for run in (refused, cancelled, timed_out)
        for e in await stored_events(server.base_url, user, run["thread_id"])
    ]
    assert moved(first, end, "netra_events_written_total") == len(phase_two)

    assert third.status_code == 429
    assert too_big.status_code == 413
    assert moved(start, end, "netra_throttled_total", reason="too_many_registrations") == 1
    assert moved(start, end, "netra_refused_total", reason="payload_too_large") == 1
    assert value(end, "netra_component_status", component="database", status="ok") == 1
    # Each of the five runs left one analytics record, written or still buffered.
    records = value(end, "netra_analytics_records_written_total") + value(
        end, "netra_analytics_records_pending"
    )
    assert records - value(start, "netra_analytics_records_written_total") == 5
    assert value(end, "netra_analytics_records_dropped_total") == 0
    assert value(end, "netra_component_status", component="database", status="error") == 0
    # Labels never carry ids.
    labels = {v for (_, pairs) in end for _, v in pairs}
    assert not {user.id, *threads, cancelled["run_id"]} & labels


async def test_redis_fanout_lag_is_measured_on_the_instance_that_delivers(
    netra_cluster,
) -> None:
    writer, reader = netra_cluster(2, settings={"NETRA_METRICS_TOKEN": METRICS_TOKEN})
    user = await register_user(writer.base_url)
    async with httpx.AsyncClient(base_url=writer.base_url, timeout=30) as http:
        thread = (await http.post("/api/threads", json={}, headers=user.headers)).json()
    follower = await WsClient.connect(reader.ws_url, user.access_token)
    starter = await WsClient.connect(writer.ws_url, user.access_token)
    try:
        await follower.send({"type": "subscribe", "thread_id": thread["id"], "after_seq": 0})
        await follower.recv_type("subscribed")
        before = await scrape(reader.base_url)
        accepted = await starter.start_run(CALCULATION, thread_id=thread["id"])
        await starter.events_until_terminal(accepted["run_id"])
        heard = await follower.events_until_terminal(accepted["run_id"])
        after = await scrape(reader.base_url)
    finally:
        await starter.close()
        await follower.close()
    assert heard[-1]["type"] == "agent_completed"
    # The run executed on the writer: the reader wrote nothing, and heard it over Redis.
    assert moved(before, after, "netra_runs_started_total", agent="assistant") == 0
    assert moved(before, after, "netra_events_written_total") == 0
    assert moved(before, after, "netra_fanout_lag_seconds_count", path="local") == 0
    assert 1 <= moved(before, after, "netra_fanout_lag_seconds_count", path="redis") <= len(heard)


def parse_log_lines(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "the server logged nothing"
    entries = []
    for line in lines:
        entry = json.loads(line)  # every line is one JSON object
        assert isinstance(entry, dict), line
        assert {"time", "level", "logger", "message"} <= entry.keys(), line
        entries.append(entry)
    return entries


async def test_json_logs_of_a_run_carry_its_ids_and_no_secret(netra_server_factory) -> None:
    async with FakeOpenAI() as fake:
        fake.enqueue(Stream(RECORDED_TOOL_CALL), Stream(RECORDED_ANSWER))
        server = netra_server_factory(
            settings={
                "NETRA_LOG_FORMAT": "json",
                "NETRA_LOG_LEVEL": "debug",
                "NETRA_MODEL_PROVIDER": "openai",
                "NETRA_MODEL_BASE_URL": fake.base_url,
                "NETRA_MODEL_NAME": "gpt-4o-mini",
                "NETRA_MODEL_API_KEY": API_KEY,
                "NETRA_SECRET_KEY": SECRET_KEY,
                "NETRA_METRICS_TOKEN": METRICS_TOKEN,
            }
        )
        user = await register_user(server.base_url)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            echoed = await http.get(
                "/api/me", headers={**user.headers, "X-Request-ID": "req-e2e-1"}
            )
            invented = await http.get("/health", headers={"X-Request-ID": "no spaces allowed"})
        client = await WsClient.connect(server.ws_url, user.access_token)
        try:
            accepted = await client.start_run(CALCULATION)
            events = await client.events_until_terminal(accepted["run_id"])
        finally:
            await client.close()
    server.stop()  # every line is flushed

    assert events[-1]["type"] == "agent_completed"
    assert echoed.headers["x-request-id"] == "req-e2e-1"
    assert invented.headers["x-request-id"] not in ("", "no spaces allowed")
    entries = parse_log_lines(server.log())
    run_lines = [e for e in entries if e.get("run_id") == accepted["run_id"]]
    assert run_lines, "nothing was logged while the run executed"
    for entry in run_lines:
        assert entry["thread_id"] == accepted["thread_id"]
        assert entry["user_id"] == user.id
        assert entry["request_id"]  # the WebSocket frame that started it
    # The model requests were made (and logged, at debug) from the run's task.
    assert any("chat/completions" in e["message"] for e in run_lines)
    request_lines = [e for e in entries if e.get("request_id") == "req-e2e-1"]
    assert request_lines, "nothing was logged for the request with X-Request-ID"
    assert all(e.get("user_id") == user.id for e in request_lines if "/api/me" in e["message"])
    text = server.log()
    for secret in (API_KEY, SECRET_KEY, METRICS_TOKEN):
        assert secret not in text


def _one(spans: list[ReceivedSpan], name: str, **attributes: Any) -> ReceivedSpan:
    found = [
        s
        for s in spans
        if s.name == name and all(s.attributes.get(k) == v for k, v in attributes.items())
    ]
    assert len(found) == 1, (name, attributes, [s.name for s in spans])
    return found[0]


async def test_a_run_is_traced_as_run_then_model_and_tool_calls(netra_server_factory) -> None:
    with OtlpReceiver() as receiver:
        server = netra_server_factory(settings={"NETRA_OTEL_ENDPOINT": receiver.endpoint})
        user = await register_user(server.base_url)
        client = await WsClient.connect(server.ws_url, user.access_token)
        try:
            accepted = await client.start_run(CALCULATION)
            events = await client.events_until_terminal(accepted["run_id"])
        finally:
            await client.close()
        run_id = accepted["run_id"]

        def complete(spans: list[ReceivedSpan]) -> bool:
            names = Counter(s.name for s in spans if s.name != "run")
            has_run = any(s.attributes.get("netra.run_id") == run_id for s in spans)
            return has_run and names["model call"] >= 2 and names["tool call"] >= 1

        spans = receiver.wait_for(complete)
    EventValidator().assert_valid(events, require_critical=True)
    run = _one(spans, "run", **{"netra.run_id": run_id})
    assert run.attributes["netra.agent"] == "assistant"
    assert run.attributes["netra.outcome"] == "completed"
    assert run.attributes["netra.thread_id"] == accepted["thread_id"]
    assert run.resource["service.name"] == "netra"
    models = [s for s in spans if s.name == "model call" and s.parent_span_id == run.span_id]
    assert sorted(s.attributes["netra.step"] for s in models) == [0, 1]
    tool = _one(spans, "tool call")
    assert tool.parent_span_id == run.span_id
    assert tool.attributes == {"netra.tool": "calculator", "netra.outcome": "ok"}
    assert {s.trace_id for s in [run, tool, *models]} == {run.trace_id}
    # The run's parent is the WebSocket message that asked for it.
    message = next(s for s in spans if s.span_id == run.parent_span_id)
    assert message.name == "WebSocket message"
    assert message.attributes["netra.frame"] == "user_message"
    # HTTP requests are spans of their own, named after the route.
    register = _one(spans, "POST /api/auth/register")
    assert register.attributes["http.response.status_code"] == 201
    assert register.parent_span_id == ""


async def test_an_ag_ui_stream_is_counted_and_its_run_traced_under_the_request(
    netra_server_factory,
) -> None:
    with OtlpReceiver() as receiver:
        server = netra_server_factory(settings={"NETRA_OTEL_ENDPOINT": receiver.endpoint})
        user = await register_user(server.base_url)
        body = {
            "threadId": "agui-thread-1",
            "runId": "agui-run-1",
            "messages": [{"id": "m1", "role": "user", "content": "wait for 2 seconds"}],
        }
        async with (
            httpx.AsyncClient(base_url=server.base_url, timeout=30) as http,
            http.stream("POST", "/api/agui", json=body, headers=user.headers) as response,
        ):
            assert response.status_code == 200
            chunks = response.aiter_text()
            first = await anext(chunks)
            during = await scrape(server.base_url, token=None)
            rest = "".join([chunk async for chunk in chunks])
        after = await scrape(server.base_url, token=None)

        def traced(spans: list[ReceivedSpan]) -> bool:
            return any(s.name == "run" for s in spans) and any(
                s.name == "POST /api/agui" for s in spans
            )

        spans = receiver.wait_for(traced)
    assert "RUN_STARTED" in first
    assert "RUN_FINISHED" in first + rest
    assert value(during, "netra_open_connections", transport="agui") == 1
    assert value(after, "netra_open_connections", transport="agui") == 0
    request = _one(spans, "POST /api/agui")
    run = _one(spans, "run")
    assert run.parent_span_id == request.span_id
    assert run.trace_id == request.trace_id
    assert _one(spans, "tool call").attributes["netra.tool"] == "timer"
