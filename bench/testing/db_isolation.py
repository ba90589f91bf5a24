"""The cost of giving every test its own database, as the pytest plugin does.

Times what the `postgres_url` and `sqlite_url` fixtures do for each test: on
PostgreSQL, CREATE DATABASE from the worker's migrated template (FILE_COPY)
and DROP DATABASE afterwards; on SQLite, copying the migrated file. Also times
the once-per-worker part: creating and migrating the template.

    .venv/bin/python bench/testing/db_isolation.py [--count 50]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from netra.env import process_environment
from netra.testing.fixtures import migrated
from netra.testing.services import create_database, drop_database, obtain_postgres


def report(name: str, seconds: list[float]) -> None:
    print(
        f"{name:46s} median {statistics.median(seconds) * 1000:7.1f} ms"
        f"   p90 {statistics.quantiles(seconds, n=10)[-1] * 1000:7.1f} ms"
    )


async def postgres(count: int) -> None:
    service = obtain_postgres(process_environment())
    try:
        began = time.perf_counter()
        await migrated(await create_database(service, "bench_template"))
        print(
            f"{'template: create + migrate (once per worker)':46s} "
            f"{(time.perf_counter() - began) * 1000:7.1f} ms"
        )
        create, drop = [], []
        for index in range(count):
            began = time.perf_counter()
            await create_database(service, f"bench_{index}", template="bench_template")
            create.append(time.perf_counter() - began)
            began = time.perf_counter()
            await drop_database(service, f"bench_{index}")
            drop.append(time.perf_counter() - began)
        report("postgres: CREATE DATABASE from template", create)
        report("postgres: DROP DATABASE", drop)
        report("postgres: per test, both", [c + d for c, d in zip(create, drop, strict=True)])
    finally:
        service.stop()


async def sqlite(count: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        template = Path(directory) / "template.db"
        await migrated(f"sqlite+aiosqlite:///{template}")
        copies = []
        for index in range(count):
            began = time.perf_counter()
            shutil.copyfile(template, Path(directory) / f"test_{index}.db")
            copies.append(time.perf_counter() - began)
        report("sqlite: copy the migrated file, per test", copies)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    count = parser.parse_args().count
    asyncio.run(postgres(count))
    asyncio.run(sqlite(count))
