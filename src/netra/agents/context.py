"""UserExecutionContext: everything one run may touch, built fresh for every run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from netra.db.engine import Database
from netra.db.repositories import ThreadRepository
from netra.realtime.bus import EventBus
from netra.realtime.emitter import RunEmitter
from netra.state.store import ScopedState, StateStore


@dataclass(frozen=True)
class UserExecutionContext:
    """One run's world: its user, thread and run, an emitter bound to that thread,
    the user's state scope, and database access limited to the user's own rows."""

    user_id: str
    thread_id: str
    run_id: str
    agent: str
    emitter: RunEmitter
    user_state: ScopedState
    _db: Database

    @asynccontextmanager
    async def threads(self) -> AsyncIterator[ThreadRepository]:
        """The user's threads, in a transaction. Do not emit events inside the block:
        on SQLite the emitter's write would wait for this transaction forever."""
        async with self._db.session() as session:
            yield ThreadRepository(session, self.user_id)


class ExecutionContextFactory:
    """Makes a new UserExecutionContext per run; shares only the app's infrastructure."""

    def __init__(self, db: Database, bus: EventBus, state: StateStore) -> None:
        self._db = db
        self._bus = bus
        self._state = state

    def emitter(self, thread_id: str, run_id: str) -> RunEmitter:
        return RunEmitter(self._db, self._bus, thread_id, run_id)

    def create(self, user_id: str, thread_id: str, run_id: str, agent: str) -> UserExecutionContext:
        return UserExecutionContext(
            user_id=user_id,
            thread_id=thread_id,
            run_id=run_id,
            agent=agent,
            emitter=self.emitter(thread_id, run_id),
            user_state=ScopedState(self._state, f"user-{user_id}"),
            _db=self._db,
        )
