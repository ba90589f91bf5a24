"""An exclusive claim on a database by one Netra process.

With the in-process event bus, a run's events reach only connections of the
process executing it, and startup ends any run still marked active. Both are
right only while a single process uses the database, so without Redis the
process holds this lock for its whole life: an advisory lock on PostgreSQL, a
lock file beside the SQLite file. Either is released by the OS if the process
dies. Instances with Redis (PostgreSQL only) hold the same advisory lock shared:
they run side by side (run leases keep them apart), and an instance without
Redis, which would end their runs as its own crash's, cannot start among them.

Instances that share a database must also share the event layout on Redis: with
another NETRA_REDIS_SHARDS or NETRA_REDIS_PREFIX an instance would read streams
nobody writes. Each holds its values as advisory locks too (`agree`), and one whose
values differ from a live instance's cannot start. Like the lock, they end with the
session, so a stopped or dead instance leaves nothing to clear before a change.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Mapping

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from netra.db.engine import Database

# An arbitrary, fixed advisory-lock key: "netra" in ASCII.
ADVISORY_KEY = 0x6E65747261


#: The first key of the advisory locks that hold each agreed setting; the second is its value.
AGREED_SETTINGS = {"NETRA_REDIS_SHARDS": 0x6E657401, "NETRA_REDIS_PREFIX": 0x6E657402}


class DatabaseInUse(Exception):
    """Another Netra process already holds the database."""


_ALONE = (
    "another Netra process is already serving this database; with events and state "
    "in-process, only one instance may use it (on PostgreSQL, set NETRA_REDIS_URL on "
    "every instance to run several)"
)
_SERVED_ALONE = (
    "a Netra instance without NETRA_REDIS_URL is serving this database alone; stop it, "
    "or give it the same NETRA_REDIS_URL, before starting instances that share it"
)


class DatabaseLock:
    def __init__(
        self, connection: AsyncConnection | None, lock_fd: int | None, *, shared: bool = False
    ) -> None:
        self._connection = connection
        self._lock_fd = lock_fd
        self.shared = shared  # held by instances that share the database through Redis

    @classmethod
    async def acquire(cls, db: Database, *, shared: bool = False) -> DatabaseLock:
        if db.engine.dialect.name == "sqlite":
            if shared:
                raise ValueError("SQLite is served by one process only")
            path = _sqlite_path(db)
            fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise DatabaseInUse(f"{_ALONE} ({path})") from None
            return cls(None, fd)
        connection = await db.engine.connect()
        function = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
        held = await connection.scalar(text(f"SELECT {function}(:key)"), {"key": ADVISORY_KEY})
        # The lock belongs to the session, not the transaction: commit, so the holder is
        # not "idle in transaction" (which servers often time out, dropping the lock).
        await connection.commit()
        if not held:
            await connection.close()
            raise DatabaseInUse(_SERVED_ALONE if shared else _ALONE)
        return cls(connection, None, shared=shared)

    async def agree(self, values: Mapping[str, int]) -> None:
        """Hold each setting's value (a name of AGREED_SETTINGS -> an int from 0 to
        2**31 - 1) for this instance's life; DatabaseInUse if a live instance sharing
        the database holds another value of one. Each takes its own first, so two that
        start together with different values both see the other."""
        if self._connection is None or not self.shared:
            raise RuntimeError("only instances that share a database agree on settings")
        for name, value in values.items():
            await self._connection.execute(
                text("SELECT pg_advisory_lock_shared(:kind, :value)"),
                {"kind": AGREED_SETTINGS[name], "value": value},
            )
        held = await self._connection.execute(_AGREED_VALUES)
        await self._connection.commit()
        kinds = {kind: name for name, kind in AGREED_SETTINGS.items()}
        for kind, value in held:
            name = kinds[kind]
            if name in values and value != values[name]:
                theirs = f" ({value})" if name == "NETRA_REDIS_SHARDS" else ""
                raise DatabaseInUse(
                    f"a Netra instance serving this database runs with another {name}"
                    f"{theirs}: every instance sharing a database needs the same value"
                )

    async def release(self) -> None:
        if self._connection is not None:
            try:
                # Every advisory lock of this session: the claim and the agreed settings.
                await self._connection.execute(text("SELECT pg_advisory_unlock_all()"))
                await self._connection.commit()
                await self._connection.close()
            except Exception:  # the session is gone, and the lock with it
                await self._connection.invalidate()
        if self._lock_fd is not None:
            os.close(self._lock_fd)


# Advisory locks of two int4 keys show them as classid and objid, with objsubid 2.
_AGREED_VALUES = text(
    "SELECT DISTINCT classid::int8, objid::int8 FROM pg_locks WHERE locktype = 'advisory' "
    "AND objsubid = 2 AND classid::int8 IN ({}) AND database = "
    "(SELECT oid FROM pg_database WHERE datname = current_database())".format(
        ", ".join(str(kind) for kind in AGREED_SETTINGS.values())
    )
)


def _sqlite_path(db: Database) -> str:
    return os.path.abspath(db.engine.url.database or "netra.db")
