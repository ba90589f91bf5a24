"""The cost of one database transaction on the embedded SQLite default.

Every agent event is persisted in its own transaction before it is published,
so this is the floor under a run's latency. Compares an empty transaction, a
trivial one, and appending one event (the run emitter's write).

    .venv/bin/python bench/transactions.py [--count 300]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import text

from netra.db import migrate
from netra.db.engine import Database
from netra.db.repositories import EventLog, ThreadRepository, UserRepository


async def _time(name: str, count: int, step: Callable[[], Awaitable[None]]) -> None:
    began = time.perf_counter()
    for _ in range(count):
        await step()
    print(f"{name:44s} {(time.perf_counter() - began) / count * 1000:6.2f} ms")


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        db = Database(f"sqlite+aiosqlite:///{data_dir}/netra.db")
        await migrate.upgrade(db.engine)
        async with db.session() as session:
            user = await UserRepository(session).add("bench@example.com", "bench", "-")
            thread = await ThreadRepository(session, user.id).add("bench")

        async def empty() -> None:
            async with db.session():
                pass

        async def select_one() -> None:
            async with db.session() as session:
                await session.execute(text("SELECT 1"))

        async def append_event() -> None:
            async with db.session() as session:
                await EventLog(session).append(thread.id, "run_bench", "agent_thinking", {"t": 1})

        await _time("empty session (no statement)", count, empty)
        await _time("session with SELECT 1", count, select_one)
        await _time("append one event (UPDATE seq + INSERT)", count, append_event)
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    asyncio.run(main(parser.parse_args().count))
