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


async def test_database_url_works_when_it_is_the_first_fixture_to_need_postgres(
    postgres: PostgresService, netra_env: IsolatedEnvironment, tmp_path: Path
) -> None:
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    # Point the inner session at this session's server so it starts nothing of its own.
    netra_env.set("NETRA_TEST_DATABASE_URL", postgres.url)
    before = await template_databases(postgres)
    try:
        # A pytest subprocess on purpose: the plugin under test must load in a fresh session.
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
            "test_inner.py",
            cwd=tmp_path,
            env=netra_env.as_dict(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        raw, _ = await asyncio.wait_for(process.communicate(), INNER_TIMEOUT)
    finally:
        # The plugin keeps its template database on a server it did not start.
        await drop_databases(postgres, await template_databases(postgres) - before)
    output = raw.decode()

    assert process.returncode == 0, output
    assert "2 passed" in output, output
