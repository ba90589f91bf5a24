"""The pytest plugin's database fixtures, seen from a fresh pytest process.

A fresh process matters: in this session the `postgres` fixture is usually set
up already, which hides what happens when `database_url` is the first fixture
to need PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncpg
import pytest

from netra.env import IsolatedEnvironment
from netra.testing.services import PostgresService

INNER_TIMEOUT = 120

INNER_TEST = """
async def test_database_url_is_usable(database_url):
    from netra.db.engine import Database

    db = Database(database_url)
    try:
        await db.ping()
    finally:
        await db.dispose()
    assert database_url.split("+")[0] in ("sqlite", "postgresql")
"""


async def template_databases(postgres: PostgresService) -> set[str]:
    connection = await asyncpg.connect(postgres.url.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await connection.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'netra_template_%'"
        )
    finally:
        await connection.close()
    return {row["datname"] for row in rows}


async def drop_databases(postgres: PostgresService, names: set[str]) -> None:
    connection = await asyncpg.connect(postgres.url.replace("postgresql+asyncpg", "postgresql"))
    try:
        for name in names:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def inner_pytest(
    directory: Path, env: IsolatedEnvironment, *args: str
) -> tuple[int | None, str]:
    """A pytest subprocess on purpose: the plugin under test must load in a fresh session."""
    process = await asyncio.create_subprocess_exec(  # netra: ignore[NC006]
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        *args,
        cwd=directory,
        env=env.as_dict(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    raw, _ = await asyncio.wait_for(process.communicate(), INNER_TIMEOUT)
    return process.returncode, raw.decode()


async def test_database_url_works_when_it_is_the_first_fixture_to_need_postgres(
    postgres: PostgresService, netra_env: IsolatedEnvironment, tmp_path: Path
) -> None:
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    # Point the inner session at this session's server so it starts nothing of its own.
    netra_env.set("NETRA_TEST_DATABASE_URL", postgres.url)
    before = await template_databases(postgres)
    try:
        returncode, output = await inner_pytest(tmp_path, netra_env, "test_inner.py")
    finally:
        # The plugin keeps its template database on a server it did not start.
        await drop_databases(postgres, await template_databases(postgres) - before)

    assert returncode == 0, output
    assert "2 passed" in output, output


XDIST_INNER = """
import os
from pathlib import Path

import pytest

@pytest.mark.parametrize("n", range(4))
def test_record_the_services(n, postgres, redis_service):
    worker = os.environ["PYTEST_XDIST_WORKER"]
    line = f"{worker} {postgres.source} {postgres.url} {redis_service.url}"
    with Path("seen.txt").open("a") as seen:
        seen.write(line + "\\n")
    assert postgres.template
"""


async def test_under_plain_pytest_xdist_the_controller_starts_the_services_once(
    netra_env: IsolatedEnvironment, tmp_path: Path
) -> None:
    (tmp_path / "test_inner.py").write_text(XDIST_INNER)
    for name in ("NETRA_TEST_DATABASE_URL", "NETRA_TEST_REDIS_URL"):
        netra_env.set(name, None)  # this run's services stay out of it

    # xdist's controller must be a fresh session.
    returncode, output = await inner_pytest(tmp_path, netra_env, "-n", "2", "test_inner.py")

    assert returncode == 0, output
    seen = [line.split() for line in (tmp_path / "seen.txt").read_text().splitlines()]
    assert {worker for worker, *_ in seen} == {"gw0", "gw1"}
    assert {source for _, source, *_ in seen} == {"url"}  # handed down by the controller
    (postgres_url,) = {url for *_, url, _ in seen}
    (redis_url,) = {url for *_, url in seen}
    with pytest.raises((OSError, asyncpg.PostgresError)):  # and stopped at the end
        await asyncpg.connect(postgres_url.replace("+asyncpg", ""), timeout=5)
    assert redis_url.startswith("redis://127.0.0.1:")
