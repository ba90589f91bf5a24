"""ClickHouse for tests: find a server or start a throwaway one; give each test a database.

Discovery order (DESIGN section 7): an explicit URL in NETRA_TEST_CLICKHOUSE_URL;
`clickhouse-server` (or the multi-call `clickhouse`) on the PATH; Debian's
`clickhouse-server` package at /usr/sbin (not on a user's PATH; `.ci/run` installs
it); otherwise ServiceUnavailable, saying what to install.

A started server gets a config of its own in a private temp dir (data, logs,
users), listens on free loopback ports, and keeps nothing after it stops.
"""

from __future__ import annotations

import base64
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from netra.analytics.clickhouse_url import ClickHouseURL
from netra.env import IsolatedEnvironment
from netra.testing.services.errors import ServiceUnavailable
from netra.testing.services.process import (
    free_port,
    make_service_dir,
    spawn,
    stop_process,
    wait_until_ready,
)

CLICKHOUSE_URL_VAR = "NETRA_TEST_CLICKHOUSE_URL"
DEBIAN_SERVER = Path("/usr/sbin/clickhouse-server")
STARTUP_TIMEOUT = 60.0
INSTALL_HINT = (
    "ClickHouse is needed for these tests. Set NETRA_TEST_CLICKHOUSE_URL to a server you "
    "own (http://user:password@host:8123), put clickhouse-server on the PATH, or "
    "`apt-get install clickhouse-server` (Debian)."
)

_CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{dir}/server.log</log><errorlog>{dir}/error.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http_port}</http_port>
  <tcp_port>{tcp_port}</tcp_port>
  <path>{dir}/data/</path>
  <tmp_path>{dir}/tmp/</tmp_path>
  <user_files_path>{dir}/user_files/</user_files_path>
  <format_schema_path>{dir}/format_schemas/</format_schema_path>
  <users_config>{dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <timezone>UTC</timezone>
</yandex>
"""
_USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>1000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default></default></quotas>
</yandex>
"""


@dataclass
class ClickHouseService:
    """A reachable ClickHouse server (its HTTP interface) and how it was obtained."""

    url: str  # http://127.0.0.1:port
    source: str  # "url", "path" or "debian"
    process: subprocess.Popen[bytes] | None = None
    data_dir: Path | None = None
    started_in: float = 0.0
    port: int = 0

    def stop(self, *, keep_data: bool = False) -> None:
        """Stop a server we started (and remove its files unless `keep_data`); leave a
        given URL alone."""
        stop_process(self.process, signal.SIGTERM)
        if self.data_dir is not None and not keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def clickhouse_command(
    env: IsolatedEnvironment, debian: Path = DEBIAN_SERVER
) -> tuple[list[str], str] | None:
    """How to run a ClickHouse server here, and where it was found (`debian`: where
    Debian's package puts the server)."""
    path = env.get("PATH")
    on_path = shutil.which("clickhouse-server", path=path)
    if on_path:
        return [on_path], "path"
    multi_call = shutil.which("clickhouse", path=path)
    if multi_call:
        return [multi_call, "server"], "path"
    if debian.is_file():
        return [str(debian)], "debian"
    return None


def obtain_clickhouse(env: IsolatedEnvironment, debian: Path = DEBIAN_SERVER) -> ClickHouseService:
    """A ClickHouse server for this test run, in the documented discovery order."""
    url = env.get(CLICKHOUSE_URL_VAR)
    if url:
        return ClickHouseService(url=url.rstrip("/"), source="url")
    found = clickhouse_command(env, debian)
    if found is None:
        raise ServiceUnavailable(INSTALL_HINT)
    return start_clickhouse(*found)


def start_clickhouse(
    command: list[str],
    source: str,
    port: int | None = None,
    data_dir: Path | None = None,
) -> ClickHouseService:
    """Start ClickHouse on loopback ports (a free HTTP port unless given, and the data
    dir given, to restart a server as it was) and wait until it answers /ping."""
    began = time.perf_counter()
    fresh = data_dir is None
    data_dir = data_dir or make_service_dir("netra-clickhouse-")
    port = port or free_port()
    config = data_dir / "config.xml"
    config.write_text(_CONFIG.format(dir=data_dir, http_port=port, tcp_port=free_port()))
    (data_dir / "users.xml").write_text(_USERS)
    try:
        process = spawn(
            [*command, f"--config-file={config}"],
            log_path=data_dir / "stdout.log",
            parent_death_signal=signal.SIGTERM,
        )
    except BaseException:
        if fresh:
            shutil.rmtree(data_dir, ignore_errors=True)
        raise
    service = ClickHouseService(
        url=f"http://127.0.0.1:{port}", source=source, process=process, data_dir=data_dir, port=port
    )
    try:
        ready = partial(_answers_ping, service.url)
        wait_until_ready("ClickHouse", ready, process, data_dir / "error.log", STARTUP_TIMEOUT)
    except BaseException:
        service.stop(keep_data=not fresh)
        raise
    service.started_in = time.perf_counter() - began
    return service


def _answers_ping(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=1) as response:
            return bool(response.read().startswith(b"Ok."))
    except OSError:
        return False


def clickhouse_query(url: str, sql: str) -> str:
    """Run one statement on the server at `url` (tests: create and drop databases). The
    URL may carry a user and password, as NETRA_TEST_CLICKHOUSE_URL may: they are sent as
    HTTP basic auth (urllib would take them for part of the host name)."""
    target = ClickHouseURL(url)
    request = urllib.request.Request(target.endpoint, data=sql.encode(), method="POST")
    login = base64.b64encode(f"{target.user}:{target.password}".encode()).decode()
    request.add_header("Authorization", f"Basic {login}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(response.read().decode())


class RestartableClickHouse:
    """A ClickHouse server of one test's own that it can stop and start again on the
    same port with the same data (an outage, then recovery); `url` stays the same."""

    def __init__(self, command: list[str], source: str) -> None:
        self._command, self._source = command, source
        self._service: ClickHouseService | None = start_clickhouse(command, source)
        self.port = self._service.port
        self.url = self._service.url
        assert self._service.data_dir is not None
        self._data_dir = self._service.data_dir

    @property
    def running(self) -> bool:
        return self._service is not None

    def stop(self) -> None:
        if self._service is not None:
            self._service.stop(keep_data=True)
            self._service = None

    def start(self) -> None:
        if self._service is None:
            self._service = start_clickhouse(
                self._command, self._source, port=self.port, data_dir=self._data_dir
            )

    def close(self) -> None:
        """Stop for good and remove the data."""
        self.stop()
        shutil.rmtree(self._data_dir, ignore_errors=True)
