"""Starting, supervising and cancelling runs. Knows nothing about HTTP or WebSockets."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from netra.agents.context import ExecutionContextFactory, UserExecutionContext
from netra.agents.engine import AgentEngine, StepLimitError
from netra.agents.models.base import ChatMessage, ModelError
from netra.agents.registry import AgentRegistry, UnknownAgentError
from netra.db.engine import Database
from netra.db.models import ACTIVE_RUN_STATUSES, Run
from netra.db.repositories import (
    EventLog,
    RunRepository,
    ThreadRepository,
    orphaned_runs,
    set_run_status,
)
from netra.errors import AppError, not_found
from netra.realtime.emitter import RunEmitter
from netra.realtime.events import TERMINAL_EVENTS, EventType

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 16_000
HISTORY_MESSAGES = 40
TITLE_CHARS = 60
TERMINAL_WRITE_ATTEMPTS = 4


@dataclass(frozen=True)
class RunTicket:
    """A run that has been stored and launched."""

    run_id: str
    thread_id: str
    user_id: str
    agent: str
    text: str
    start_seq: int  # the thread's last seq before this run: its events come after


@dataclass
class _LocalRun:
    task: asyncio.Task[None]
    started: bool = False  # _execute has begun, so cancelling the task is safe
    cancel_reason: str | None = None
    finishing: bool = False  # the terminal event is being written; too late to cancel


class RunSupervisor:
    """Owns the tasks of the runs executing in this process."""

    def __init__(
        self,
        registry: AgentRegistry,
        contexts: ExecutionContextFactory,
        engine: AgentEngine,
        run_timeout: float,
    ) -> None:
        self._registry = registry
        self._contexts = contexts
        self._engine = engine
        self._run_timeout = run_timeout
        self._runs: dict[str, _LocalRun] = {}
        self._ending: set[str] = set()  # abandoned runs being ended, one writer each
        self._admitting = 0  # runs being stored right now; each is launched next
        self._changed = asyncio.Event()  # a run was admitted or finished
        self._closing = False

    @property
    def active(self) -> int:
        return len(self._runs)

    @property
    def closing(self) -> bool:
        return self._closing

    def admit(self) -> None:
        """Announce a run about to be stored, so shutdown waits for its launch."""
        self._admitting += 1

    def admitted(self) -> None:
        self._admitting -= 1
        self._changed.set()

    def launch(self, ticket: RunTicket) -> None:
        """Execute a stored run. Never refuses: a run stored during shutdown still gets
        its history, agent_started then agent_cancelled."""
        task = asyncio.create_task(self._execute(ticket), name=f"netra-{ticket.run_id}")
        self._runs[ticket.run_id] = _LocalRun(
            task, cancel_reason="server_shutdown" if self._closing else None
        )
        task.add_done_callback(lambda done: self._forget(ticket.run_id, done))

    def cancel(self, run_id: str, reason: str) -> bool:
        """Ask a local run to stop; False if it is not running in this process."""
        run = self._runs.get(run_id)
        if run is None:
            return False
        if run.task.done():  # it is ending here; _forget has not run yet
            return True
        if run.cancel_reason is None and not run.finishing:
            run.cancel_reason = reason
            # A task cancelled before its first step would never run _execute and so
            # never write its events; such a run notices the reason right after starting.
            if run.started:
                run.task.cancel()
        return True

    async def shutdown(self, grace: float = 10.0) -> None:
        """Refuse new runs, cancel local ones; each still ends with agent_cancelled."""
        self._closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        # Loop: a run being stored as shutdown began is launched (already cancelled)
        # while we wait, and must end before the database closes.
        while (self._runs or self._admitting) and (left := deadline - loop.time()) > 0:
            for run_id in list(self._runs):
                self.cancel(run_id, "server_shutdown")
            self._changed.clear()
            waits: list[asyncio.Future[Any]] = [run.task for run in self._runs.values()]
            waits.append(asyncio.ensure_future(self._changed.wait()))
            await asyncio.wait(waits, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            waits[-1].cancel()
        for run in self._runs.values():
            log.warning("%s did not finish within %g s of shutdown", run.task.get_name(), grace)

    async def end_abandoned(self, run: Run, type_: EventType, data: dict[str, Any]) -> bool:
        """End a run that no task is executing. False if it had already ended."""
        if run.id in self._runs:
            raise RuntimeError(f"run {run.id} is executing here; cancel it instead")
        if run.id in self._ending:  # a concurrent cancel is already ending it
            return True
        self._ending.add(run.id)
        try:
            emitter = self._contexts.emitter(run.thread_id, run.id)
            return await end_abandoned_run(emitter, run, type_, data)
        finally:
            self._ending.discard(run.id)

    def _forget(self, run_id: str, task: asyncio.Task[None]) -> None:
        self._runs.pop(run_id, None)
        self._changed.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("run %s could not record its end", run_id, exc_info=task.exception())

    async def _execute(self, ticket: RunTicket) -> None:
        local = self._runs[ticket.run_id]
        local.started = True
        ctx = self._contexts.create(ticket.user_id, ticket.thread_id, ticket.run_id, ticket.agent)

        async def running(session: AsyncSession) -> None:
            await set_run_status(session, ticket.run_id, "running")

        deadline = asyncio.timeout(self._run_timeout)
        try:
            await ctx.emitter.emit(
                EventType.AGENT_STARTED, {"agent": ticket.agent, "input": ticket.text}, also=running
            )
            if local.cancel_reason is not None:  # cancelled before it could start
                raise asyncio.CancelledError
            agent = self._registry.build(ticket.agent)
            history = await _history(ctx)
            async with deadline:
                await self._engine.run(ctx, agent, history)
        except asyncio.CancelledError:
            reason = local.cancel_reason or "cancelled"
            await self._finish(local, ctx.emitter, EventType.AGENT_CANCELLED, {"reason": reason})
        except TimeoutError:
            if not deadline.expired():
                log.exception("run %s: a timeout inside the agent", ticket.run_id)
                await self._fail(
                    local, ctx, "internal_error", "an operation inside the run timed out"
                )
            else:
                await self._fail(
                    local, ctx, "timeout", f"the run took longer than {self._run_timeout:g} s"
                )
        except StepLimitError as exc:
            await self._fail(local, ctx, "step_limit", str(exc))
        except ModelError as exc:
            await self._fail(local, ctx, exc.code, exc.message)
        except Exception:
            log.exception("run %s failed", ticket.run_id)
            await self._fail(
                local, ctx, "internal_error", "the run failed unexpectedly; see server logs"
            )

    async def _fail(
        self, local: _LocalRun, ctx: UserExecutionContext, code: str, message: str
    ) -> None:
        data = {"code": code, "message": message}
        await self._finish(local, ctx.emitter, EventType.AGENT_ERROR, data)

    async def _finish(
        self, local: _LocalRun, emitter: RunEmitter, type_: EventType, data: dict[str, Any]
    ) -> None:
        local.finishing = True
        await emitter.settle()
        if emitter.finished:  # the answer was written just before the cancel landed
            return
        # Without its terminal event the run would block its thread; retry transient failures.
        for attempt in range(TERMINAL_WRITE_ATTEMPTS):
            try:
                await close_run(emitter, type_, data)
                return
            except RunAlreadyEnded:
                return
            except Exception:
                if attempt == TERMINAL_WRITE_ATTEMPTS - 1:
                    raise
                log.warning("run %s: writing its end failed; retrying", emitter.run_id)
                await asyncio.sleep(0.2 * 2**attempt)


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
        # Only an active run may end: if another writer ended it first, this raises and
        # the whole transaction, terminal event included, rolls back.
        if not await set_run_status(session, emitter.run_id, status, error_code=data.get("code")):
            raise RunAlreadyEnded(emitter.run_id)

    await emitter.emit(type_, data, also=record)


class RunAlreadyEnded(Exception):
    """A terminal event was about to be written for a run that has already ended."""


async def end_abandoned_run(
    emitter: RunEmitter, run: Run, type_: EventType, data: dict[str, Any]
) -> bool:
    """Give a run that nothing executes a valid ending, from its persisted history."""
    async with emitter.db.session() as session:
        events = await EventLog(session).run_events(run.id)
    if any(event.type in TERMINAL_EVENTS for event in events):
        return False
    if not events:  # every run's history begins with agent_started
        await emitter.emit(EventType.AGENT_STARTED, {"agent": run.agent, "input": run.input_text})
    now = time.perf_counter()
    for event in events:
        if event.type == EventType.TOOL_EXECUTING:
            emitter.open_tool_calls[event.data["tool_call_id"]] = (event.data["tool"], now)
        elif event.type == EventType.TOOL_COMPLETED:
            emitter.open_tool_calls.pop(event.data["tool_call_id"], None)
    await close_run(emitter, type_, data)
    return True


async def recover_orphaned_runs(db: Database, supervisor: RunSupervisor) -> int:
    """End runs left active by a crash. Only safe when this is the only instance."""
    async with db.session() as session:
        runs = list(await orphaned_runs(session))
    interrupted = {
        "code": "interrupted",
        "message": "the server stopped while this run was in progress",
    }
    for run in runs:
        await supervisor.end_abandoned(run, EventType.AGENT_ERROR, interrupted)
    return len(runs)


async def _history(ctx: UserExecutionContext) -> list[ChatMessage]:
    """The thread's recent messages, the new user message last."""
    async with ctx.threads() as threads:
        messages = await threads.messages(ctx.thread_id)
    recent = messages[-HISTORY_MESSAGES:]
    return [ChatMessage("user" if m.role == "user" else "assistant", m.text) for m in recent]


class RunService:
    """Starts runs for a user and cancels them."""

    def __init__(
        self, db: Database, registry: AgentRegistry, supervisor: RunSupervisor, default_agent: str
    ) -> None:
        self._db = db
        self._registry = registry
        self._supervisor = supervisor
        self._default_agent = default_agent

    async def start(
        self, user_id: str, text: str, thread_id: str | None = None, agent: str | None = None
    ) -> RunTicket:
        """Store the user's message and a run (and a thread if needed), then launch it.

        Storing and launching run shielded from the caller: a caller cancelled while
        the commit is in flight (a WebSocket that drops) cannot leave a stored run
        that never executes.
        """
        if self._supervisor.closing:
            raise _shutting_down()
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
        self._supervisor.admit()
        return await asyncio.shield(self._store_and_launch(user_id, text, thread_id, agent))

    async def _store_and_launch(
        self, user_id: str, text: str, thread_id: str | None, agent: str
    ) -> RunTicket:
        try:
            ticket = await self._store(user_id, text, thread_id, agent)
            self._supervisor.launch(ticket)
            return ticket
        finally:
            self._supervisor.admitted()

    async def _store(self, user_id: str, text: str, thread_id: str | None, agent: str) -> RunTicket:
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
        except IntegrityError as exc:
            if _is_active_run_conflict(exc):  # another request started a run here first
                raise _busy() from None
            raise
        return RunTicket(run.id, thread.id, user_id, agent, text, thread.last_seq)

    async def cancel(self, user_id: str, run_id: str, reason: str = "cancelled_by_user") -> str:
        """Cancel the user's active run; returns its thread id."""
        async with self._db.session() as session:
            run = await RunRepository(session, user_id).get(run_id)
        if run is None:
            raise not_found("run")
        if run.status not in ACTIVE_RUN_STATUSES:
            raise AppError(409, "run_not_active", f"the run already ended ({run.status})")
        if self._supervisor.cancel(run_id, reason):
            return run.thread_id
        # Active in the database but executing nowhere: with the in-process bus this is
        # the only instance, so nobody else will end it.
        if await self._supervisor.end_abandoned(run, EventType.AGENT_CANCELLED, {"reason": reason}):
            return run.thread_id
        raise AppError(409, "run_not_active", "the run already ended")


def _is_active_run_conflict(exc: IntegrityError) -> bool:
    message = str(exc.orig)
    # PostgreSQL names the index; SQLite names the column it covers.
    return "uq_runs_one_active_per_thread" in message or "runs.thread_id" in message


def _shutting_down() -> AppError:
    return AppError(503, "shutting_down", "the server is shutting down; try again shortly")


def _busy() -> AppError:
    return AppError(409, "run_in_progress", "this thread already has a run in progress")
