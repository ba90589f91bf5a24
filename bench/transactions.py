"""The cost of one database transaction on the embedded SQLite default.

The event log writer group-commits events (one transaction per batch, on SQLite
in one hop to its writer thread); this compares an empty session, a trivial one,
and appending one event or a batch of 50 (10 runs x 5) through that path.

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
from netra.db.engine import Database, EncodedJSON
from netra.db.repositories import (
    NewEvent,
    RunEvents,
    StoredRun,
    UserRepository,
    append_events,
    store_run,
)
from netra.testing.fixtures import TEST_INSTANCE, standing_lease


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

        async def new_run() -> StoredRun:
            stored = await db.run_transaction(
                lambda c: store_run(
                    c,
                    user.id,
                    "-",
                    None,
                    "bench",
                    title="-",
                    history_limit=1,
                    lease=standing_lease(),
                )
            )
            assert stored is not None
            return stored

        runs = [await new_run() for _ in range(10)]
        event = NewEvent("agent_thinking", {"t": 1}, EncodedJSON('{"t":1}'))
        one = [RunEvents(runs[0].run_id, runs[0].thread_id, [event])]
        fifty = [RunEvents(r.run_id, r.thread_id, [event] * 5) for r in runs]
        five_hundred = [RunEvents(r.run_id, r.thread_id, [event] * 50) for r in runs]

        async def empty() -> None:
            async with db.session():
                pass

        async def select_one() -> None:
            async with db.session() as session:
                await session.execute(text("SELECT 1"))

        async def append_event() -> None:
            await db.run_transaction(
                lambda connection: append_events(connection, one, TEST_INSTANCE)
            )

        async def append_batch() -> None:
            await db.run_transaction(
                lambda connection: append_events(connection, fifty, TEST_INSTANCE)
            )

        async def append_big_batch() -> None:
            await db.run_transaction(
                lambda connection: append_events(connection, five_hundred, TEST_INSTANCE)
            )

        async def store() -> None:
            await new_run()

        await _time("empty session (no statement)", count, empty)
        await _time("session with SELECT 1", count, select_one)
        await _time("append one event (UPDATE seq + INSERT)", count, append_event)
        await _time("append a batch of 50 events of 10 runs", count, append_batch)
        await _time("append a batch of 500 events of 10 runs", count, append_big_batch)
        await _time("store a run (thread, run, message)", count, store)
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    asyncio.run(main(parser.parse_args().count))
