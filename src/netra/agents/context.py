"""UserExecutionContext: everything one run may touch, built fresh for every run."""

from __future__ import annotations

from dataclasses import dataclass

from netra.realtime.emitter import RunEmitter
from netra.realtime.log import EventLogWriter
from netra.state.store import ScopedState, StateStore


@dataclass(frozen=True)
class UserExecutionContext:
    """One run's world: its user, thread and run, an emitter bound to that thread,
    and the user's state scope. No database access: the run layer reads and writes."""

    user_id: str
    thread_id: str
    run_id: str
    agent: str
    emitter: RunEmitter
    user_state: ScopedState


class ExecutionContextFactory:
    """Makes a new UserExecutionContext per run; shares only the app's infrastructure."""

    def __init__(self, events: EventLogWriter, state: StateStore) -> None:
        self._events = events
        self._state = state

    def emitter(self, thread_id: str, run_id: str) -> RunEmitter:
        return RunEmitter(self._events, thread_id, run_id)

    def create(self, user_id: str, thread_id: str, run_id: str, agent: str) -> UserExecutionContext:
        return UserExecutionContext(
            user_id=user_id,
            thread_id=thread_id,
            run_id=run_id,
            agent=agent,
            emitter=self.emitter(thread_id, run_id),
            user_state=ScopedState(self._state, f"user-{user_id}"),
        )
