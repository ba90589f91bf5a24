"""Starting, supervising and cancelling runs. Knows nothing about HTTP or WebSockets."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from netra.agents.context import ExecutionContextFactory, UserExecutionContext
from netra.agents.engine import AgentEngine, StepLimitError
from netra.agents.models.base import ChatMessage, ModelError
from netra.agents.registry import AgentRegistry, UnknownAgentError
from netra.db.engine import Database
from netra.db.models import ACTIVE_RUN_STATUSES, Event
from netra.db.repositories import (
    RunRepository,
    ThreadRepository,
    orphaned_runs,
    set_run_status,
)
from netra.errors import AppError, not_found
from netra.realtime.emitter import RunEmitter
from netra.realtime.events import EventType

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 16_000
HISTORY_MESSAGES = 40
TITLE_CHARS = 60


@dataclass(frozen=True)
class RunTicket:
    """A created run, ready to launch."""

    run_id: str
    thread_id: str
    user_id: str
    agent: str
    text: str
    start_seq: int  # the thread's last seq before this run: its events come after


class RunSupervisor:
    """Owns the tasks of the runs executing in this process."""

    def __init__(
        self,
        db: Database,
        registry: AgentRegistry,
        contexts: ExecutionContextFactory,
        engine: AgentEngine,
        run_timeout: float,
    ) -> None:
        self._db = db
        self._registry = registry
        self._contexts = contexts
        self._engine = engine
        self._run_timeout = run_timeout
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancel_reasons: dict[str, str] = {}
        self._started: set[str] = set()
        self._finishing: set[str] = set()

    @property
    def active(self) -> int:
        return len(self._tasks)

    def launch(self, ticket: RunTicket) -> None:
        task = asyncio.create_task(self._execute(ticket), name=f"netra-{ticket.run_id}")
        self._tasks[ticket.run_id] = task
        task.add_done_callback(lambda _: self._forget(ticket.run_id))

    def cancel(self, run_id: str, reason: str) -> bool:
        """Ask a local run to stop; False if it is not running in this process."""
        task = self._tasks.get(run_id)
        if task is None or task.done():
            return False
        if run_id not in self._finishing and run_id not in self._cancel_reasons:
            self._cancel_reasons[run_id] = reason
            # A task cancelled before its first step would never run _execute and so
            # never write its events; such a run notices the reason right after starting.
            if run_id in self._started:
                task.cancel()
        return True

    async def shutdown(self, grace: float = 10.0) -> None:
        """Cancel every local run; each still ends with its agent_cancelled event."""
        tasks = list(self._tasks.values())
        for run_id in list(self._tasks):
            self.cancel(run_id, "server_shutdown")
        if tasks:
            await asyncio.wait(tasks, timeout=grace)

    def _forget(self, run_id: str) -> None:
        self._tasks.pop(run_id, None)
        self._cancel_reasons.pop(run_id, None)
        self._started.discard(run_id)
        self._finishing.discard(run_id)

    async def _execute(self, ticket: RunTicket) -> None:
        self._started.add(ticket.run_id)
        ctx = self._contexts.create(ticket.user_id, ticket.thread_id, ticket.run_id, ticket.agent)

        async def running(session: AsyncSession) -> None:
            await set_run_status(session, ticket.run_id, "running")

        try:
            await ctx.emitter.emit(
                EventType.AGENT_STARTED, {"agent": ticket.agent, "input": ticket.text}, also=running
            )
            if ticket.run_id in self._cancel_reasons:  # cancelled before it could start
                raise asyncio.CancelledError
            agent = self._registry.build(ticket.agent)
            history = await _history(ctx)
            async with asyncio.timeout(self._run_timeout):
                await self._engine.run(ctx, agent, history)
        except asyncio.CancelledError:
            reason = self._cancel_reasons.get(ticket.run_id, "cancelled")
            await self._finish(ctx.emitter, EventType.AGENT_CANCELLED, {"reason": reason})
        except TimeoutError:
            await self._fail(ctx, "timeout", f"the run took longer than {self._run_timeout:g} s")
        except StepLimitError as exc:
            await self._fail(ctx, "step_limit", str(exc))
        except ModelError as exc:
            await self._fail(ctx, exc.code, exc.message)
        except Exception:
            log.exception("run %s failed", ticket.run_id)
            await self._fail(ctx, "internal_error", "the run failed unexpectedly; see server logs")

    async def _fail(self, ctx: UserExecutionContext, code: str, message: str) -> None:
        await self._finish(ctx.emitter, EventType.AGENT_ERROR, {"code": code, "message": message})

    async def _finish(self, emitter: RunEmitter, type_: EventType, data: dict[str, Any]) -> None:
        self._finishing.add(emitter.run_id)
        await emitter.settle()
        if emitter.finished:  # the answer was written just before the cancel landed
            return
        await close_run(emitter, type_, data)


async def close_run(emitter: RunEmitter, type_: EventType, data: dict[str, Any]) -> None:
    """End a run: close its open tool calls with an error, then write the terminal event."""
    status = {EventType.AGENT_CANCELLED: "cancelled", EventType.AGENT_ERROR: "failed"}[type_]
    why = "cancelled" if type_ is EventType.AGENT_CANCELLED else "the run failed"
    for call_id, (tool, started) in list(emitter.open_tool_calls.items()):
        await emitter.emit(
            EventType.TOOL_COMPLETED,
            {
                "tool_call_id": call_id,
                "tool": tool,
                "error": f"interrupted: {why}",
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            },
        )

    async def record(session: AsyncSession) -> None:
        await set_run_status(session, emitter.run_id, status, error_code=data.get("code"))

    await emitter.emit(type_, data, also=record)


async def _history(ctx: UserExecutionContext) -> list[ChatMessage]:
    """The thread's recent messages, the new user message last."""
    async with ctx.threads() as threads:
        messages = await threads.messages(ctx.thread_id)
    recent = messages[-HISTORY_MESSAGES:]
    return [ChatMessage("user" if m.role == "user" else "assistant", m.text) for m in recent]


async def recover_orphaned_runs(db: Database, emitter_for: Any) -> int:
    """End runs left active by a crash. Only safe when this is the only instance."""
    async with db.session() as session:
        runs = list(await orphaned_runs(session))
        open_calls: dict[str, dict[str, str]] = {}
        never_started: set[str] = set()
        for run in runs:
            events = list(
                await session.scalars(
                    select(Event).where(Event.run_id == run.id).order_by(Event.seq)
                )
            )
            if not events:
                never_started.add(run.id)
            calls: dict[str, str] = {}
            for event in events:
                if event.type == EventType.TOOL_EXECUTING:
                    calls[event.data["tool_call_id"]] = event.data["tool"]
                elif event.type == EventType.TOOL_COMPLETED:
                    calls.pop(event.data["tool_call_id"], None)
            open_calls[run.id] = calls
    for run in runs:
        emitter: RunEmitter = emitter_for(run.thread_id, run.id)
        if run.id in never_started:  # every run's history begins with agent_started
            await emitter.emit(
                EventType.AGENT_STARTED, {"agent": run.agent, "input": run.input_text}
            )
        now = time.perf_counter()
        emitter.open_tool_calls = {k: (v, now) for k, v in open_calls[run.id].items()}
        await close_run(
            emitter,
            EventType.AGENT_ERROR,
            {"code": "interrupted", "message": "the server stopped while this run was in progress"},
        )
    return len(runs)


class RunService:
    """Creates runs for a user, launches them and cancels them."""

    def __init__(
        self, db: Database, registry: AgentRegistry, supervisor: RunSupervisor, default_agent: str
    ) -> None:
        self._db = db
        self._registry = registry
        self._supervisor = supervisor
        self._default_agent = default_agent

    async def create(
        self, user_id: str, text: str, thread_id: str | None = None, agent: str | None = None
    ) -> RunTicket:
        """Validate, then store the user's message and a queued run (and a thread if needed)."""
        text = text.strip()
        if not text:
            raise AppError(422, "invalid_request", "`text` must not be empty")
        if len(text) > MAX_MESSAGE_CHARS:
            raise AppError(422, "invalid_request", f"`text` is over {MAX_MESSAGE_CHARS} characters")
        agent = agent or self._default_agent
        try:
            self._registry.spec(agent)
        except UnknownAgentError as exc:
            raise AppError(422, "unknown_agent", str(exc)) from None
        try:
            async with self._db.session() as session:
                threads = ThreadRepository(session, user_id)
                runs = RunRepository(session, user_id)
                if thread_id is None:
                    thread = await threads.add(title=text[:TITLE_CHARS])
                elif (found := await threads.get(thread_id)) is None:
                    raise not_found("thread")
                else:
                    thread = found
                    if await runs.active_in_thread(thread.id) is not None:
                        raise _busy()
                run = await runs.add(thread.id, agent, text)
                await threads.add_message(thread.id, "user", text, run.id)
        except IntegrityError:  # another request started a run on this thread first
            raise _busy() from None
        return RunTicket(run.id, thread.id, user_id, agent, text, thread.last_seq)

    def launch(self, ticket: RunTicket) -> None:
        self._supervisor.launch(ticket)

    async def cancel(self, user_id: str, run_id: str, reason: str = "cancelled_by_user") -> str:
        """Cancel the user's active run; returns its thread id."""
        async with self._db.session() as session:
            run = await RunRepository(session, user_id).get(run_id)
        if run is None:
            raise not_found("run")
        if run.status not in ACTIVE_RUN_STATUSES:
            raise AppError(409, "run_not_active", f"the run already ended ({run.status})")
        if not self._supervisor.cancel(run_id, reason):
            raise AppError(409, "run_not_active", "the run already ended")
        return run.thread_id


def _busy() -> AppError:
    return AppError(409, "run_in_progress", "this thread already has a run in progress")
