"""The agent loop end to end in one process: RunService -> RunSupervisor -> AgentEngine.

Wired as netra/lifecycle.py wires it (SQLite file database, in-memory bus and state),
with scripted models and hand-written tools. Every recorded stream is checked with
EventValidator, and what a subscriber saw live is compared with the persisted history.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from netra.agents.context import ExecutionContextFactory, UserExecutionContext
from netra.agents.engine import PLACEHOLDER_THOUGHT, AgentEngine, ClientTurn
from netra.agents.models.base import (
    ChatMessage,
    ModelError,
    ModelTurn,
    ToolCall,
    ToolSpec,
    TurnStream,
    Usage,
)
from netra.agents.registry import AgentRegistry, AgentSpec, default_registry
from netra.agents.tools import Tool, ToolError
from netra.analytics.records import RunRecord
from netra.db.engine import Database, EncodedJSON
from netra.db.repositories import (
    NewEvent,
    RunEnd,
    RunEvents,
    RunRepository,
    ThreadRepository,
    UserRepository,
    append_events,
    store_run,
)
from netra.errors import AppError
from netra.ids import new_id
from netra.observability import Metrics, Observability
from netra.observability.traces import Tracing
from netra.realtime.bus import InMemoryEventBus
from netra.realtime.events import AgentEvent, EventType
from netra.realtime.log import EventLogWriter
from netra.runs import RunLeases, RunService, RunSupervisor, RunTicket
from netra.state.store import MemoryStateStore
from netra.testing.bus import live_events
from netra.testing.fixtures import TEST_INSTANCE, standing_lease
from netra.testing.otlp import OtlpReceiver
from netra.testing.ws import EventValidator, Frame

HANG_GUARD = 15.0  # seconds; only ever reached when a run hangs, which is itself the failure
AGENT = "scripted"


# -- scripted model and tools ---------------------------------------------------
Step = ModelTurn | BaseException | Callable[[], ModelTurn]


class ScriptedModel:
    """Plays back `steps` one per call (the last one repeats) and records what it was sent."""

    name = "scripted"

    def __init__(self, *steps: Step, stream_text: bool = False) -> None:
        self._steps = steps
        self._stream_text = stream_text
        self.seen: list[list[ChatMessage]] = []
        self.tools_offered: list[str] = []

    async def complete(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], stream: TurnStream
    ) -> ModelTurn:
        self.seen.append(list(messages))
        self.tools_offered = [tool.name for tool in tools]
        step = self._steps[min(len(self.seen), len(self._steps)) - 1]
        if isinstance(step, BaseException):
            raise step
        turn = step() if callable(step) else step
        if self._stream_text and not turn.tool_calls:
            for word in turn.text.split(" "):
                await stream.text_delta(word + " ")
        return turn


def call(tool: str, **arguments: Any) -> ModelTurn:
    return ModelTurn(
        thinking=f"calling {tool}", tool_calls=(ToolCall(new_id("tc"), tool, arguments),)
    )


def answer(text: str, usage: Usage | None = None) -> ModelTurn:
    return ModelTurn(thinking="answering", text=text, usage=usage or Usage())


def make_tool(
    name: str, run: Callable[[UserExecutionContext, dict[str, Any]], Awaitable[Any]]
) -> Tool:
    return Tool(ToolSpec(name, f"test tool {name}", {"type": "object", "properties": {}}), run)


async def _echo(ctx: UserExecutionContext, args: dict[str, Any]) -> Any:
    return {"echo": args}


async def _explode(ctx: UserExecutionContext, args: dict[str, Any]) -> Any:
    raise RuntimeError("boom")


async def _refuse(ctx: UserExecutionContext, args: dict[str, Any]) -> Any:
    raise ToolError("not today")


ECHO = make_tool("echo", _echo)
EXPLODE = make_tool("explode", _explode)
REFUSE = make_tool("refuse", _refuse)


@dataclass
class BlockingTool:
    """A tool that never returns: it waits on an event nobody sets."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    never: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, ctx: UserExecutionContext, args: dict[str, Any]) -> Any:
        self.started.set()
        await self.never.wait()
        return {"unreachable": True}

    @property
    def tool(self) -> Tool:
        return make_tool("block", self.run)


# -- the world: services wired like lifecycle.start() ----------------------------
@dataclass
class World:
    db: Database
    bus: InMemoryEventBus
    events: EventLogWriter
    supervisor: RunSupervisor
    runs: RunService
    user_id: str
    obs: Observability
    records: list[RunRecord]  # the analytics record of each run ended

    def metric(self, name: str, **labels: str) -> float:
        """A sample of the engine's metrics (0 when it was never set)."""
        value = self.obs.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    async def start(self, text: str, agent: str = AGENT, thread_id: str | None = None) -> RunTicket:
        """Store and launch a run (its first events may be gone before anyone subscribes)."""
        return await self.runs.start(self.user_id, text, thread_id=thread_id, agent=agent)

    async def new_thread(self, title: str = "test thread") -> str:
        async with self.db.session() as session:
            thread = await ThreadRepository(session, self.user_id).add(title)
            return thread.id

    @asynccontextmanager
    async def live(
        self, text: str, agent: str = AGENT, thread_id: str | None = None
    ) -> AsyncIterator[tuple[RunTicket, asyncio.Queue[AgentEvent]]]:
        """Start a run while already subscribed to its thread, so no live event is missed."""
        thread_id = thread_id or await self.new_thread()
        async with live_events(self.bus, thread_id) as queue:
            yield await self.start(text, agent, thread_id), queue

    async def run(
        self, text: str, agent: str = AGENT, thread_id: str | None = None
    ) -> tuple[RunTicket, list[Frame]]:
        """Start a run and collect its live events up to the terminal one."""
        async with self.live(text, agent, thread_id) as (ticket, queue):
            events = await until_terminal(queue)
        return ticket, events

    async def persisted(self, thread_id: str) -> list[Frame]:
        async with self.db.session() as session:
            rows = await ThreadRepository(session, self.user_id).events(thread_id)
            return [AgentEvent.from_record(row).to_frame() for row in rows]

    async def run_row(self, run_id: str) -> Any:
        async with self.db.session() as session:
            return await RunRepository(session, self.user_id).get(run_id)

    async def messages(self, thread_id: str) -> list[tuple[str, str]]:
        async with self.db.session() as session:
            rows = await ThreadRepository(session, self.user_id).messages(thread_id)
            return [(m.role, m.text) for m in rows]


async def next_event(queue: asyncio.Queue[AgentEvent]) -> Frame:
    event = await asyncio.wait_for(queue.get(), HANG_GUARD)
    return event.to_frame()


async def until_terminal(
    queue: asyncio.Queue[AgentEvent], seen: list[Frame] | None = None
) -> list[Frame]:
    events = list(seen or [])
    while not events or events[-1]["type"] not in {
        "agent_completed",
        "agent_error",
        "agent_cancelled",
    }:
        events.append(await next_event(queue))
    return events


MakeWorld = Callable[..., Awaitable[World]]


@pytest.fixture
async def make_world(sqlite_url: str) -> AsyncIterator[MakeWorld]:
    worlds: list[World] = []

    async def make(
        model: Any = None,
        tools: Sequence[Tool] = (ECHO, EXPLODE, REFUSE),
        *,
        registry: AgentRegistry | None = None,
        max_steps: int = 8,
        run_timeout: float = 60.0,
        obs: Observability | None = None,
    ) -> World:
        db = Database(sqlite_url)
        bus = InMemoryEventBus()
        state = MemoryStateStore()
        obs = obs or Observability()
        records: list[RunRecord] = []
        if registry is None:
            spec = AgentSpec(
                AGENT, "test agent", model="scripted", tools=tuple(t.name for t in tools)
            )
            registry = AgentRegistry([spec], tools, {"scripted": lambda: model})
        events = EventLogWriter(db, bus, TEST_INSTANCE)
        contexts = ExecutionContextFactory(events, state)
        supervisor = RunSupervisor(
            db,
            registry,
            contexts,
            AgentEngine(max_steps, obs),
            run_timeout,
            leases=RunLeases(db, TEST_INSTANCE, ttl=15, single_instance=True),
            bus=bus,
            max_runs_per_user=100,
            record_run=records.append,
        )
        runs = RunService(db, registry, supervisor, AGENT)
        async with db.session() as session:
            user = await UserRepository(session).add(
                f"{new_id('usr').lower()}@example.com", "Tester", "unused-password-hash"
            )
        world = World(db, bus, events, supervisor, runs, user.id, obs, records)
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        await world.supervisor.shutdown(grace=0)
        await world.events.close()
        await world.bus.close()
        await world.db.dispose()


def types(events: list[Frame]) -> list[str]:
    return [e["type"] for e in events]


async def check_stream(
    world: World, ticket: RunTicket, events: list[Frame], validator: EventValidator, **options: Any
) -> None:
    """The invariants of DESIGN section 4, live and persisted."""
    validator.assert_valid(events, allowed_threads=[ticket.thread_id], **options)
    assert all(e["run_id"] == ticket.run_id for e in events)
    validator.assert_same_history(events, await world.persisted(ticket.thread_id))


# -- happy path -------------------------------------------------------------------
async def test_builtin_agent_answers_arithmetic_with_all_critical_events(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    world = await make_world(registry=default_registry())
    ticket, events = await world.run("What is 12 * (3 + 4)?", agent="assistant")
    await check_stream(world, ticket, events, event_validator, require_critical=True)
    executing = next(e for e in events if e["type"] == "tool_executing")
    assert executing["data"]["tool"] == "calculator"
    assert executing["data"]["args"] == {"expression": "12 * (3 + 4)"}
    completed = next(e for e in events if e["type"] == "tool_completed")
    assert completed["data"]["result"] == {"expression": "12 * (3 + 4)", "value": 84}
    final = events[-1]
    assert final["type"] == "agent_completed"
    assert "84" in final["data"]["text"]
    deltas = [e["data"] for e in events if e["type"] == "agent_message_delta"]
    assert "".join(d["delta"] for d in deltas) == final["data"]["text"]
    assert {d["message_id"] for d in deltas} == {final["data"]["message_id"]}
    assert (await world.run_row(ticket.run_id)).status == "completed"
    assert await world.messages(ticket.thread_id) == [
        ("user", "What is 12 * (3 + 4)?"),
        ("assistant", final["data"]["text"]),
    ]


async def test_model_sees_system_prompt_and_user_message_and_only_its_tools(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    model = ScriptedModel(answer("hi"))
    world = await make_world(model, tools=(ECHO,))
    ticket, events = await world.run("  hello  ")
    await check_stream(world, ticket, events, event_validator)
    first = model.seen[0]
    assert [m.role for m in first] == ["system", "user"]
    assert first[1].content == "hello"
    assert model.tools_offered == ["echo"]
    assert events[0]["data"] == {"agent": AGENT, "input": "hello"}


async def test_usage_is_summed_over_steps(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    first = ModelTurn(tool_calls=(ToolCall(new_id("tc"), "echo", {}),), usage=Usage(1, 2))
    model = ScriptedModel(first, answer("done", Usage(3, 4)))
    world = await make_world(model)
    ticket, events = await world.run("go")
    await check_stream(world, ticket, events, event_validator)
    usage = {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}
    assert events[-1]["data"]["usage"] == usage
    assert (await world.run_row(ticket.run_id)).usage == usage


async def test_placeholder_thinking_when_the_model_gives_none(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    world = await make_world(ScriptedModel(ModelTurn(text="plain")))
    ticket, events = await world.run("go")
    await check_stream(world, ticket, events, event_validator)
    assert types(events) == ["agent_started", "agent_thinking", "agent_completed"]
    # Marked, so that a transport with no use for it (AG-UI) can leave it out.
    assert events[1]["data"] == {"text": PLACEHOLDER_THOUGHT, "placeholder": True}


async def test_placeholder_thinking_comes_before_a_streamed_answer(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    world = await make_world(ScriptedModel(ModelTurn(text="straight to it"), stream_text=True))
    ticket, events = await world.run("go")
    await check_stream(world, ticket, events, event_validator)
    assert types(events) == [
        "agent_started",
        "agent_thinking",
        "agent_message_delta",
        "agent_message_delta",
        "agent_message_delta",
        "agent_completed",
    ]


async def test_streamed_thinking_is_not_emitted_twice(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    class ThinkingModel(ScriptedModel):
        async def complete(
            self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], stream: TurnStream
        ) -> ModelTurn:
            await stream.thinking("pondering")
            return ModelTurn(thinking="pondering", text="the answer is near")

    world = await make_world(ThinkingModel(), tools=())
    ticket, events = await world.run("go")
    await check_stream(world, ticket, events, event_validator)
    thinking = [e["data"]["text"] for e in events if e["type"] == "agent_thinking"]
    assert thinking == ["pondering"]


async def test_streamed_text_deltas_share_the_answer_message_id(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    model = ScriptedModel(call("echo"), answer("three little words"), stream_text=True)
    world = await make_world(model)
    ticket, events = await world.run("go")
    await check_stream(world, ticket, events, event_validator, require_critical=True)
    deltas = [e for e in events if e["type"] == "agent_message_delta"]
    assert "".join(e["data"]["delta"] for e in deltas).strip() == "three little words"
    assert {e["data"]["message_id"] for e in deltas} == {events[-1]["data"]["message_id"]}
    assert types(events).index("tool_completed") < types(events).index("agent_message_delta")


# -- failing tools ---------------------------------------------------------------
async def test_tool_that_raises_is_reported_and_the_run_still_completes(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    model = ScriptedModel(call("explode", x=1), answer("recovered"))
    world = await make_world(model)
    ticket, events = await world.run("break something")
    await check_stream(world, ticket, events, event_validator, require_critical=True)
    assert types(events) == [
        "agent_started",
        "agent_thinking",
        "tool_executing",
        "tool_completed",
        "agent_thinking",
        "agent_completed",
    ]
    executing, completed = events[2]["data"], events[3]["data"]
    assert events[1]["data"] == {"text": "calling explode"}  # the model's own thinking
    assert completed["tool_call_id"] == executing["tool_call_id"]
    assert completed["tool"] == "explode"
    assert completed["error"] == "RuntimeError: boom"
    assert "result" not in completed
    assert "duration_ms" in completed
    assert events[-1]["data"]["text"] == "recovered"
    # The model is told about the failure and can answer around it.
    tool_message = model.seen[1][-1]
    assert (tool_message.role, tool_message.is_error) == ("tool", True)
    assert tool_message.tool_call_id == executing["tool_call_id"]
    assert "boom" in tool_message.content
    assert (await world.run_row(ticket.run_id)).status == "completed"


async def test_tool_error_message_reaches_the_client_verbatim(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    world = await make_world(ScriptedModel(call("refuse"), answer("ok")))
    ticket, events = await world.run("go")
    await check_stream(world, ticket, events, event_validator, require_critical=True)
    completed = next(e["data"] for e in events if e["type"] == "tool_completed")
    assert completed["error"] == "not today"


async def test_unknown_tool_is_a_tool_error_not_a_crash(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    world = await make_world(ScriptedModel(call("rm_rf"), answer("sorry")))
    ticket, events = await world.run("go")
    await check_stream(world, ticket, events, event_validator)
    completed = next(e["data"] for e in events if e["type"] == "tool_completed")
    assert completed["error"] == "unknown tool 'rm_rf'"
    assert events[-1]["type"] == "agent_completed"
    # Counted under one label: names the model makes up would be unbounded.
    calls = "netra_tool_calls_total"
    assert world.metric(calls, agent=AGENT, tool="unknown", outcome="error") == 1
    assert world.metric(calls, agent=AGENT, tool="rm_rf", outcome="error") == 0


async def test_several_tool_calls_in_one_turn_each_complete(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    calls = tuple(ToolCall(new_id("tc"), name, {}) for name in ("echo", "explode", "echo"))
    world = await make_world(ScriptedModel(ModelTurn(tool_calls=calls), answer("all done")))
    ticket, events = await world.run("go")
    await check_stream(world, ticket, events, event_validator, require_critical=True)
    completed = [e["data"] for e in events if e["type"] == "tool_completed"]
    executing = [e["data"] for e in events if e["type"] == "tool_executing"]
    # Each call runs under a Netra id of its own; the model's id is kept beside it.
    assert [c["provider_call_id"] for c in executing] == [c.id for c in calls]
    assert [c["tool_call_id"] for c in completed] == [c["tool_call_id"] for c in executing]
    assert len({c["tool_call_id"] for c in executing}) == 3
    assert ["error" in c for c in completed] == [False, True, False]


async def test_a_provider_that_reuses_a_call_id_gets_distinct_netra_ids(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    reused = ModelTurn(tool_calls=(ToolCall("call_1", "echo", {}),))
    world = await make_world(ScriptedModel(reused, reused, answer("twice")))
    ticket, events = await world.run("go")
    await check_stream(world, ticket, events, event_validator, require_critical=True)
    executing = [e["data"] for e in events if e["type"] == "tool_executing"]
    assert [c["provider_call_id"] for c in executing] == ["call_1", "call_1"]
    assert len({c["tool_call_id"] for c in executing}) == 2
    assert all(c["tool_call_id"].startswith("tc_") for c in executing)


async def test_too_large_calculator_result_is_a_tool_error_not_a_failed_run(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    world = await make_world(registry=default_registry())
    question = "What is 9**1000 * 9**1000 * 9**1000 * 9**1000 * 9**1000?"
    ticket, events = await world.run(question, agent="assistant")
    await check_stream(world, ticket, events, event_validator)
    completed = next(e["data"] for e in events if e["type"] == "tool_completed")
    assert "too large" in completed.get("error", "")
    assert events[-1]["type"] == "agent_completed"


# -- failing runs ----------------------------------------------------------------
async def test_model_error_ends_the_run_with_its_code(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    world = await make_world(ScriptedModel(ModelError("rate_limited", "slow down")))
    ticket, events = await world.run("go")
    await check_stream(world, ticket, events, event_validator)
    assert types(events) == ["agent_started", "agent_error"]
    assert events[-1]["data"] == {"code": "rate_limited", "message": "slow down"}
    row = await world.run_row(ticket.run_id)
    assert (row.status, row.error_code) == ("failed", "rate_limited")
    assert row.finished_at is not None


async def test_model_error_after_a_tool_call_keeps_tool_calls_closed(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    world = await make_world(ScriptedModel(call("echo"), ModelError("provider_down", "503")))
    ticket, events = await world.run("go")
    await check_stream(world, ticket, events, event_validator)
    assert types(events)[-3:] == ["tool_executing", "tool_completed", "agent_error"]
    assert events[-1]["data"]["code"] == "provider_down"


async def test_unexpected_model_crash_is_an_internal_error_without_details(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    world = await make_world(ScriptedModel(RuntimeError("db password is hunter2")))
    ticket, events = await world.run("go")
    await check_stream(world, ticket, events, event_validator)
    assert events[-1]["type"] == "agent_error"
    assert events[-1]["data"]["code"] == "internal_error"
    assert "hunter2" not in events[-1]["data"]["message"]


async def test_model_that_always_calls_tools_hits_the_step_limit(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    world = await make_world(ScriptedModel(lambda: call("echo")), max_steps=3)
    ticket, events = await world.run("loop forever")
    await check_stream(world, ticket, events, event_validator)
    assert types(events).count("tool_executing") == 3
    assert types(events).count("tool_completed") == 3
    assert events[-1]["type"] == "agent_error"
    assert events[-1]["data"]["code"] == "step_limit"
    assert "3 steps" in events[-1]["data"]["message"]
    assert (await world.run_row(ticket.run_id)).error_code == "step_limit"


async def test_run_timeout_closes_the_open_tool_call_before_the_error(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    blocking = BlockingTool()
    world = await make_world(ScriptedModel(call("block")), tools=(blocking.tool,), run_timeout=0.5)
    ticket, events = await world.run("block forever")
    await check_stream(world, ticket, events, event_validator)
    assert blocking.started.is_set()
    assert types(events)[-3:] == ["tool_executing", "tool_completed", "agent_error"]
    executing, completed, error = (e["data"] for e in events[-3:])
    assert completed["tool_call_id"] == executing["tool_call_id"]
    assert completed["error"] == "interrupted: the run failed"
    assert error["code"] == "timeout"
    assert "0.5 s" in error["message"]
    assert (await world.run_row(ticket.run_id)).status == "failed"


# -- cancellation ----------------------------------------------------------------
async def test_cancel_a_run_blocked_in_a_tool(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    blocking = BlockingTool()
    world = await make_world(ScriptedModel(call("block")), tools=(blocking.tool,))
    async with world.live("block until cancelled") as (ticket, queue):
        seen: list[Frame] = []
        while not seen or seen[-1]["type"] != "tool_executing":
            seen.append(await next_event(queue))
        assert await world.runs.cancel(world.user_id, ticket.run_id) == ticket.thread_id
        events = await until_terminal(queue, seen)
    await check_stream(world, ticket, events, event_validator)
    assert types(events)[-3:] == ["tool_executing", "tool_completed", "agent_cancelled"]
    assert events[-2]["data"]["error"] == "interrupted: cancelled"
    assert events[-1]["data"] == {"reason": "cancelled_by_user"}
    calls = "netra_tool_calls_total"
    assert world.metric(calls, agent=AGENT, tool="block", outcome="cancelled") == 1
    row = await world.run_row(ticket.run_id)
    assert row.status == "cancelled"
    with pytest.raises(AppError) as info:
        await world.runs.cancel(world.user_id, ticket.run_id)
    assert (info.value.status, info.value.code) == (409, "run_not_active")


class StreamsThenIsCancelled:
    """Streams a few answer deltas, then has its run cancelled before it awaits anything:
    the deltas are still queued for the event log, not committed, when the cancel lands."""

    name = "streams-then-cancelled"

    def __init__(self) -> None:
        self.ticket: asyncio.Future[RunTicket] = asyncio.get_running_loop().create_future()
        self.supervisor: RunSupervisor | None = None

    async def complete(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], stream: TurnStream
    ) -> ModelTurn:
        ticket = await self.ticket
        for word in ("one ", "two ", "three "):
            await stream.text_delta(word)
        assert self.supervisor is not None
        assert self.supervisor.cancel(ticket.run_id, "cancelled_by_user")
        await asyncio.Event().wait()  # cancelled here
        raise AssertionError("the run was not cancelled")


async def test_cancel_between_a_queued_delta_and_its_commit_ends_the_run_once(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    model = StreamsThenIsCancelled()
    began = time.perf_counter()
    world = await make_world(model)
    model.supervisor = world.supervisor
    async with world.live("stream, then stop") as (ticket, queue):
        model.ticket.set_result(ticket)
        events = await until_terminal(queue)
    await check_stream(world, ticket, events, event_validator)
    assert types(events) == [
        "agent_started",
        "agent_thinking",
        "agent_message_delta",
        "agent_message_delta",
        "agent_message_delta",
        "agent_cancelled",
    ]
    assert [e["data"]["delta"] for e in events[2:5]] == ["one ", "two ", "three "]
    assert (await world.run_row(ticket.run_id)).status == "cancelled"
    assert await world.messages(ticket.thread_id) == [("user", "stream, then stop")]
    # The model request the cancel cut off is in the latency histogram, as cancelled.
    cut_off = {"agent": AGENT, "outcome": "cancelled"}
    assert world.metric("netra_model_request_seconds_count", **cut_off) == 1
    seconds = world.metric("netra_model_request_seconds_sum", **cut_off)
    assert 0 < seconds <= time.perf_counter() - began  # its own duration


async def test_a_cancel_between_storing_and_launching_a_run_starts_it_cancelled(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    world = await make_world(ScriptedModel(answer("never said")))
    thread_id = await world.new_thread()
    accepted: list[bool] = []
    async with live_events(world.bus, thread_id) as queue:
        # on_stored runs after the commit and before the launch: the window a cancel
        # from another request can fall in.
        ticket = await world.runs.start(
            world.user_id,
            "stop me at once",
            thread_id,
            on_stored=lambda t: accepted.append(world.supervisor.cancel(t.run_id, "by_test")),
        )
        events = await until_terminal(queue)
    await check_stream(world, ticket, events, event_validator)
    assert accepted == [True]
    assert types(events) == ["agent_started", "agent_cancelled"]
    assert events[-1]["data"] == {"reason": "by_test"}
    assert (await world.run_row(ticket.run_id)).status == "cancelled"


async def test_ending_a_run_whose_end_is_stored_publishes_it_again(
    make_world: MakeWorld,
) -> None:
    # What a COMMIT that reported failure after being applied leaves: the run's end is
    # stored, and nobody published it.
    world = await make_world(ScriptedModel(answer("x")))
    stored = await world.db.run_transaction(
        lambda c: store_run(
            c, world.user_id, "hi", None, AGENT, title="t", history_limit=1, lease=standing_lease()
        )
    )
    assert stored is not None
    batch = [
        RunEvents(
            stored.run_id,
            stored.thread_id,
            [NewEvent(t, {}, EncodedJSON("{}")) for t in ("agent_started", "agent_completed")],
            RunEnd("completed"),
        )
    ]
    await world.db.run_transaction(lambda c: append_events(c, batch, TEST_INSTANCE))
    run = await world.run_row(stored.run_id)
    async with live_events(world.bus, stored.thread_id) as queue:
        ended = await world.supervisor.end_abandoned(
            run, EventType.AGENT_ERROR, {"code": "storage_error", "message": "m"}
        )
        republished = [(await next_event(queue))["type"] for _ in range(2)]
    assert ended is False
    assert republished == ["agent_started", "agent_completed"]
    assert types(await world.persisted(stored.thread_id)) == republished


async def test_shutdown_cancels_running_runs_with_a_terminal_event(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    blocking = BlockingTool()
    world = await make_world(ScriptedModel(call("block")), tools=(blocking.tool,))
    async with world.live("block until shutdown") as (ticket, queue):
        await asyncio.wait_for(blocking.started.wait(), HANG_GUARD)
        await world.supervisor.shutdown(grace=0, cancel_wait=HANG_GUARD)
        events = await until_terminal(queue)
    await check_stream(world, ticket, events, event_validator)
    assert events[-1]["data"] == {"reason": "server_shutdown"}
    assert world.supervisor.active == 0
    assert world.supervisor.closing  # /ready reports "stopping" from now on
    with pytest.raises(AppError) as refused:
        await world.start("one more")
    assert (refused.value.status, refused.value.code) == (503, "shutting_down")


async def test_shutdown_lets_a_run_end_by_itself_within_the_grace(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    blocking = BlockingTool()
    world = await make_world(ScriptedModel(call("block"), answer("done")), tools=(blocking.tool,))
    async with world.live("finishes while the server stops") as (ticket, queue):
        await asyncio.wait_for(blocking.started.wait(), HANG_GUARD)
        stopping = asyncio.create_task(world.supervisor.shutdown(grace=HANG_GUARD))
        await asyncio.sleep(0)  # let shutdown begin: new runs are refused from here
        assert world.supervisor.closing
        blocking.never.set()  # the tool returns during the grace
        events = await until_terminal(queue)
        await asyncio.wait_for(stopping, HANG_GUARD)
    await check_stream(world, ticket, events, event_validator)
    assert events[-1]["type"] == "agent_completed"
    assert world.supervisor.active == 0


async def test_another_users_run_cannot_be_cancelled(make_world: MakeWorld) -> None:
    blocking = BlockingTool()
    world = await make_world(ScriptedModel(call("block")), tools=(blocking.tool,))
    ticket = await world.start("mine")
    await asyncio.wait_for(blocking.started.wait(), HANG_GUARD)
    with pytest.raises(AppError) as info:
        await world.runs.cancel(new_id("usr"), ticket.run_id)
    assert (info.value.status, info.value.code) == (404, "not_found")
    assert (await world.run_row(ticket.run_id)).status == "running"


# -- creating runs ---------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "   \n\t"])
async def test_empty_message_is_rejected(make_world: MakeWorld, text: str) -> None:
    world = await make_world(ScriptedModel(answer("x")))
    with pytest.raises(AppError) as info:
        await world.start(text)
    assert (info.value.status, info.value.code) == (422, "invalid_request")


async def test_unknown_agent_is_rejected(make_world: MakeWorld) -> None:
    world = await make_world(ScriptedModel(answer("x")))
    with pytest.raises(AppError) as info:
        await world.start("hi", agent="nobody")
    assert (info.value.status, info.value.code) == (422, "unknown_agent")
    assert AGENT in info.value.message  # lists the agents that exist


async def test_second_run_on_a_busy_thread_is_refused(make_world: MakeWorld) -> None:
    blocking = BlockingTool()
    world = await make_world(ScriptedModel(call("block")), tools=(blocking.tool,))
    ticket = await world.start("first")
    await asyncio.wait_for(blocking.started.wait(), HANG_GUARD)
    with pytest.raises(AppError) as info:
        await world.start("second", thread_id=ticket.thread_id)
    assert (info.value.status, info.value.code) == (409, "run_in_progress")


async def test_another_users_thread_is_not_found(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    world = await make_world(ScriptedModel(answer("x")))
    ticket, events = await world.run("my thread")
    await check_stream(world, ticket, events, event_validator)
    with pytest.raises(AppError) as info:
        await world.runs.start(new_id("usr"), "intrude", thread_id=ticket.thread_id)
    assert (info.value.status, info.value.code) == (404, "not_found")


async def test_follow_up_run_continues_the_thread_and_sees_history(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    model = ScriptedModel(answer("first answer"))
    world = await make_world(model)
    first, first_events = await world.run("first question")
    second, second_events = await world.run("second question", thread_id=first.thread_id)
    assert second.thread_id == first.thread_id
    assert second.start_seq == len(first_events)
    event_validator.assert_valid(first_events + second_events, allowed_threads=[first.thread_id])
    assert second_events[0]["seq"] == len(first_events) + 1
    assert [(m.role, m.content) for m in model.seen[-1][1:]] == [
        ("user", "first question"),
        ("assistant", "first answer"),
        ("user", "second question"),
    ]


PICK = ToolSpec("pick", "a tool the client runs", {"type": "object", "properties": {}})


async def test_a_client_tool_call_ends_the_run_waiting_and_a_resumed_run_sees_call_and_results(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    both = ModelTurn(
        text="Checking. ",
        tool_calls=(ToolCall("call_1", "echo", {"n": 1}), ToolCall("call_2", "pick", {})),
    )
    model = ScriptedModel(both, answer("picked"))
    world = await make_world(model)
    thread_id = await world.new_thread()

    async with live_events(world.bus, thread_id) as queue:
        first = await world.runs.start(world.user_id, "go", thread_id, client_tools=[PICK])
        waiting = await until_terminal(queue)
    await check_stream(world, first, waiting, event_validator)

    assert "pick" in model.tools_offered
    # The agent's own tool of the same turn ran; the client's did not.
    assert [e["data"]["tool"] for e in waiting if e["type"] == "tool_executing"] == ["echo"]
    end = waiting[-1]["data"]
    assert waiting[-1]["type"] == "agent_completed"
    pick_id = end["client_tool_calls"][0]["tool_call_id"]
    assert end["client_tool_calls"] == [{"tool_call_id": pick_id, "tool": "pick", "args": {}}]
    assert pick_id.startswith("tc_")
    assert await world.messages(thread_id) == [("user", "go")]  # nothing answered yet
    calls = "netra_tool_calls_total"
    assert world.metric(calls, agent=AGENT, tool="echo", outcome="ok") == 1
    assert world.metric(calls, agent=AGENT, tool="client", outcome="pending") == 1

    end_seq = waiting[-1]["seq"]
    turn = ClientTurn.from_data(end["turn"])
    resume = [
        ChatMessage("assistant", turn.text, tool_calls=turn.calls),
        *turn.results,
        ChatMessage("tool", "red", tool_call_id=pick_id),
    ]
    async with live_events(world.bus, thread_id) as queue:
        second = await world.runs.start(
            world.user_id, "pick returned: red", thread_id, resume=resume, resume_seq=end_seq
        )
        answered = await until_terminal(queue)
    event_validator.assert_valid(waiting + answered, allowed_threads=[thread_id])
    event_validator.assert_same_history(waiting + answered, await world.persisted(thread_id))

    assert {e["run_id"] for e in answered} == {second.run_id}
    assert answered[-1]["data"]["text"] == "picked"
    seen = model.seen[-1]
    assert [m.role for m in seen] == ["system", "user", "assistant", "tool", "tool"]
    assert [c.name for c in seen[2].tool_calls] == ["echo", "pick"]
    assert [m.tool_call_id for m in seen[3:]] == [c.id for c in seen[2].tool_calls]
    assert seen[4].content == "red"
    assert await world.messages(thread_id) == [("user", "go"), ("assistant", "picked")]

    # The same results again, read before the resumed run had begun: they were answered.
    with pytest.raises(AppError) as info:
        await world.runs.start(
            world.user_id, "pick returned: red", thread_id, resume=resume, resume_seq=end_seq
        )
    assert (info.value.status, info.value.code) == (409, "no_pending_tool_call")
    assert await world.messages(thread_id) == [("user", "go"), ("assistant", "picked")]


# -- what the engine tells the model, the client, the metrics and the traces -------
class TextThenCalls(ScriptedModel):
    """Streams `text` as the answer text of each turn that has some, then returns the turn."""

    async def complete(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], stream: TurnStream
    ) -> ModelTurn:
        turn = await super().complete(messages, tools, stream)
        if turn.text and turn.tool_calls:
            await stream.text_delta(turn.text)
        return turn


async def test_a_tool_call_belongs_to_the_text_message_of_its_turn_if_one_was_streamed(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    said = ModelTurn(text="Let me check. ", tool_calls=(ToolCall("call_1", "echo", {}),))
    silent = ModelTurn(thinking="again", tool_calls=(ToolCall("call_2", "echo", {}),))
    world = await make_world(TextThenCalls(said, silent, answer("done")))
    ticket, events = await world.run("go")
    await check_stream(world, ticket, events, event_validator, require_critical=True)
    (delta,) = [e["data"] for e in events if e["type"] == "agent_message_delta"]
    first, second = [e["data"] for e in events if e["type"] == "tool_executing"]
    assert first["message_id"] == delta["message_id"] != events[-1]["data"]["message_id"]
    assert "message_id" not in second  # no text was streamed in its turn


async def _whoami(ctx: UserExecutionContext, args: dict[str, Any]) -> Any:
    return {"user": ctx.user_id, "thread": ctx.thread_id, "greeting": "¡hola, café!"}


async def test_the_model_sees_its_calls_under_netra_ids_and_their_results_as_json(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    model = ScriptedModel(
        ModelTurn(text="Looking.", tool_calls=(ToolCall("call_1", "whoami", {"a": 1}),)),
        answer("you are you"),
    )
    world = await make_world(model, tools=(make_tool("whoami", _whoami),))
    ticket, events = await world.run("who am I?")
    await check_stream(world, ticket, events, event_validator, require_critical=True)
    executing = next(e["data"] for e in events if e["type"] == "tool_executing")
    result = {"user": world.user_id, "thread": ticket.thread_id, "greeting": "¡hola, café!"}
    assert next(e["data"] for e in events if e["type"] == "tool_completed")["result"] == result
    netra_id = executing["tool_call_id"]
    # The conversation the model gets back: its turn with Netra's ids, then the result,
    # as JSON that keeps the text as it is (not \u-escaped).
    assert model.seen[1][-2:] == [
        ChatMessage("assistant", "Looking.", tool_calls=(ToolCall(netra_id, "whoami", {"a": 1}),)),
        ChatMessage("tool", json.dumps(result, ensure_ascii=False), tool_call_id=netra_id),
    ]
    assert "café" in model.seen[1][-1].content


async def _a_set(ctx: UserExecutionContext, args: dict[str, Any]) -> Any:
    return {1, 2}


async def test_a_tool_result_that_is_not_json_is_a_tool_error(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    world = await make_world(
        ScriptedModel(call("a_set"), answer("fine")), tools=(make_tool("a_set", _a_set),)
    )
    ticket, events = await world.run("go")
    await check_stream(world, ticket, events, event_validator, require_critical=True)
    completed = next(e["data"] for e in events if e["type"] == "tool_completed")
    # The exception's type, then its message (orjson's words, not ours to pin).
    assert completed["error"].startswith("TypeError: ")
    assert "set" in completed["error"]
    assert events[-1]["data"]["text"] == "fine"


async def test_a_crashing_tool_is_logged_with_its_name_and_run(
    make_world: MakeWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = await make_world(ScriptedModel(call("explode"), answer("recovered")))
    with caplog.at_level(logging.ERROR, logger="netra.agents.engine"):
        ticket, _ = await world.run("break something")
    (record,) = [r for r in caplog.records if r.name == "netra.agents.engine"]
    assert record.getMessage() == f"tool explode failed in run {ticket.run_id}"
    assert record.exc_info is not None


async def test_an_own_tool_after_a_client_tool_in_one_turn_still_runs(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    both = ModelTurn(
        text="Checking. ",
        tool_calls=(ToolCall("call_1", "pick", {}), ToolCall("call_2", "echo", {})),
        usage=Usage(2, 3),
    )
    world = await make_world(ScriptedModel(both))
    thread_id = await world.new_thread()
    async with live_events(world.bus, thread_id) as queue:
        ticket = await world.runs.start(world.user_id, "go", thread_id, client_tools=[PICK])
        events = await until_terminal(queue)
    await check_stream(world, ticket, events, event_validator)
    assert [e["data"]["tool"] for e in events if e["type"] == "tool_executing"] == ["echo"]
    end = events[-1]["data"]
    assert [c["tool"] for c in end["client_tool_calls"]] == ["pick"]
    assert end["message_id"].startswith("msg_")
    assert (end["text"], end["usage"]) == (
        "Checking. ",
        {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5},
    )
    turn = ClientTurn.from_data(end["turn"])
    assert turn.text == "Checking. "
    assert [c.name for c in turn.calls] == ["pick", "echo"]
    assert [m.tool_call_id for m in turn.results] == [turn.calls[1].id]


def test_a_client_turn_is_stored_as_plain_data_and_read_back_as_it_was() -> None:
    turn = ClientTurn(
        "Checking. ",
        (ToolCall("tc_1", "echo", {"n": 1}), ToolCall("tc_2", "pick", {})),
        (ChatMessage("tool", "boom", tool_call_id="tc_1", is_error=True),),
    )
    data = turn.as_data()
    assert data == {
        "text": "Checking. ",
        "tool_calls": [
            {"tool_call_id": "tc_1", "tool": "echo", "args": {"n": 1}},
            {"tool_call_id": "tc_2", "tool": "pick", "args": {}},
        ],
        "results": [{"tool_call_id": "tc_1", "content": "boom", "is_error": True}],
    }
    assert ClientTurn.from_data(json.loads(json.dumps(data))) == turn
    # What older or sparser records hold: no text, no args, no results.
    sparse = {"tool_calls": [{"tool_call_id": "tc_2", "tool": "pick", "args": None}]}
    assert ClientTurn.from_data(sparse) == ClientTurn("", (ToolCall("tc_2", "pick", {}),), ())


async def test_model_requests_and_their_tokens_are_counted_by_outcome(
    make_world: MakeWorld,
) -> None:
    counted = ModelTurn(tool_calls=(ToolCall("call_1", "echo", {}),), usage=Usage(3, 4))
    unreported = ModelTurn(thinking="done", text="done")  # a provider that reports no usage
    began = time.perf_counter()
    world = await make_world(ScriptedModel(counted, unreported))
    await world.run("go")
    failing = await make_world(ScriptedModel(ModelError("provider_down", "503")))
    await failing.run("go")
    elapsed = time.perf_counter() - began

    requests, tokens = "netra_model_request_seconds", "netra_model_tokens_total"
    ok, error = {"agent": AGENT, "outcome": "ok"}, {"agent": AGENT, "outcome": "error"}
    assert (
        world.metric(f"{requests}_count", **ok),
        world.metric(f"{requests}_count", **error),
    ) == (2, 0)
    assert world.metric(tokens, agent=AGENT, direction="in") == 3
    assert world.metric(tokens, agent=AGENT, direction="out") == 4
    assert (
        failing.metric(f"{requests}_count", **ok),
        failing.metric(f"{requests}_count", **error),
    ) == (0, 1)
    # Each request's duration is its own: within the time the whole test took.
    assert 0 < world.metric(f"{requests}_sum", **ok) <= elapsed
    assert 0 < failing.metric(f"{requests}_sum", **error) <= elapsed


async def test_a_failed_runs_analytics_record_counts_the_tokens_used_before_it_failed(
    make_world: MakeWorld,
) -> None:
    counted = ModelTurn(tool_calls=(ToolCall("call_1", "echo", {}),), usage=Usage(5, 6))
    world = await make_world(ScriptedModel(counted, ModelError("provider_down", "503")))
    ticket, events = await world.run("go")
    assert events[-1]["type"] == "agent_error"
    (record,) = world.records
    assert (record.run_id, record.outcome) == (ticket.run_id, "failed")
    assert (record.tokens_in, record.tokens_out) == (5, 6)


async def test_model_and_tool_calls_are_traced_with_their_agent_step_tool_and_outcome(
    make_world: MakeWorld,
) -> None:
    calls = (ToolCall("call_1", "echo", {}), ToolCall("call_2", "rm_rf", {}))
    with OtlpReceiver() as receiver:
        tracing = Tracing(receiver.endpoint)
        world = await make_world(
            ScriptedModel(ModelTurn(tool_calls=calls), answer("done")),
            obs=Observability(Metrics(), tracing),
        )
        await world.run("go")
        await asyncio.to_thread(tracing.shutdown)  # exports what is left
        spans = receiver.wait_for(lambda spans: len(spans) >= 4, timeout=HANG_GUARD)
    seen = sorted((s.name, sorted(s.attributes.items())) for s in spans)
    assert seen == [
        ("model call", [("netra.agent", AGENT), ("netra.step", 0)]),
        ("model call", [("netra.agent", AGENT), ("netra.step", 1)]),
        ("tool call", [("netra.outcome", "error"), ("netra.tool", "unknown")]),
        ("tool call", [("netra.outcome", "ok"), ("netra.tool", "echo")]),
    ]


async def test_a_tool_calls_duration_is_its_run_in_milliseconds(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    ran: list[float] = []

    async def busy(ctx: UserExecutionContext, args: dict[str, Any]) -> Any:
        began = time.perf_counter()
        while time.perf_counter() - began < 0.002:  # work that takes at least 2 ms
            pass
        ran.append((time.perf_counter() - began) * 1000)
        return "done"

    began = time.perf_counter()
    world = await make_world(
        ScriptedModel(call("busy"), answer("ok")), tools=(make_tool("busy", busy),)
    )
    ticket, events = await world.run("go")
    elapsed_ms = (time.perf_counter() - began) * 1000
    await check_stream(world, ticket, events, event_validator)
    duration = next(e["data"] for e in events if e["type"] == "tool_completed")["duration_ms"]
    assert isinstance(duration, float)
    assert duration == round(duration, 3)
    assert ran[0] - 0.001 <= duration <= elapsed_ms


class WaitingModel:
    """A model that never answers; `called` is set once the engine has asked it."""

    name = "waiting"

    def __init__(self) -> None:
        self.called = asyncio.Event()

    async def complete(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], stream: TurnStream
    ) -> ModelTurn:
        self.called.set()
        await asyncio.Event().wait()
        raise AssertionError("never answered")


async def test_a_run_is_running_once_its_agent_started_is_committed(
    make_world: MakeWorld, event_validator: EventValidator
) -> None:
    model = WaitingModel()
    world = await make_world(model)
    async with world.live("wait for it") as (ticket, queue):
        started = await next_event(queue)
        await asyncio.wait_for(model.called.wait(), HANG_GUARD)
        # agent_started alone is committed (the model has not answered): queued no more.
        assert (await world.run_row(ticket.run_id)).status == "running"
        await world.runs.cancel(world.user_id, ticket.run_id)
        events = await until_terminal(queue, [started])
    await check_stream(world, ticket, events, event_validator)
    assert types(events) == ["agent_started", "agent_cancelled"]
