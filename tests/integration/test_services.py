"""Service discovery in netra.testing.services: explicit URL, PATH binaries, pgserver."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import asyncpg
import pytest

from netra.env import IsolatedEnvironment
from netra.testing.services import (
    PostgresService,
    obtain_postgres,
    postgres_binaries,
    start_postgres,
)

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


def test_without_binaries_on_the_path_the_pgserver_package_is_used() -> None:

    found = postgres_binaries(NO_BINARIES)

    assert found is not None
    bin_dir, source = found
    assert source == "pgserver"
    assert "pgserver" in bin_dir.parts
    assert (bin_dir / "initdb").is_file()
    assert (bin_dir / "postgres").is_file()


def test_binaries_on_the_path_win_over_the_pgserver_package() -> None:
    bundled = postgres_binaries(NO_BINARIES)
    assert bundled is not None

    found = postgres_binaries(IsolatedEnvironment({"PATH": str(bundled[0])}))

    assert found == (bundled[0].resolve(), "path")


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

    service = start_postgres(private / package.name / "pginstall" / "bin", "pgserver")
    try:
        assert service.process is not None
        assert service.process.poll() is None
    finally:
        service.stop()
    assert service.data_dir is not None
    assert not service.data_dir.exists()
