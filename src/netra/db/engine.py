"""The async engine and session factory for one Netra process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, event, make_url, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from netra.files import private_file

T = TypeVar("T")


class CommitFailed(Exception):
    """The COMMIT itself failed: the transaction may or may not have been committed."""


class EncodedJSON(str):
    """JSON text already encoded: written to a JSON column as it is, not encoded again."""

    __slots__ = ()


def _json_dumps(value: Any) -> str:
    if isinstance(value, EncodedJSON):
        return value
    return orjson.dumps(value).decode()


_JSON = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout.

    PostgreSQL connections are not pinged before each use (that was a round trip per
    transaction): a connection found dead fails its transaction and is replaced, and
    the event log writer retries a batch that failed before its commit.
    """
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            private_file(Path(database))  # else SQLite creates it readable by everyone
        engine = create_async_engine(url, connect_args={"timeout": 30}, **_JSON, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # Bounded waits: an unreachable server fails a request, a renewal or a shutdown
    # step instead of hanging it (asyncpg's connect timeout, then one per statement).
    timeouts = {"timeout": 5, "command_timeout": 60}
    return create_async_engine(
        url, pool_size=10, max_overflow=20, connect_args=timeouts, **_JSON, **kwargs
    )


class Database:
    """Owns the engine; hands out sessions. One per app, never module-level."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.is_sqlite = url.startswith("sqlite")
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time, and a writer that finds the file locked
        # backs off in sleeps of up to 100 ms. Queueing writes in-process instead
        # keeps latency low; reads need no turn (WAL). PostgreSQL needs no such thing.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._lock_holder: asyncio.Task[Any] | None = None
        # The event log's batches on SQLite: one plain sqlite3 connection in one thread,
        # so a batch of any size is one hop off the event loop, not one per statement.
        self._sqlite_writer: Engine | None = None
        self._sqlite_thread: ThreadPoolExecutor | None = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error."""
        async with self.writing(), self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only; on SQLite it does not wait for the writer."""
        async with self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """Hold SQLite's in-process write turn (nothing on PostgreSQL)."""
        if self._write_lock is None:
            yield
            return
        task = asyncio.current_task()
        if task is not None and self._lock_holder is task:
            raise RuntimeError("nested Database.session() in one task would deadlock on SQLite")
        async with self._write_lock:
            self._lock_holder = task
            try:
                yield
            finally:
                self._lock_holder = None

    async def run_transaction(self, work: Callable[[Connection], T]) -> T:
        """Run `work` on a connection in one transaction that commits if it returns.

        Synchronous SQLAlchemy Core code, the same on both databases: on PostgreSQL it
        runs on the async connection (each statement a round trip); on SQLite, under
        the write turn, in the writer thread with all its statements in one hop. An
        error from `work` means nothing was written; an error from the COMMIT raises
        CommitFailed, since the outcome is then unknown.

        On PostgreSQL, a connection found dead before the COMMIT (the server restarted,
        failed over, or dropped it) wrote nothing: the work runs once more, on a fresh
        connection (SQLAlchemy discards the pool's other connections of that age).
        """
        if not self.is_sqlite:
            for attempt in range(2):
                try:
                    async with self.engine.connect() as connection:
                        result = await connection.run_sync(work)
                        try:
                            await connection.commit()
                        except Exception as exc:
                            raise CommitFailed(str(exc)) from exc
                        return result
                except DBAPIError as exc:
                    if attempt or not exc.connection_invalidated:
                        raise
            raise AssertionError("unreachable")
        async with self.writing():
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._writer_thread(), self._sqlite_work, work)

    def _writer_thread(self) -> ThreadPoolExecutor:
        if self._sqlite_thread is None:
            url = self.engine.url.set(drivername="sqlite")
            self._sqlite_writer = create_sync_engine(
                url, connect_args={"timeout": 30, "check_same_thread": False}, **_JSON
            )
            event.listen(self._sqlite_writer, "connect", _sqlite_pragmas)
            self._sqlite_thread = ThreadPoolExecutor(1, thread_name_prefix="netra-sqlite-writer")
        return self._sqlite_thread

    def _sqlite_work(self, work: Callable[[Connection], T]) -> T:
        assert self._sqlite_writer is not None
        with self._sqlite_writer.connect() as connection:
            result = work(connection)
            try:
                connection.commit()
            except Exception as exc:
                raise CommitFailed(str(exc)) from exc
            return result

    async def ping(self) -> None:
        """One round trip; a pooled connection found dead is replaced once."""
        for attempt in range(2):
            try:
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
                return
            except DBAPIError as exc:
                if attempt or not exc.connection_invalidated:
                    raise

    async def dispose(self) -> None:
        if self._sqlite_thread is not None:
            assert self._sqlite_writer is not None
            await asyncio.get_running_loop().run_in_executor(
                self._sqlite_thread, self._sqlite_writer.dispose
            )
            self._sqlite_thread.shutdown()
            self._sqlite_thread = None
        await self.engine.dispose()
