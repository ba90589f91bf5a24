"""UserExecutionContext: everything one run may touch, built fresh for every run."""

from __future__ import annotations

from dataclasses import dataclass, field

from netra.agents.models.base import Usage
from netra.realtime.emitter import RunEmitter
from netra.realtime.log import EventLogWriter
from netra.state.scopes import ScopedState
from netra.state.store import StateStore

#: How long a run's own state is kept (it describes one run, which ends long before).
RUN_STATE_TTL = 24 * 3600.0


@dataclass
class RunMeter:
    """What one run has used so far (kept by the engine, read for its analytics
    record when it ends, however it ends)."""

    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class UserExecutionContext:
    """One run's world: its user, thread and run, an emitter bound to that thread,
    and three state scopes: the user's, the thread's (inside the user's) and the
    run's (inside the thread's; its keys expire after `RUN_STATE_TTL` unless given
    another TTL). No database access: the run layer reads and writes."""

    user_id: str
    thread_id: str
    run_id: str
    agent: str
    emitter: RunEmitter
    user_state: ScopedState
    thread_state: ScopedState
    run_state: ScopedState
    meter: RunMeter = field(default_factory=RunMeter)


class ExecutionContextFactory:
    """Makes a new UserExecutionContext per run; shares only the app's infrastructure."""

    def __init__(
        self, events: EventLogWriter, state: StateStore, run_state_ttl: float = RUN_STATE_TTL
    ) -> None:
        self._events = events
        self._state = state
        self._run_state_ttl = run_state_ttl

    def emitter(self, thread_id: str, run_id: str) -> RunEmitter:
        return RunEmitter(self._events, thread_id, run_id)

    def create(self, user_id: str, thread_id: str, run_id: str, agent: str) -> UserExecutionContext:
        user_state = ScopedState(self._state, "user", user_id)
        thread_state = user_state.scope("thread", thread_id)
        return UserExecutionContext(
            user_id=user_id,
            thread_id=thread_id,
            run_id=run_id,
            agent=agent,
            emitter=self.emitter(thread_id, run_id),
            user_state=user_state,
            thread_state=thread_state,
            run_state=thread_state.scope("run", run_id, default_ttl=self._run_state_ttl),
        )
