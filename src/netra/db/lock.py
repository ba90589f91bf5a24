"""An exclusive claim on a database by one Netra process.

With the in-process event bus, a run's events reach only connections of the
process executing it, and startup ends any run still marked active. Both are
right only while a single process uses the database, so without Redis the
process holds this lock for its whole life: an advisory lock on PostgreSQL, a
lock file beside the SQLite file. Either is released by the OS if the process
dies. With Redis (PostgreSQL only) there is no lock: run leases take its place.
"""

from __future__ import annotations

import fcntl
import os

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from netra.db.engine import Database

# An arbitrary, fixed advisory-lock key: "netra" in ASCII.
ADVISORY_KEY = 0x6E65747261


class DatabaseInUse(Exception):
    """Another Netra process already holds the database."""


class DatabaseLock:
    def __init__(self, connection: AsyncConnection | None, lock_fd: int | None) -> None:
        self._connection = connection
        self._lock_fd = lock_fd

    @classmethod
    async def acquire(cls, db: Database) -> DatabaseLock:
        busy = (
            "another Netra process is already serving this database; with events and state "
            "in-process, only one instance may use it (on PostgreSQL, set NETRA_REDIS_URL "
            "to run several)"
        )
        if db.engine.dialect.name == "sqlite":
            path = _sqlite_path(db)
            fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise DatabaseInUse(f"{busy} ({path})") from None
            return cls(None, fd)
        connection = await db.engine.connect()
        held = await connection.scalar(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
        )
        # The lock belongs to the session, not the transaction: commit, so the holder is
        # not "idle in transaction" (which servers often time out, dropping the lock).
        await connection.commit()
        if not held:
            await connection.close()
            raise DatabaseInUse(busy)
        return cls(connection, None)

    async def release(self) -> None:
        if self._connection is not None:
            try:
                await self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY}
                )
                await self._connection.commit()
                await self._connection.close()
            except Exception:  # the session is gone, and the lock with it
                await self._connection.invalidate()
        if self._lock_fd is not None:
            os.close(self._lock_fd)


def _sqlite_path(db: Database) -> str:
    return os.path.abspath(db.engine.url.database or "netra.db")
