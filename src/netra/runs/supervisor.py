"""Executing runs in this process, and ending every run exactly once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select

from netra.agents.context import ExecutionContextFactory, RunMeter
from netra.agents.engine import AgentEngine, StepLimitError
from netra.agents.models.base import ChatMessage, ModelError, ToolSpec
from netra.agents.registry import AgentRegistry, UnknownAgentError
from netra.analytics.records import Outcome, RunRecord
from netra.db.engine import Database
from netra.db.models import ACTIVE_RUN_STATUSES, Run
from netra.db.repositories import RunEnd, run_events
from netra.db.types import utcnow
from netra.observability import Observability, logs
from netra.quotas import PerUserQuota
from netra.realtime.bus import EventBus
from netra.realtime.emitter import RunEmitter
from netra.realtime.events import TERMINAL_EVENTS, EventType
from netra.realtime.log import EventLogError, RunAlreadyEnded
from netra.runs.leases import RunLeases

log = logging.getLogger(__name__)

TERMINAL_WRITE_ATTEMPTS = 4
STORAGE_ERROR = {
    "code": "storage_error",
    "message": "the run's events could not be stored; see the server logs",
}
INSTANCE_LOST = {
    "code": "instance_lost",
    "message": "the server executing this run stopped before it finished",
}
INTERRUPTED = {
    "code": "interrupted",
    "message": "the server stopped while this run was in progress",
}


class AbandonedRun(Protocol):
    """What ending a run that nothing executes needs to know of it."""

    @property
    def id(self) -> str: ...
    @property
    def thread_id(self) -> str: ...
    @property
    def agent(self) -> str: ...
    @property
    def input_text(self) -> str: ...


@dataclass(frozen=True)
class RunTicket:
    """A run that has been stored and launched."""

    run_id: str
    thread_id: str
    user_id: str
    agent: str
    text: str
    start_seq: int  # the thread's last seq before this run: its events come after
    history: Sequence[ChatMessage] = ()  # the thread's recent messages, this run's last
    client_tools: Sequence[ToolSpec] = ()  # tools the client runs itself (AG-UI's `tools`)


@dataclass
class _LocalRun:
    task: asyncio.Task[None]
    started: bool = False  # _execute has begun, so cancelling the task is safe
    cancel_reason: str | None = None
    finishing: bool = False  # the terminal event is being written; too late to cancel
    # For its analytics record: when _execute began (perf_counter), its model, its usage.
    began: float = 0.0
    model: str = ""
    meter: RunMeter = field(default_factory=RunMeter)
    emitter: RunEmitter | None = None
    outcome: str = "unrecorded"  # completed, failed or cancelled, once its end is written


_OUTCOMES: dict[EventType, Outcome] = {
    EventType.AGENT_COMPLETED: "completed",
    EventType.AGENT_ERROR: "failed",
    EventType.AGENT_CANCELLED: "cancelled",
}


class RunSupervisor:
    """Owns the tasks of the runs executing in this process."""

    def __init__(
        self,
        db: Database,
        registry: AgentRegistry,
        contexts: ExecutionContextFactory,
        engine: AgentEngine,
        run_timeout: float,
        *,
        leases: RunLeases,
        bus: EventBus,
        max_runs_per_user: int,
        record_run: Callable[[RunRecord], None] | None = None,
        obs: Observability | None = None,
    ) -> None:
        """`record_run` gets the analytics record of each run this instance ends (the
        instance whose fenced write ended it), once; it must not wait."""
        self._db = db
        self._record_run = record_run
        self._obs = obs or Observability()
        self.leases = leases
        self._bus = bus
        bus.on_cancel(self._cancel_asked)
        # A user's run holds a slot from admit() until its task ends.
        self._per_user = PerUserQuota(max_runs_per_user)
        self._registry = registry
        self._contexts = contexts
        self._engine = engine
        self._run_timeout = run_timeout
        self._runs: dict[str, _LocalRun] = {}
        self._ending: set[str] = set()  # abandoned runs being ended, one writer each
        # Runs being stored right now, each launched next, and a cancel asked meanwhile.
        self._admitting: dict[str, str | None] = {}
        self._changed = asyncio.Event()  # a run was admitted or finished
        self._closing = False
        self._stopping: asyncio.Future[None] | None = None
        self._healthy_since: float | None = None  # leases renewed without a miss since

    @property
    def active(self) -> int:
        return len(self._runs)

    @property
    def max_runs_per_user(self) -> int:
        return self._per_user.limit

    def runs_of(self, user_id: str) -> int:
        """The user's runs admitted or executing here."""
        return self._per_user.held(user_id)

    @property
    def closing(self) -> bool:
        return self._closing

    def admit(self, user_id: str, run_id: str) -> bool:
        """Announce a run about to be stored, so that shutdown waits for its launch and
        a cancel that finds it stored but not yet launched is kept for the launch;
        False (and nothing announced) if the user already has as many runs as allowed."""
        if not self._per_user.acquire(user_id):
            return False
        self._admitting[run_id] = None
        return True

    def admitted(self, user_id: str, run_id: str, launched: bool) -> None:
        del self._admitting[run_id]
        if not launched:
            self._per_user.release(user_id)
        self._changed.set()

    def launch(self, ticket: RunTicket) -> None:
        """Execute a stored run. Never refuses: a run stored during shutdown still gets
        its history, agent_started then agent_cancelled."""
        task = asyncio.create_task(self._execute(ticket), name=f"netra-{ticket.run_id}")
        reason = self._admitting.get(ticket.run_id)
        if reason is None and self._closing:
            reason = "server_shutdown"
        self._runs[ticket.run_id] = _LocalRun(task, cancel_reason=reason)
        self._obs.metrics.run_started(ticket.agent)
        task.add_done_callback(lambda done: self._forget(ticket, done))

    def cancel(self, run_id: str, reason: str) -> bool:
        """Ask a local run to stop; False if it is not running in this process."""
        run = self._runs.get(run_id)
        if run is None:
            if run_id not in self._admitting:
                return False
            if self._admitting[run_id] is None:  # stored, about to launch: it starts cancelled
                self._admitting[run_id] = reason
            return True
        if run.task.done():  # it is ending here; _forget has not run yet
            return True
        if run.cancel_reason is None and not run.finishing:
            run.cancel_reason = reason
            # A task cancelled before its first step would never run _execute and so
            # never write its events; such a run notices the reason right after starting.
            if run.started:
                run.task.cancel()
        return True

    def executing(self, run_id: str) -> bool:
        """True while the run `run_id` executes in this process."""
        return run_id in self._runs

    def cancelling(self, run_id: str) -> bool:
        """True while a local run that was asked to stop has not ended yet."""
        run = self._runs.get(run_id)
        return run is not None and run.cancel_reason is not None

    async def finished(self, run_id: str) -> None:
        """Return once the local run `run_id` has ended (at once if it is not running here)."""
        run = self._runs.get(run_id)
        if run is not None:
            await asyncio.wait({run.task})  # never raises, and leaves the task alone if we stop

    async def shutdown(self, grace: float = 10.0, cancel_wait: float = 10.0) -> None:
        """Refuse new runs; give local ones `grace` seconds to finish, then cancel the
        rest (each still ends with agent_cancelled) and wait `cancel_wait` more. Calling
        it again waits for the same shutdown."""
        self._closing = True
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop_runs(grace, cancel_wait))
        await asyncio.shield(self._stopping)

    async def _stop_runs(self, grace: float, cancel_wait: float) -> None:
        await self._wait_for_runs(grace, cancel=False)
        await self._wait_for_runs(cancel_wait, cancel=True)
        for run in self._runs.values():
            log.warning(
                "%s did not end within %g s of shutdown", run.task.get_name(), grace + cancel_wait
            )

    async def _wait_for_runs(self, timeout: float, *, cancel: bool) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # Loop: a run being stored as shutdown began is launched (already cancelled)
        # while we wait, and must end before the database closes.
        while (self._runs or self._admitting) and (left := deadline - loop.time()) > 0:
            if cancel:
                for run_id in list(self._runs):
                    self.cancel(run_id, "server_shutdown")
            self._changed.clear()
            waits: list[asyncio.Future[Any]] = [run.task for run in self._runs.values()]
            waits.append(asyncio.ensure_future(self._changed.wait()))
            await asyncio.wait(waits, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            waits[-1].cancel()

    async def cancel_elsewhere(self, run_id: str, reason: str) -> bool:
        """Cancel a run that is not executing here. A live instance executing it is
        asked (durably, and told at once through the fan-out); a run nobody executes
        is claimed and ended here. False if it had already ended."""
        await self.leases.request_cancel(run_id, reason)
        claimed = await self.leases.claim(run_id)
        if claimed is not None:
            data = {"reason": claimed.cancel_reason or reason}
            return await self.end_abandoned(claimed, EventType.AGENT_CANCELLED, data)
        async with self._db.read() as session:
            run = await session.get(Run, run_id)
        if run is None or run.status not in ACTIVE_RUN_STATUSES:
            return False
        await self._bus.notify_cancel(run.thread_id, run_id, run.cancel_reason or reason)
        return True

    def _cancel_asked(self, run_id: str, reason: str) -> None:
        """Another instance asked to cancel a run (it may be executing here)."""
        self.cancel(run_id, reason)

    async def wait_ended(self, run_id: str, timeout: float) -> bool:
        """Wait until the run has ended, wherever it executes; False on timeout."""
        local = self._runs.get(run_id)
        if local is not None:
            ended, _ = await asyncio.wait({local.task}, timeout=timeout)
            return bool(ended)
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + timeout, 0.02
        while True:
            async with self._db.read() as session:
                run = await session.get(Run, run_id)
            if run is None or run.status not in ACTIVE_RUN_STATUSES:
                return True
            if loop.time() + pause > deadline:
                return False
            await asyncio.sleep(pause)  # another instance is ending it
            pause = min(pause * 2, 0.5)

    async def keep_leases(self) -> None:
        """Until cancelled: `maintain_leases` every lease interval."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.leases.interval)
            try:
                async with asyncio.timeout(self.leases.interval):
                    await self.maintain_leases(loop.time())
            except Exception as exc:  # the database is unreachable: try again next time
                log.exception("renewing or sweeping run leases failed: %r", exc)

    async def maintain_leases(self, now: float) -> None:
        """Renew the leases of the runs executing here and act on the cancels asked for
        them; then end the runs of any instance that stopped renewing its own.

        Only after this instance has itself renewed without a miss for a whole lease
        (`now` is the loop's clock): after a database outage every instance's leases
        have expired, and the first to sweep must not end the runs of the others
        before they could renew.
        """
        try:
            await self.renew_leases()
        except BaseException:
            self._healthy_since = None
            raise
        if self._healthy_since is None:
            self._healthy_since = now
        if not self._closing and now - self._healthy_since >= self.leases.ttl:
            await self.sweep()

    async def renew_leases(self) -> None:
        # Launched runs are stored; a run still being admitted may not be yet, so its
        # absence from what the renewal found says nothing.
        launched = list(self._runs)
        held = await self.leases.renew([*launched, *self._admitting])
        for run_id in launched:
            local = self._runs.get(run_id)
            if run_id not in held:
                if local is not None and not local.finishing:
                    # Claimed by another instance (ours had expired): its writes are refused.
                    log.warning("run %s: its lease was taken over; stopping it here", run_id)
                    self.cancel(run_id, "lease_lost")
            elif reason := held[run_id]:
                self.cancel(run_id, reason)

    async def sweep(self) -> int:
        """End the runs whose instance is gone; returns how many were ended here."""
        claimed = await self.leases.claim_expired([*self._runs, *self._admitting])
        ended = 0
        for run in claimed:
            if run.cancel_reason is not None:
                type_, data = EventType.AGENT_CANCELLED, {"reason": run.cancel_reason}
            else:
                type_, data = EventType.AGENT_ERROR, INSTANCE_LOST
            try:
                ended += await self.end_abandoned(run, type_, data)
            except Exception:  # its lease expires again, and the next sweep retries
                log.exception("run %s: ending it after its instance was lost failed", run.id)
        if ended:
            log.warning("ended %d run(s) of an instance that stopped", ended)
        return ended

    async def recover(self) -> int:
        """The only instance, starting: end every run left active by the previous one."""
        ended = 0
        for run in await self.leases.claim_all():
            ended += await self.end_abandoned(run, EventType.AGENT_ERROR, INTERRUPTED)
        return ended

    async def end_abandoned(
        self, run: AbandonedRun, type_: EventType, data: dict[str, Any]
    ) -> bool:
        """End a run that no task is executing. False if it had already ended."""
        if run.id in self._runs:
            raise RuntimeError(f"run {run.id} is executing here; cancel it instead")
        if run.id in self._ending:  # a concurrent cancel is already ending it
            return True
        self._ending.add(run.id)
        try:
            return await self._end_from_history(
                run.id, run.thread_id, run.agent, run.input_text, type_, data
            )
        finally:
            self._ending.discard(run.id)

    def _forget(self, ticket: RunTicket, task: asyncio.Task[None]) -> None:
        run_id = ticket.run_id
        self._runs.pop(run_id, None)
        self._per_user.release(ticket.user_id)
        self._changed.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("run %s could not record its end", run_id, exc_info=task.exception())

    async def _execute(self, ticket: RunTicket) -> None:
        # The run's own task: whatever it logs carries its ids, its spans are the run's.
        logs.bind(user_id=ticket.user_id, thread_id=ticket.thread_id, run_id=ticket.run_id)
        attributes = {
            "netra.agent": ticket.agent,
            "netra.run_id": ticket.run_id,
            "netra.thread_id": ticket.thread_id,
        }
        local = self._runs[ticket.run_id]
        with self._obs.tracing.span("run", attributes) as span:
            await self._execute_run(ticket)
            span.set_attribute("netra.outcome", local.outcome)

    async def _execute_run(self, ticket: RunTicket) -> None:
        local = self._runs[ticket.run_id]
        local.started = True
        local.began = time.perf_counter()
        ctx = self._contexts.create(ticket.user_id, ticket.thread_id, ticket.run_id, ticket.agent)
        local.meter, local.emitter = ctx.meter, ctx.emitter
        local.model = self._model_of(ticket.agent)
        deadline = asyncio.timeout(self._run_timeout)
        try:
            await ctx.emitter.emit(
                EventType.AGENT_STARTED, {"agent": ticket.agent, "input": ticket.text}
            )
            if local.cancel_reason is not None:  # cancelled before it could start
                raise asyncio.CancelledError
            agent = self._registry.build(ticket.agent)
            local.model = agent.model.name
            async with deadline:
                answer = await self._engine.run(
                    ctx, agent, list(ticket.history), ticket.client_tools
                )
            usage = answer.usage.as_dict() if answer.usage is not None else None
            data: dict[str, Any] = {
                "message_id": answer.message_id,
                "text": answer.text,
                "usage": usage,
            }
            stored_id: str | None = answer.message_id
            if answer.turn is not None:
                # The run waits for the client's tools: the turn is kept in the event (a
                # follow-up run continues from it), not as a message of the thread.
                data["client_tool_calls"] = [
                    {"tool_call_id": call.id, "tool": call.name, "args": call.arguments}
                    for call in answer.client_calls
                ]
                data["turn"] = answer.turn.as_data()
                stored_id = None
            await self._finish(
                ticket,
                local,
                ctx.emitter,
                EventType.AGENT_COMPLETED,
                data,
                RunEnd("completed", usage=usage, message_id=stored_id, message_text=answer.text),
            )
        except asyncio.CancelledError:
            reason = local.cancel_reason or "cancelled"
            await self._finish(
                ticket,
                local,
                ctx.emitter,
                EventType.AGENT_CANCELLED,
                {"reason": reason},
                RunEnd("cancelled"),
            )
        except TimeoutError:
            if not deadline.expired():
                log.exception("run %s: a timeout inside the agent", ticket.run_id)
                await self._fail(
                    ticket,
                    local,
                    ctx.emitter,
                    "internal_error",
                    "an operation inside the run timed out",
                )
            else:
                await self._fail(
                    ticket,
                    local,
                    ctx.emitter,
                    "timeout",
                    f"the run took longer than {self._run_timeout:g} s",
                )
        except StepLimitError as exc:
            await self._fail(ticket, local, ctx.emitter, "step_limit", str(exc))
        except ModelError as exc:
            await self._fail(ticket, local, ctx.emitter, exc.code, exc.message)
        except EventLogError:
            await self._fail(ticket, local, ctx.emitter, **STORAGE_ERROR)
        except Exception:
            log.exception("run %s failed", ticket.run_id)
            await self._fail(
                ticket,
                local,
                ctx.emitter,
                "internal_error",
                "the run failed unexpectedly; see server logs",
            )

    async def _fail(
        self, ticket: RunTicket, local: _LocalRun, emitter: RunEmitter, code: str, message: str
    ) -> None:
        data = {"code": code, "message": message}
        await self._finish(
            ticket, local, emitter, EventType.AGENT_ERROR, data, RunEnd("failed", error_code=code)
        )

    async def _finish(
        self,
        ticket: RunTicket,
        local: _LocalRun,
        emitter: RunEmitter,
        type_: EventType,
        data: dict[str, Any],
        end: RunEnd,
    ) -> None:
        """Write the run's terminal event; if its event log failed, end it from its
        stored history with agent_error instead (retrying: a run left without its
        terminal event would block its thread)."""
        local.finishing = True
        try:
            await emitter.end(type_, data, end)
        except RunAlreadyEnded:
            return
        except EventLogError:
            pass
        else:  # this instance's fenced write ended the run: it records it
            self._record(
                ticket.run_id,
                ticket.user_id,
                ticket.thread_id,
                ticket.agent,
                type_,
                data,
                local=local,
                tool_calls=emitter.tool_calls,
            )
            return
        for attempt in range(TERMINAL_WRITE_ATTEMPTS):
            try:
                await self._end_from_history(
                    ticket.run_id,
                    ticket.thread_id,
                    ticket.agent,
                    ticket.text,
                    EventType.AGENT_ERROR,
                    STORAGE_ERROR,
                    local=local,
                )
                return
            except Exception:
                if attempt == TERMINAL_WRITE_ATTEMPTS - 1:
                    raise
                log.warning("run %s: writing its end failed; retrying", ticket.run_id)
                await asyncio.sleep(0.2 * 2**attempt)

    async def _end_from_history(
        self,
        run_id: str,
        thread_id: str,
        agent: str,
        text: str,
        type_: EventType,
        data: dict[str, Any],
        local: _LocalRun | None = None,
    ) -> bool:
        """Give a run that nothing writes for anymore a valid ending, from what is stored:
        its missing agent_started, an error for each open tool call, the terminal event.
        False if it had already ended. `local` is what this process measured of the run
        if it executed it here."""
        async with self._db.read() as session:
            stored = await run_events(session, run_id)
            owner = (
                await session.execute(select(Run.owner_id, Run.created_at).where(Run.id == run_id))
            ).one_or_none()
        emitter = self._contexts.emitter(thread_id, run_id)
        if any(event.type in TERMINAL_EVENTS for event in stored):
            # Its end was written, perhaps by a COMMIT that reported failure after
            # being applied, which nobody published: followers must still see it.
            await emitter.republish(stored)
            return False
        if not stored:  # every run's history begins with agent_started
            await emitter.emit(EventType.AGENT_STARTED, {"agent": agent, "input": text})
        now = time.perf_counter()
        for event in stored:
            if event.type == EventType.TOOL_EXECUTING:
                emitter.open_tool_calls[event.data["tool_call_id"]] = (event.data["tool"], now)
            elif event.type == EventType.TOOL_COMPLETED:
                emitter.open_tool_calls.pop(event.data["tool_call_id"], None)
        status = "cancelled" if type_ is EventType.AGENT_CANCELLED else "failed"
        try:
            await emitter.end(type_, data, RunEnd(status, error_code=data.get("code")))
        except RunAlreadyEnded:
            return False
        if owner is not None:  # None: the thread was deleted meanwhile
            tool_calls = sum(event.type == EventType.TOOL_EXECUTING for event in stored)
            firsts = [event.ts for event in stored if event.type != EventType.AGENT_STARTED]
            self._record(
                run_id,
                owner.owner_id,
                thread_id,
                agent,
                type_,
                data,
                local=local,
                tool_calls=tool_calls,
                created_at=owner.created_at,
                first_event=firsts[0] if firsts else None,
                last_event=stored[-1].ts if stored else None,
            )
        return True

    def _observe_end(self, agent: str, outcome: str, local: _LocalRun | None) -> None:
        metrics = self._obs.metrics
        if local is None or not local.began:  # not executed here: no timings of ours
            metrics.runs_ended.labels(agent, outcome).inc()
            return
        local.outcome = outcome
        metrics.run_ended(agent, outcome, time.perf_counter() - local.began)
        if local.emitter is not None and local.emitter.first_event_at is not None:
            first = local.emitter.first_event_at - local.began
            metrics.time_to_first_event.labels(agent).observe(first)

    def _model_of(self, agent: str) -> str:
        try:
            return self._registry.spec(agent).model
        except UnknownAgentError:  # an agent since removed from the agents file
            return ""

    def _record(
        self,
        run_id: str,
        user_id: str,
        thread_id: str,
        agent: str,
        type_: EventType,
        data: dict[str, Any],
        *,
        local: _LocalRun | None,
        tool_calls: int,
        created_at: datetime | None = None,
        first_event: datetime | None = None,
        last_event: datetime | None = None,
    ) -> None:
        """Hand the run's analytics record to the sink. Timings are what this process
        measured when it executed the run, else from the run's stored rows, from its
        creation to its last stored event (0 without one): a run ended after its
        instance was lost, or at a restart hours later, lasted as long as it showed
        signs of work (its tokens are unknown, so 0). The same end goes into the metrics."""
        self._observe_end(agent, _OUTCOMES[type_], local)
        if self._record_run is None:
            return
        first_event_ms: float | None = None
        if local is not None and local.began:
            duration_ms = (time.perf_counter() - local.began) * 1000
            if local.emitter is not None and local.emitter.first_event_at is not None:
                first_event_ms = (local.emitter.first_event_at - local.began) * 1000
            usage, model = local.meter.usage, local.model
        else:
            start = created_at or utcnow()
            duration_ms = ((last_event or start) - start).total_seconds() * 1000
            if first_event is not None:
                first_event_ms = max((first_event - start).total_seconds() * 1000, 0.0)
            usage, model = RunMeter().usage, self._model_of(agent)
        reason = data.get("code") or data.get("reason")
        record = RunRecord(
            run_id=run_id,
            user_id=user_id,
            thread_id=thread_id,
            agent=agent,
            model=model,
            outcome=_OUTCOMES[type_],
            error_code=None if type_ is EventType.AGENT_COMPLETED else reason,
            tokens_in=usage.prompt_tokens,
            tokens_out=usage.completion_tokens,
            tool_calls=tool_calls,
            first_event_ms=None if first_event_ms is None else round(first_event_ms, 3),
            duration_ms=round(max(duration_ms, 0.0), 3),
            finished_at=utcnow(),
        )
        try:
            self._record_run(record)
        except Exception:  # analytics never fails a run
            log.exception("run %s: its analytics record was not taken", run_id)
