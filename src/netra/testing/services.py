"""Real services for tests: find or start a PostgreSQL server.

Discovery order (DESIGN section 7):
1. an explicit URL in NETRA_TEST_DATABASE_URL;
2. PostgreSQL server binaries (initdb, postgres) on the PATH;
3. the binaries shipped in the `pgserver` Python package;
4. otherwise ServiceUnavailable, saying what to install.

A started server is a throwaway cluster in a temp dir, tuned for tests
(no fsync), on a free loopback port, removed again by `stop()`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netra.env import IsolatedEnvironment

DATABASE_URL_VAR = "NETRA_TEST_DATABASE_URL"
STARTUP_TIMEOUT = 60.0


class ServiceUnavailable(RuntimeError):
    """No way to get the service; the message says what to install or set."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PostgresService:
    """A reachable PostgreSQL server and how it was obtained."""

    url: str  # postgresql+asyncpg://user@host:port/postgres
    source: str  # "url", "path" or "pgserver"
    process: subprocess.Popen[bytes] | None = None
    data_dir: Path | None = None
    started_in: float = 0.0
    template: str | None = None  # a migrated database to clone per test
    bin_dir: Path | None = None
    port: int = 0
    _log: Any = field(default=None, repr=False)

    def database_url(self, name: str) -> str:
        """The URL of another database on the same server."""
        base, _, _ = self.url.rpartition("/")
        return f"{base}/{name}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def postgres_binaries(env: IsolatedEnvironment) -> tuple[Path, str] | None:
    """The directory holding initdb and postgres, and where it was found."""
    initdb = shutil.which("initdb", path=env.get("PATH"))
    if initdb and shutil.which("postgres", path=env.get("PATH")):
        return Path(initdb).resolve().parent, "path"
    try:
        import pgserver  # the package ships a full PostgreSQL build
    except ImportError:
        return None
    bundled = Path(pgserver.__file__).parent / "pginstall" / "bin"
    return (bundled, "pgserver") if (bundled / "initdb").exists() else None


def obtain_postgres(env: IsolatedEnvironment) -> PostgresService:
    """A PostgreSQL server for this test run, in the documented discovery order."""
    url = env.get(DATABASE_URL_VAR)
    if url:
        _, sep, rest = url.partition("://")
        return PostgresService(url=f"postgresql+asyncpg://{rest}" if sep else url, source="url")
    found = postgres_binaries(env)
    if found is None:
        raise ServiceUnavailable(
            "PostgreSQL is needed for these tests. Set NETRA_TEST_DATABASE_URL to a server "
            "you own, install PostgreSQL (initdb and postgres on the PATH), or "
            "`pip install pgserver`."
        )
    return start_postgres(*found)


def _run_as() -> dict[str, Any]:
    """PostgreSQL refuses to run as root; run it as `nobody` then."""
    if os.geteuid() != 0:
        return {}
    import pwd

    entry = pwd.getpwnam("nobody")
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def start_postgres(bin_dir: Path, source: str) -> PostgresService:
    """Initialise a throwaway cluster and start it on a free loopback port."""
    began = time.perf_counter()
    data_dir = Path(tempfile.mkdtemp(prefix="netra-pg-"))
    try:
        service = _start_cluster(bin_dir, source, data_dir)
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    try:
        _wait_until_ready(service, service.bin_dir, service.port)
    except BaseException:
        service.stop()
        raise
    service.started_in = time.perf_counter() - began
    return service


def _start_cluster(bin_dir: Path, source: str, data_dir: Path) -> PostgresService:
    identity = _run_as()
    if identity:
        os.chown(data_dir, identity["user"], identity["group"])
        if not _reachable_by_others(bin_dir):
            bin_dir = _copy_install(bin_dir, data_dir / "install")
    cluster = data_dir / "cluster"
    initdb = [str(bin_dir / "initdb"), "-D", str(cluster), "-U", "postgres"]
    initdb += ["--auth=trust", "--encoding=UTF8", "--no-sync"]
    subprocess.run(initdb, check=True, capture_output=True, **identity)
    port = free_port()
    settings = {
        "listen_addresses": "127.0.0.1",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
    }
    command = [str(bin_dir / "postgres"), "-D", str(cluster), "-p", str(port), "-k", str(data_dir)]
    for name, value in settings.items():
        command += ["-c", f"{name}={value}"]
    log = (data_dir / "postgres.log").open("wb")
    try:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal is not forwarded to it
            **identity,
        )
    except BaseException:
        log.close()
        raise
    return PostgresService(
        url=f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres",
        source=source,
        process=process,
        data_dir=data_dir,
        bin_dir=bin_dir,
        port=port,
        _log=log,
    )


def _reachable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


def _copy_install(bin_dir: Path, target: Path) -> Path:
    """Copy a relocatable PostgreSQL install (as pgserver ships it) where `nobody` can run it.

    Needed when the binaries sit under a private directory, e.g. a checkout in a
    0700 temp dir; the copy lives in the cluster's temp dir and goes with it. The
    layout is kept three levels deep because wheels repaired by auditwheel find
    their shared libraries through RPATH `$ORIGIN/../../../<package>.libs`.
    """
    install, package_root = bin_dir.parent, bin_dir.parents[2]
    relative = install.relative_to(package_root)
    for part in ("bin", "lib", "share"):
        if (install / part).is_dir():
            shutil.copytree(install / part, target / relative / part, symlinks=True)
    for libs in package_root.glob("*.libs"):
        shutil.copytree(libs, target / libs.name, symlinks=True)
    for folder in (target, *(target / relative).parents, target / relative):
        if folder.is_relative_to(target):
            folder.chmod(0o755)
    return target / relative / "bin"


def _wait_until_ready(service: PostgresService, bin_dir: Path | None, port: int) -> None:
    """Poll with pg_isready (synchronous, so this works inside or outside an event loop)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    assert bin_dir is not None
    check = [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
    while True:
        if service.process is not None and service.process.poll() is not None:
            log = (service.data_dir / "postgres.log").read_text() if service.data_dir else ""
            raise ServiceUnavailable(f"PostgreSQL exited during startup:\n{log[-2000:]}")
        if subprocess.run(check, capture_output=True).returncode == 0:
            return
        if time.monotonic() > deadline:
            raise ServiceUnavailable("PostgreSQL did not accept connections in time")
        time.sleep(0.05)


async def create_database(service: PostgresService, name: str, template: str | None = None) -> str:
    """Create an empty database (or a copy of `template`) and return its URL."""
    import asyncpg

    dsn = service.url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        clause = f' TEMPLATE "{template}"' if template else ""
        # PostgreSQL 15+ copies templates through the WAL by default; copying the files
        # is about ten times faster for the small databases tests use.
        if template and connection.get_server_version().major >= 15:
            clause += " STRATEGY FILE_COPY"
        await connection.execute(f'CREATE DATABASE "{name}"{clause}')
    finally:
        await connection.close()
    return service.database_url(name)


async def drop_database(service: PostgresService, name: str) -> None:
    import asyncpg

    dsn = service.url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()
