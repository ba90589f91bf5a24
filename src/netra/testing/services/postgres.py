"""PostgreSQL for tests: find a server or start a throwaway one, and make databases on it.

Discovery order (DESIGN section 7): an explicit URL in NETRA_TEST_DATABASE_URL;
`initdb` and `postgres` on the PATH; the build shipped in the `pgserver` package;
otherwise ServiceUnavailable, saying what to install.

A started server is a cluster in a private temp dir, tuned for tests (no fsync),
on a free loopback port. `initdb` runs once per PostgreSQL build: the fresh
cluster is kept in the user's cache dir and copied for each run, which is
several times faster (bench/testing/service_startup.py).
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from netra.env import IsolatedEnvironment
from netra.testing.services.errors import ServiceUnavailable
from netra.testing.services.process import (
    free_port,
    make_service_dir,
    service_identity,
    spawn,
    stop_process,
    wait_until_ready,
)

DATABASE_URL_VAR = "NETRA_TEST_DATABASE_URL"
CACHE_DIR_VAR = "NETRA_TEST_CACHE_DIR"
STARTUP_TIMEOUT = 60.0
INSTALL_HINT = (
    "PostgreSQL is needed for these tests. Set NETRA_TEST_DATABASE_URL to a server you own, "
    "install PostgreSQL (initdb and postgres on the PATH), or `pip install pgserver`."
)
_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


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
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dsn(self) -> str:
        """The URL for asyncpg and libpq (no SQLAlchemy driver suffix)."""
        return self.url.replace("postgresql+asyncpg://", "postgresql://")

    def database_url(self, name: str) -> str:
        """The URL of another database on the same server."""
        base, _, _ = self.url.rpartition("/")
        return f"{base}/{name}"

    def stop(self) -> None:
        """Stop a server we started and remove its files; leave a given URL alone."""
        stop_process(self.process, signal.SIGINT)  # PostgreSQL's "fast" shutdown
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
        raise ServiceUnavailable(INSTALL_HINT)
    return start_postgres(*found, cache_dir=cache_dir(env))


def cache_dir(env: IsolatedEnvironment) -> Path | None:
    """Where built clusters are kept between runs: NETRA_TEST_CACHE_DIR, else the XDG cache."""
    explicit = env.get(CACHE_DIR_VAR)
    if explicit:
        return Path(explicit)
    base = env.get("XDG_CACHE_HOME") or (env.get("HOME") and f"{env.get('HOME')}/.cache")
    return Path(base) / "netra" if base else None


def start_postgres(bin_dir: Path, source: str, *, cache_dir: Path | None = None) -> PostgresService:
    """Start a throwaway cluster on a free loopback port and wait until it accepts connections."""
    identity = service_identity()
    cached = _cached_cluster_path(bin_dir, identity, cache_dir)
    try:
        return _start_cluster(bin_dir, source, identity, cached)
    except ServiceUnavailable:
        if cached is None or not cached.exists():
            raise
        # A damaged cache entry (files lost, a half-made copy) must not fail every run.
        shutil.rmtree(cached, ignore_errors=True)
        return _start_cluster(bin_dir, source, identity, cached)


def _start_cluster(
    bin_dir: Path, source: str, identity: dict[str, Any], cached: Path | None
) -> PostgresService:
    began = time.perf_counter()
    data_dir = make_service_dir("netra-pg-")
    try:
        if identity:
            shutil.chown(data_dir, identity["user"], identity["group"])
            if not _reachable_by_others(bin_dir):
                bin_dir = _copy_install(bin_dir, data_dir / "install")
        _make_cluster(bin_dir, data_dir / "cluster", identity, cached)
        port = free_port()
        command = [str(bin_dir / "postgres"), "-D", str(data_dir / "cluster")]
        command += ["-p", str(port), "-k", str(data_dir)]
        for name, value in _SETTINGS.items():
            command += ["-c", f"{name}={value}"]
        # SIGQUIT: if the owner dies, stop at once and let the backends go too.
        process = spawn(
            command,
            log_path=data_dir / "postgres.log",
            parent_death_signal=signal.SIGQUIT,
            identity=identity,
        )
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    service = PostgresService(
        url=f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres",
        source=source,
        process=process,
        data_dir=data_dir,
        bin_dir=bin_dir,
        port=port,
    )
    try:
        ready = partial(_accepts_connections, bin_dir, port)
        wait_until_ready("PostgreSQL", ready, process, data_dir / "postgres.log", STARTUP_TIMEOUT)
    except BaseException:
        service.stop()
        raise
    service.started_in = time.perf_counter() - began
    return service


def _make_cluster(
    bin_dir: Path, target: Path, identity: dict[str, Any], cached: Path | None
) -> None:
    """A fresh cluster at `target`: a copy of the cached one, made by initdb the first time."""
    if cached is not None and (cached / "PG_VERSION").exists():
        try:
            _copy_tree(cached, target)
            return
        except (OSError, subprocess.SubprocessError):
            shutil.rmtree(target, ignore_errors=True)  # unreadable cache: make one afresh
    _initdb(bin_dir, target, identity)
    if cached is not None and not cached.exists():
        _store_in_cache(target, cached)


def _cached_cluster_path(
    bin_dir: Path, identity: dict[str, Any], cache_root: Path | None
) -> Path | None:
    if cache_root is None:
        return None
    binary = bin_dir / "postgres"  # the installed build, never a per-run copy of it
    # A different build (path or upgrade) or a different owner needs its own cluster.
    key = f"{binary.resolve()}:{binary.stat().st_mtime_ns}:{identity.get('user', '')}"
    return cache_root / "postgres" / hashlib.sha256(key.encode()).hexdigest()[:16]


def _store_in_cache(cluster: Path, cached: Path) -> None:
    """Publish a copy of a fresh cluster atomically; a concurrent run may win the race."""
    staging = cached.with_name(f".{cached.name}.{time.time_ns()}")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        _copy_tree(cluster, staging)
        staging.rename(cached)
    except (OSError, subprocess.SubprocessError):
        pass  # no usable cache dir (or another run published first): initdb next time too
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _copy_tree(source: Path, target: Path) -> None:
    """Copy keeping owners and modes (PostgreSQL insists on both)."""
    if shutil.which("cp"):
        subprocess.run(["cp", "-a", str(source), str(target)], check=True, capture_output=True)
    else:
        shutil.copytree(source, target, symlinks=True)


def _initdb(bin_dir: Path, cluster: Path, identity: dict[str, Any]) -> None:
    command = [str(bin_dir / "initdb"), "-D", str(cluster), "-U", "postgres"]
    # 1 MB WAL segments instead of 16: the cluster copied for every run is 40% smaller.
    command += ["--auth=trust", "--encoding=UTF8", "--no-sync", "--wal-segsize=1"]
    result = subprocess.run(command, capture_output=True, **identity)
    if result.returncode:
        output = result.stdout.decode() + result.stderr.decode()
        raise ServiceUnavailable(f"initdb failed:\n{output}")


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


def _accepts_connections(bin_dir: Path, port: int) -> bool:
    """pg_isready, synchronous, so this works inside or outside an event loop."""
    check = [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
    return subprocess.run([*check, "-U", "postgres"]).returncode == 0


async def create_database(service: PostgresService, name: str, template: str | None = None) -> str:
    """Create an empty database (or a copy of `template`) and return its URL."""
    import asyncpg

    connection = await asyncpg.connect(service.dsn)
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
    """Drop a database, disconnecting whoever still uses it."""
    import asyncpg

    connection = await asyncpg.connect(service.dsn)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()
