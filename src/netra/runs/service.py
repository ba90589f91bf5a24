"""Starting runs for a user and cancelling them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from netra.agents.models.base import ChatMessage, ToolSpec
from netra.agents.registry import AgentRegistry, UnknownAgentError
from netra.db.engine import Database
from netra.db.models import ACTIVE_RUN_STATUSES, Run
from netra.db.repositories import (
    RunRepository,
    StoredRun,
    ThreadMovedOn,
    ThreadRepository,
    store_run,
)
from netra.errors import AppError, not_found
from netra.ids import new_id
from netra.runs.supervisor import RunSupervisor, RunTicket

MAX_MESSAGE_CHARS = 16_000
TITLE_CHARS = 60
HISTORY_MESSAGES = 40  # what a run sees of its thread, its own message included
# Deleting a thread ends its run first; a new run started meanwhile is ended the same way,
# this many times at most before the delete gives up with run_in_progress.
DELETE_ATTEMPTS = 3


class RunService:
    """Starts runs for a user and cancels them."""

    def __init__(
        self, db: Database, registry: AgentRegistry, supervisor: RunSupervisor, default_agent: str
    ) -> None:
        self._db = db
        self._registry = registry
        self._supervisor = supervisor
        self._default_agent = default_agent
        self._abandoning: set[asyncio.Task[None]] = set()  # cancels of runs left by their client

    async def start(
        self,
        user_id: str,
        text: str,
        thread_id: str | None = None,
        agent: str | None = None,
        on_stored: Callable[[RunTicket], None] | None = None,
        *,
        client_tools: Sequence[ToolSpec] = (),
        resume: Sequence[ChatMessage] = (),
        resume_seq: int | None = None,
    ) -> RunTicket:
        """Store the user's message and a run (and a thread if needed), then launch it.

        `client_tools` are offered to the model next to the agent's own (the client
        runs them). With `resume` (a turn that called client tools, then their
        results), the run continues that conversation: the model sees the thread's
        history then `resume`, and `text` is only the run's input, stored as no message.
        `resume_seq` is the seq of that turn's terminal event: a thread that has had
        events since (another request continued it first) is a 409
        `no_pending_tool_call`, so that one turn's results are answered once.

        `on_stored` is called between the two: nothing of the run has happened yet, so
        a caller can start following the thread there and miss nothing. Storing and
        launching run shielded from the caller: a caller cancelled while the commit
        is in flight (a WebSocket that drops) cannot leave a stored run that never
        executes.
        """
        if self._supervisor.closing:
            raise _shutting_down()
        text, agent = self.check(user_id, text, agent)
        run_id = new_id("run")
        if not self._supervisor.admit(user_id, run_id):
            raise _too_many_runs()
        extra = _RunExtra(tuple(client_tools), tuple(resume), resume_seq)
        return await asyncio.shield(
            self._store_and_launch(run_id, user_id, text, thread_id, agent, on_stored, extra)
        )

    def check(self, user_id: str, text: str, agent: str | None) -> tuple[str, str]:
        """The message and agent a run would use, or the error start() would raise (a 422,
        or a 429 if the user has no run to spare); lets a caller refuse a message before
        it creates anything for it."""
        if self._supervisor.runs_of(user_id) >= self._supervisor.max_runs_per_user:
            raise _too_many_runs()
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
        return text, agent

    async def _store_and_launch(
        self,
        run_id: str,
        user_id: str,
        text: str,
        thread_id: str | None,
        agent: str,
        on_stored: Callable[[RunTicket], None] | None,
        extra: _RunExtra,
    ) -> RunTicket:
        launched = False
        try:
            ticket = await self._store(run_id, user_id, text, thread_id, agent, extra)
            try:
                if on_stored is not None:
                    on_stored(ticket)
            finally:  # a stored run is always launched
                self._supervisor.launch(ticket)
                launched = True
            return ticket
        finally:
            self._supervisor.admitted(user_id, run_id, launched)

    async def _store(
        self,
        run_id: str,
        user_id: str,
        text: str,
        thread_id: str | None,
        agent: str,
        extra: _RunExtra,
    ) -> RunTicket:
        lease = self._supervisor.leases.lease()

        def store(connection: Connection) -> StoredRun | None:
            return store_run(
                connection,
                user_id,
                text,
                thread_id,
                agent,
                title=text[:TITLE_CHARS],
                history_limit=HISTORY_MESSAGES,
                lease=lease,
                run_id=run_id,
                user_message=not extra.resume,
                continues_seq=extra.resume_seq,
            )

        try:
            stored = await self._db.run_transaction(store)
        except IntegrityError as exc:
            if _is_active_run_conflict(exc):  # the thread has a run in progress
                raise _busy() from None
            raise
        except ThreadMovedOn:
            raise AppError(
                409, "no_pending_tool_call", "the pending tool calls were already answered"
            ) from None
        if stored is None:
            raise not_found("thread")
        history = [
            ChatMessage("user" if role == "user" else "assistant", said)
            for role, said in stored.history
        ]
        history += extra.resume
        return RunTicket(
            stored.run_id,
            stored.thread_id,
            user_id,
            agent,
            text,
            stored.start_seq,
            history,
            extra.client_tools,
        )

    async def cancel(self, user_id: str, run_id: str, reason: str = "cancelled_by_user") -> str:
        """Cancel the user's active run; returns its thread id."""
        async with self._db.read() as session:
            run = await RunRepository(session, user_id).get(run_id)
        if run is None:
            raise not_found("run")
        if run.status not in ACTIVE_RUN_STATUSES:
            raise AppError(409, "run_not_active", f"the run already ended ({run.status})")
        if self._supervisor.cancel(run_id, reason):
            return run.thread_id
        if await self._supervisor.cancel_elsewhere(run_id, reason):
            return run.thread_id
        raise AppError(409, "run_not_active", "the run already ended")

    async def wait_for_cancelled_run(
        self, user_id: str, thread_id: str, notice: float = 0.0
    ) -> bool:
        """If the thread's active run was asked to stop (by its client leaving, or a
        cancel), wait until it has ended (its agent_cancelled is written at once) and
        return True. A run not known here to be stopping is given `notice` seconds to
        end: a client's abort seen by another instance may not show here yet. False if
        the run is still going then: the thread is really busy."""
        active = await self._active_in_thread(user_id, thread_id)
        if active is not None and not self._supervisor.executing(active.id):
            # A run of this instance that was asked to stop and ended while we read is
            # forgotten here already, and the row we read may predate its end: read again.
            active = await self._active_in_thread(user_id, thread_id)
        if active is None:
            return True  # it ended meanwhile
        stopping = self._supervisor.cancelling(active.id) or active.cancel_reason is not None
        timeout = self._supervisor.leases.ttl if stopping else notice
        return timeout > 0 and await self._supervisor.wait_ended(active.id, timeout=timeout)

    async def _active_in_thread(self, user_id: str, thread_id: str) -> Run | None:
        async with self._db.read() as session:
            return await RunRepository(session, user_id).active_in_thread(thread_id)

    def abandon(self, user_id: str, run_id: str, reason: str = "cancelled_by_user") -> None:
        """The client that started the run and was following it left before its end:
        cancel it, as a front end that aborts expects. Called from code being torn down
        (a stream cancelled with its connection), so nothing here is awaited: a run
        executing here is asked at once; one executing elsewhere, in a task of its own.
        A run that ended meanwhile is left alone, and so are runs while the server
        stops (its shutdown gives them their grace, and ends them itself)."""
        if self._supervisor.closing or self._supervisor.cancel(run_id, reason):
            return
        task = asyncio.create_task(self._cancel_quietly(user_id, run_id, reason))
        self._abandoning.add(task)
        task.add_done_callback(self._abandoning.discard)

    async def _cancel_quietly(self, user_id: str, run_id: str, reason: str) -> None:
        # It ended (or its thread went) meanwhile: nothing to cancel.
        with contextlib.suppress(AppError):
            await self.cancel(user_id, run_id, reason)

    async def delete_thread(self, user_id: str, thread_id: str) -> None:
        """Delete the user's thread. A run in progress there is cancelled and its end
        (agent_cancelled, open tool calls closed) written before the thread goes."""
        for _ in range(DELETE_ATTEMPTS):
            async with self._db.read() as session:
                if await ThreadRepository(session, user_id).get(thread_id) is None:
                    raise not_found("thread")
                active = await RunRepository(session, user_id).active_in_thread(thread_id)
            if active is not None:
                await self._end_now(active)
            async with self._db.session() as session:
                if await RunRepository(session, user_id).active_in_thread(thread_id) is None:
                    if not await ThreadRepository(session, user_id).delete(thread_id):
                        raise not_found("thread")
                    return
        raise _busy()

    async def _end_now(self, run: Run) -> None:
        """Cancel an active run and return once its terminal event is stored."""
        reason = "cancelled_by_user"
        if self._supervisor.cancel(run.id, reason):
            await self._supervisor.finished(run.id)
        elif await self._supervisor.cancel_elsewhere(run.id, reason):
            # Executing on another instance: it acts at once, or at its next renewal.
            await self._supervisor.wait_ended(run.id, timeout=2 * self._supervisor.leases.ttl)


@dataclass(frozen=True)
class _RunExtra:
    client_tools: tuple[ToolSpec, ...] = ()
    resume: tuple[ChatMessage, ...] = ()
    resume_seq: int | None = None


def _is_active_run_conflict(exc: IntegrityError) -> bool:
    message = str(exc.orig)
    # PostgreSQL names the index; SQLite names the column it covers.
    return "uq_runs_one_active_per_thread" in message or "runs.thread_id" in message


def _shutting_down() -> AppError:
    return AppError(503, "shutting_down", "the server is shutting down; try again shortly")


def _too_many_runs() -> AppError:
    return AppError(
        429,
        "too_many_runs",
        "you have as many runs in progress as allowed; wait for one to end",
        headers={"Retry-After": "1"},
    )


def _busy() -> AppError:
    return AppError(409, "run_in_progress", "this thread already has a run in progress")
