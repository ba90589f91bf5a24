"""The async engine and session factory for one Netra process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **kwargs)


class Database:
    """Owns the engine; hands out sessions. One per app, never module-level."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time, and a writer that finds the file locked
        # backs off in sleeps of up to 100 ms. Queueing transactions in-process
        # instead keeps latency low; PostgreSQL needs no such thing.
        self._sqlite_lock = asyncio.Lock() if url.startswith("sqlite") else None
        self._lock_holder: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error."""
        if self._sqlite_lock is None:
            async with self._sessions() as session, session.begin():
                yield session
            return
        task = asyncio.current_task()
        if task is not None and self._lock_holder is task:
            raise RuntimeError("nested Database.session() in one task would deadlock on SQLite")
        async with self._sqlite_lock:
            self._lock_holder = task
            try:
                async with self._sessions() as session, session.begin():
                    yield session
            finally:
                self._lock_holder = None

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
