"""Schema migrations on real databases, the `netra db` CLI, and the startup schema check."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from netra.config import Settings
from netra.db import migrate
from netra.db.engine import create_engine
from netra.db.models import Base, User
from netra.db.repositories import UserRepository
from netra.env import IsolatedEnvironment
from netra.lifecycle import StartupError, start, stop

MODEL_TABLES = frozenset(Base.metadata.tables)
CLI_TIMEOUT = 120


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        names: list[str] = await conn.run_sync(lambda c: inspect(c).get_table_names())
    return set(names)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """`alembic downgrade` through the same connection hand-off as `migrate.upgrade`."""

    def _run(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(migrate.MIGRATIONS))
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_run)


@pytest.fixture
async def blank_engine(blank_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(blank_database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def test_upgrade_brings_a_blank_database_to_head_with_every_table(
    blank_engine: AsyncEngine,
) -> None:
    assert await migrate.current_revision(blank_engine) is None
    assert await table_names(blank_engine) == set()

    await migrate.upgrade(blank_engine)

    head = migrate.head_revision()
    assert head is not None
    assert await migrate.current_revision(blank_engine) == head
    assert await table_names(blank_engine) == MODEL_TABLES | {"alembic_version"}


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        diff = await conn.run_sync(differences)

    assert diff == []


async def test_upgrade_again_is_a_no_op_that_keeps_the_data(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session, session.begin():
        await UserRepository(session).add("kept@example.com", "Kept", "x")

    await migrate.upgrade(engine)
    await migrate.upgrade(engine)

    assert await migrate.current_revision(engine) == migrate.head_revision()
    assert await table_names(engine) == MODEL_TABLES | {"alembic_version"}
    async with engine.connect() as conn:
        emails = (await conn.execute(select(User.email))).scalars().all()
    assert emails == ["kept@example.com"]


async def test_downgrade_to_base_and_upgrade_again(engine: AsyncEngine) -> None:
    await downgrade(engine, "base")

    assert await migrate.current_revision(engine) is None
    assert await table_names(engine) - {"alembic_version"} == set()

    await migrate.upgrade(engine)

    assert await migrate.current_revision(engine) == migrate.head_revision()
    assert await table_names(engine) == MODEL_TABLES | {"alembic_version"}
    # The recreated schema is usable again.
    async with AsyncSession(engine) as session, session.begin():
        await UserRepository(session).add("again@example.com", "Again", "x")
    async with AsyncSession(engine) as session:
        count = await session.scalar(select(func.count()).select_from(User))
    assert count == 1


async def run_netra(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str]:
    """Run `python -m netra ARGS` and return its exit code and combined output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "netra",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
    return process.returncode or 0, output.decode()


async def test_cli_db_upgrade_and_current_on_a_blank_postgres(
    blank_postgres_url: str, netra_env: IsolatedEnvironment, tmp_path: Path
) -> None:
    netra_env.set("NETRA_DATABASE_URL", blank_postgres_url)
    netra_env.set("NETRA_DATA_DIR", str(tmp_path / "data"))
    netra_env.set("NETRA_ENV", "test")
    env = netra_env.as_dict()
    head = migrate.head_revision()
    assert head is not None

    code, upgraded = await run_netra(env, tmp_path, "db", "upgrade")
    assert code == 0, upgraded
    assert f"database schema at revision {head}" in upgraded

    code, after = await run_netra(env, tmp_path, "db", "current")
    assert code == 0, after
    assert f"current: {head}  head: {head}" in after

    engine = create_engine(blank_postgres_url)
    try:
        assert await migrate.current_revision(engine) == head
        assert await table_names(engine) == MODEL_TABLES | {"alembic_version"}
    finally:
        await engine.dispose()


async def test_start_refuses_an_unmigrated_database_and_says_how_to_fix_it(
    blank_database_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(blank_database_url, auto_migrate=False)

    with pytest.raises(StartupError, match="run `netra db upgrade`") as caught:
        await start(settings)

    assert "revision none" in str(caught.value)
    assert str(migrate.head_revision()) in str(caught.value)


async def test_start_on_postgres_does_not_migrate_by_default(
    blank_postgres_url: str, make_settings: Callable[..., Settings]
) -> None:
    with pytest.raises(StartupError, match="netra db upgrade"):
        await start(make_settings(blank_postgres_url))

    engine = create_engine(blank_postgres_url)
    try:
        assert await migrate.current_revision(engine) is None
    finally:
        await engine.dispose()


async def test_start_with_auto_migrate_brings_a_blank_database_to_head(
    blank_database_url: str, make_settings: Callable[..., Settings]
) -> None:
    platform = await start(make_settings(blank_database_url, auto_migrate=True))
    try:
        assert await migrate.current_revision(platform.db.engine) == migrate.head_revision()
    finally:
        await stop(platform)
