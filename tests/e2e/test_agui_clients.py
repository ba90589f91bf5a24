"""POST /api/agui driven by real AG-UI clients, the way front ends drive it.

Two clients, in node (tests/e2e/agui_node, installed by `.ci/run` with `npm ci`):
the official `@ag-ui/client` 1.x, and the copy that `@copilotkit/runtime` 1.75
bundles (0.0.59, which sends no `protocolVersion`), loaded from the runtime's
own node_modules and holding an API token, as a runtime would. Each test runs
`drive.mjs` against a real `netra serve` whose model is the local
OpenAI-compatible endpoint, and checks every event with the `ag-ui-protocol`
Python models too. Then a few things only the server can show (history,
usage), over plain HTTP.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from ag_ui.core import Event, EventType, RunFinishedEvent
from pydantic import TypeAdapter

from netra.env import IsolatedEnvironment
from netra.testing import fixtures
from netra.testing.agui import assert_valid_run, run_agent
from netra.testing.fake_openai import Stream, chunk, text_stream, tool_call_stream
from netra.testing.fixtures import register_user
from netra.testing.server import ModelServer, serve_on_fake_model
from netra.testing.ws import EventValidator, WsClient

pytestmark = pytest.mark.asyncio(loop_scope="session")

NODE_PROJECT = Path(__file__).parent / "agui_node"
DRIVER = NODE_PROJECT / "drive.mjs"
CLIENTS = ["official", "copilotkit"]
#: Bounds on waiting, never asserted: a broken server fails the test instead of hanging it.
DRIVE_TIMEOUT = 60.0
EVENT_TIMEOUT = 10.0
_EVENT: TypeAdapter[Any] = TypeAdapter(Event)
PICK_COLOR = {
    "name": "pick_color",
    "description": "Ask the user to pick a colour in the page; returns the colour.",
    "parameters": {"type": "object", "properties": {"hint": {"type": "string"}}},
}


@pytest.fixture(scope="session")
def node(pytestconfig: pytest.Config, netra_process_env: IsolatedEnvironment) -> str:
    """node and the installed clients; skipped without them, a failure when real
    services are required (CI installs both)."""
    executable = shutil.which("node", path=netra_process_env.get("PATH"))
    runtime = NODE_PROJECT / "node_modules" / "@copilotkit" / "runtime" / "node_modules"
    reason = None
    if executable is None:
        reason = "no node on PATH: install Node.js to run the AG-UI client tests"
    elif not (runtime / "@ag-ui" / "client").is_dir():
        reason = f"the AG-UI clients are not installed: run `npm ci --prefix {NODE_PROJECT}`"
    if reason is not None:
        if pytestconfig.getoption("netra_real_services"):
            pytest.fail(reason)
        pytest.skip(reason)
    assert executable is not None
    return executable


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def model_server(
    pytestconfig: pytest.Config,
    netra_process_env: IsolatedEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ModelServer]:
    """`netra serve` (embedded default) whose model is a local fake a test can script."""
    if pytestconfig.getoption("netra_base_url"):
        pytest.skip("starts its own server process; not run against --netra-base-url")
    async with serve_on_fake_model(netra_process_env, tmp_path_factory.mktemp("agui")) as served:
        yield served


@pytest_asyncio.fixture(loop_scope="session")
async def user(model_server: ModelServer) -> fixtures.TestUser:
    return await register_user(model_server.server.base_url)


@dataclass
class Step:
    """One run as the node client saw it."""

    events: list[dict[str, Any]] = field(default_factory=list)
    done: dict[str, Any] = field(default_factory=dict)

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def first(self, type_: str) -> dict[str, Any]:
        return next(e for e in self.events if e["type"] == type_)

    def assert_valid(self) -> None:
        """No client error, and a valid AG-UI run by the Python protocol models too."""
        assert self.done["error"] is None, self.done["error"]
        assert_valid_run([_EVENT.validate_python(event) for event in self.events])


Line = dict[str, Any]


async def drive(
    node: str,
    client: str,
    server: ModelServer,
    user: fixtures.TestUser,
    thread_id: str,
    steps: list[dict[str, Any]],
    tmp_path: Path,
    on_line: Callable[[Line, asyncio.subprocess.Process], Awaitable[None]] | None = None,
) -> list[Step]:
    """Run `steps` with the node `client`; returns what it saw, step by step.

    The CopilotKit client authenticates as a CopilotKit runtime does, holding an API
    token; the official one with the user's access token, as a browser app does.
    """
    token = user.access_token
    if client == "copilotkit":
        async with httpx.AsyncClient(base_url=server.server.base_url) as http:
            made = await http.post(
                "/api/me/api-tokens", json={"name": "copilotkit runtime"}, headers=user.headers
            )
        assert made.status_code == 201, made.text
        token = made.json()["token"]
    scenario = tmp_path / f"scenario-{client}.json"
    scenario.write_text(
        json.dumps(
            {
                "url": f"{server.server.base_url}/api/agui",
                "token": token,
                "threadId": thread_id,
                "steps": steps,
            }
        )
    )
    process = await asyncio.create_subprocess_exec(
        node,
        str(DRIVER),
        client,
        str(scenario),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"SUPPRESS_TRANSFORMATION_WARNINGS": "1"},
    )
    assert process.stdout is not None
    assert process.stderr is not None
    results = [Step() for _ in steps]
    stderr = asyncio.ensure_future(process.stderr.read())
    try:
        async with asyncio.timeout(DRIVE_TIMEOUT):
            async for raw in process.stdout:
                line = json.loads(raw)
                step = results[line["step"]]
                if line.get("done"):
                    step.done = line
                else:
                    step.events.append(line["event"])
                if on_line is not None:
                    await on_line(line, process)
            code = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    errors = (await stderr).decode()
    assert code == 0, f"{client} client exited with {code}:\n{errors}"
    assert all(step.done for step in results), errors
    return results


async def go(process: asyncio.subprocess.Process) -> None:
    """Let the driver start its next `waitForGo` step."""
    assert process.stdin is not None
    process.stdin.write(b"go\n")
    await process.stdin.drain()


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_calculator_run_then_a_second_run_with_history_and_distinct_tool_call_ids(
    node: str, model_server: ModelServer, user: fixtures.TestUser, client: str, tmp_path: Path
) -> None:
    # The endpoint calls every tool `call_fake1`, run after run, as some servers do.
    model_server.fake.replies.clear()
    thread = f"calc-{client}"
    steps = [{"text": "What is 12 * (3 + 4)?"}, {"text": "And what is 2 + 3?"}]

    first, second = await drive(node, client, model_server, user, thread, steps, tmp_path)

    for step in (first, second):
        step.assert_valid()
        assert step.events[0]["threadId"] == thread
    assert "84" in first.events[-1]["result"]["text"]
    assert "5" in second.events[-1]["result"]["text"]
    # The second run's model request carried the first exchange: the thread's history.
    request = next(
        r for r in model_server.fake.requests if r["messages"][-1]["content"] == steps[1]["text"]
    )
    said = [m.get("content") for m in request["messages"]]
    assert steps[0]["text"] in said
    # Two tool calls on one thread: two ids, and the client kept them apart.
    ids = [step.first("TOOL_CALL_START")["toolCallId"] for step in (first, second)]
    assert len(set(ids)) == 2
    assert not any(i == "call_fake1" for i in ids)
    calls = [c for m in second.done["messages"] for c in m.get("toolCalls") or []]
    assert sorted(c["id"] for c in calls) == sorted(ids)
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [
        {"expression": "12 * (3 + 4)"},
        {"expression": "2 + 3"},
    ]
    # RUN_FINISHED names the message that holds the answer.
    answer_ids = [e["messageId"] for e in first.events if e["type"] == "TEXT_MESSAGE_START"]
    assert first.events[-1]["result"]["message_id"] == answer_ids[-1]


@pytest.mark.parametrize("client", CLIENTS)
async def test_abort_cancels_the_run_on_the_server_and_the_next_message_is_accepted(
    node: str, model_server: ModelServer, user: fixtures.TestUser, client: str, tmp_path: Path
) -> None:
    model_server.fake.replies.clear()
    model_server.fake.enqueue(tool_call_stream("timer", json.dumps({"seconds": 30})))
    thread = f"abort-{client}"
    ws = await WsClient.connect(model_server.server.ws_url, user.access_token)
    ended: list[Line] = []

    async def after_abort(line: Line, process: asyncio.subprocess.Process) -> None:
        if line.get("done") and line["step"] == 0:
            run_id = next(
                e["metadata"]["netra"]["run_id"]
                for e in results_so_far[0]
                if e["type"] == "RUN_STARTED"
            )
            thread_id = next(e["metadata"]["netra"]["thread_id"] for e in results_so_far[0])
            await ws.send({"type": "subscribe", "thread_id": thread_id, "after_seq": 0})
            ended.extend(await ws.events_until_terminal(run_id, timeout=EVENT_TIMEOUT))
            await go(process)
        elif not line.get("done"):
            results_so_far.setdefault(line["step"], []).append(line["event"])

    results_so_far: dict[int, list[Line]] = {}
    steps = [
        {"text": "Please wait for 30 seconds", "abortOn": "TOOL_CALL_START"},
        {"text": "What is 2 + 3?", "waitForGo": True},
    ]
    try:
        aborted, after = await drive(
            node, client, model_server, user, thread, steps, tmp_path, after_abort
        )
    finally:
        await ws.close()

    assert "TOOL_CALL_START" in aborted.types()
    assert "RUN_FINISHED" not in aborted.types()  # the client left before the end
    assert ended[-1]["type"] == "agent_cancelled"
    assert ended[-1]["data"]["reason"] == "cancelled_by_user"
    EventValidator().assert_valid(ended)
    after.assert_valid()
    assert "5" in after.events[-1]["result"]["text"]


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_run_cancelled_over_rest_finishes_in_the_shape_the_client_knows(
    node: str, model_server: ModelServer, user: fixtures.TestUser, client: str, tmp_path: Path
) -> None:
    model_server.fake.replies.clear()
    model_server.fake.enqueue(tool_call_stream("timer", json.dumps({"seconds": 30})))
    cancelled: list[int] = []

    async def cancel_when_the_tool_runs(line: Line, process: asyncio.subprocess.Process) -> None:
        event = line.get("event") or {}
        if event.get("type") == "TOOL_CALL_START":
            run_id = event["metadata"]["netra"]["run_id"]
            async with httpx.AsyncClient(base_url=model_server.server.base_url) as http:
                response = await http.post(f"/api/runs/{run_id}/cancel", headers=user.headers)
            cancelled.append(response.status_code)

    (step,) = await drive(
        node,
        client,
        model_server,
        user,
        f"rest-cancel-{client}",
        [{"text": "Please wait for 30 seconds"}],
        tmp_path,
        cancel_when_the_tool_runs,
    )

    assert cancelled == [202]
    step.assert_valid()  # no ZodError in the client bundled with CopilotKit
    finished = step.events[-1]
    assert finished["type"] == "RUN_FINISHED"
    sent = step.events[0]["input"]  # RUN_STARTED echoes what the client sent
    if client == "official":  # sends protocolVersion: AG-UI 1.0's cancelled outcome
        assert sent["protocolVersion"]
        assert finished["outcome"] == {"type": "cancelled"}
        assert finished["result"] == {"reason": "cancelled_by_user"}
    else:  # 0.0.59 sends no protocolVersion, and knows only success and interrupt
        assert "protocolVersion" not in sent
        assert "outcome" not in finished or finished["outcome"] is None
        assert finished["result"] == {"cancelled": True, "reason": "cancelled_by_user"}
    result = step.first("TOOL_CALL_RESULT")  # the timer, closed as the run ended
    assert "error" in json.loads(result["content"])


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_frontend_tool_round_trip_continues_the_conversation(
    node: str, model_server: ModelServer, user: fixtures.TestUser, client: str, tmp_path: Path
) -> None:
    fake = model_server.fake
    fake.replies.clear()
    fake.enqueue(
        Stream(
            chunk({"role": "assistant", "content": "Let me ask you. "})
            + tool_call_stream("pick_color", json.dumps({"hint": "sky"}), call_id="call_1").body
        ),
        text_stream("Blue ", "it is."),
    )
    before = len(fake.requests)
    thread = f"frontend-tool-{client}"
    steps = [
        {"text": "Pick a colour for the sky", "tools": [PICK_COLOR]},
        {"toolResult": json.dumps({"colour": "blue"}), "tools": [PICK_COLOR]},
    ]

    asked, answered = await drive(node, client, model_server, user, thread, steps, tmp_path)

    asked.assert_valid()
    answered.assert_valid()
    # The run ends the AG-UI way for a pending client tool: its call, then RUN_FINISHED.
    assert asked.types()[-4:] == [
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "RUN_FINISHED",
    ]
    start = asked.first("TOOL_CALL_START")
    assert start["toolCallName"] == "pick_color"
    assert start["parentMessageId"] == asked.first("TEXT_MESSAGE_START")["messageId"]
    assert "TOOL_CALL_RESULT" not in asked.types()
    assert answered.events[-1]["result"]["text"] == "Blue it is."
    # The model was offered the client's tool next to the agent's own...
    first, second = fake.requests[before:]
    offered = {t["function"]["name"] for t in first["tools"]}
    assert {"pick_color", "calculator"} <= offered
    # ...and the next run showed it the call and the client's result.
    call, result = second["messages"][-2:]
    assert call["role"] == "assistant"
    assert call["tool_calls"][0]["function"]["name"] == "pick_color"
    assert call["tool_calls"][0]["id"] == start["toolCallId"]
    assert result == {
        "role": "tool",
        "tool_call_id": start["toolCallId"],
        "content": json.dumps({"colour": "blue"}),
    }
    # Netra's own events: a completed run that waits for the client, then its follow-up.
    netra_thread = start["metadata"]["netra"]["thread_id"]
    async with httpx.AsyncClient(base_url=model_server.server.base_url) as http:
        stored = await http.get(f"/api/threads/{netra_thread}/events", headers=user.headers)
    events = stored.json()
    EventValidator().assert_valid(events)
    ends = [e for e in events if e["type"] == "agent_completed"]
    assert ends[0]["data"]["client_tool_calls"] == [
        {"tool_call_id": start["toolCallId"], "tool": "pick_color", "args": {"hint": "sky"}}
    ]
    assert ends[1]["data"]["text"] == "Blue it is."
    assert "tool_executing" not in {e["type"] for e in events}  # the agent ran no tool


async def test_a_new_thread_takes_the_clients_earlier_messages_as_its_history(
    model_server: ModelServer, user: fixtures.TestUser
) -> None:
    fake = model_server.fake
    fake.replies.clear()
    earlier = [
        {"id": "e1", "role": "user", "content": "My name is Ada."},
        {"id": "e2", "role": "assistant", "content": "Hello Ada."},
    ]
    body = {
        "threadId": "kept-elsewhere",
        "runId": "r1",
        "protocolVersion": "1.0.0",
        "messages": [*earlier, {"id": "e3", "role": "user", "content": "What is my name?"}],
    }
    async with httpx.AsyncClient(base_url=model_server.server.base_url, timeout=30) as http:
        before = len(fake.requests)
        events = await run_agent(http, body, user.headers)
        # For a thread Netra has, its own history wins over what the client sends.
        rewritten = [
            {"id": "x1", "role": "user", "content": "My name is Bob."},
            {"id": "x2", "role": "user", "content": "And now?"},
        ]
        again = await run_agent(http, {**body, "runId": "r2", "messages": rewritten}, user.headers)

    assert_valid_run(events)
    assert_valid_run(again)
    seen = [(m["role"], m["content"]) for m in fake.requests[before]["messages"][1:]]
    assert seen == [
        ("user", "My name is Ada."),
        ("assistant", "Hello Ada."),
        ("user", "What is my name?"),
    ]
    later = [m["content"] for m in fake.requests[before + 1]["messages"]]
    assert "My name is Ada." in later
    assert "My name is Bob." not in later
    assert later[-1] == "And now?"


async def test_usage_is_left_out_when_the_endpoint_reports_none(
    model_server: ModelServer, user: fixtures.TestUser
) -> None:
    fake = model_server.fake
    fake.replies.clear()
    no_usage = (
        chunk({"role": "assistant", "content": "Hi"}) + chunk({}, "stop") + "data: [DONE]\n\n"
    )
    fake.enqueue(Stream(no_usage), text_stream("Hi again"))
    body = {
        "threadId": "usage",
        "runId": "r1",
        "messages": [{"id": "m1", "role": "user", "content": "Say hi"}],
    }
    async with httpx.AsyncClient(base_url=model_server.server.base_url, timeout=30) as http:
        silent = await run_agent(http, body, user.headers)
        counted = await run_agent(http, {**body, "runId": "r2"}, user.headers)

    for events in (silent, counted):
        assert_valid_run(events)
        assert isinstance(events[-1], RunFinishedEvent)
    assert silent[-1].usage is None
    assert counted[-1].usage is not None
    assert counted[-1].usage[0].total_tokens == 15
    # Nor is Netra's placeholder thinking sent as reasoning.
    assert EventType.REASONING_START not in {e.type for e in silent}


async def test_results_of_many_client_tool_calls_of_one_turn_all_continue_the_run(
    model_server: ModelServer, user: fixtures.TestUser
) -> None:
    # The follow-up run's input previews each result (up to 500 characters): for this
    # many calls the previews together are longer than a message may be, which must not
    # refuse the client's results.
    calls = 40
    fake = model_server.fake
    fake.replies.clear()
    many = chunk(
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "index": i,
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": "pick_color", "arguments": "{}"},
                }
                for i in range(calls)
            ],
        }
    )
    fake.enqueue(
        Stream(many + chunk({}, "tool_calls") + "data: [DONE]\n\n"), text_stream("All picked.")
    )
    asked_for = {
        "threadId": "many-client-calls",
        "runId": "r1",
        "protocolVersion": "1.0.0",
        "tools": [PICK_COLOR],
        "messages": [{"id": "m1", "role": "user", "content": "Pick many colours"}],
    }
    async with httpx.AsyncClient(base_url=model_server.server.base_url, timeout=30) as http:
        asked = await run_agent(http, asked_for, user.headers)
        ids = [e.tool_call_id for e in asked if e.type == EventType.TOOL_CALL_START]
        results = [
            {"id": f"t{n}", "role": "tool", "toolCallId": call_id, "content": "blue " * 120}
            for n, call_id in enumerate(ids)
        ]
        answered = await run_agent(
            http,
            {**asked_for, "runId": "r2", "messages": [*asked_for["messages"], *results]},
            user.headers,
        )

    assert len(ids) == calls
    assert_valid_run(answered)
    assert isinstance(answered[-1], RunFinishedEvent)
    assert answered[-1].result["text"] == "All picked."
    tool_messages = [m for m in fake.requests[-1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ids
