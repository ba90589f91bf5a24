"""Netra's pytest plugin (registered through the `pytest11` entry point).

Hooks and fixtures only; the logic lives in `services`, `server`, `ws` and `fixtures`.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from netra.env import IsolatedEnvironment, process_environment
from netra.testing.fixtures import TestUser, migrated, register_user
from netra.testing.server import NetraServer
from netra.testing.services import (
    PostgresService,
    create_database,
    drop_database,
    obtain_postgres,
)
from netra.testing.ws import EventValidator, WsClient

CATEGORIES = ("unit", "integration", "e2e", "mission_critical")
TEMPLATE_DB = "netra_template"


def pytest_configure(config: pytest.Config) -> None:
    for category in CATEGORIES:
        config.addinivalue_line("markers", f"{category}: test in tests/{category}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The category is the folder: tests/<category>/...
    for item in items:
        parts = Path(str(item.path)).parts
        for category in CATEGORIES:
            if category in parts:
                item.add_marker(getattr(pytest.mark, category))
                break


# -- environment ----------------------------------------------------------------
@pytest.fixture(scope="session")
def netra_process_env() -> IsolatedEnvironment:
    """The process environment, read only through IsolatedEnvironment."""
    return process_environment()


@pytest.fixture
def netra_env(netra_process_env: IsolatedEnvironment) -> Iterator[IsolatedEnvironment]:
    """An overlay on the process environment, popped after the test."""
    netra_process_env.push()
    depth = netra_process_env.depth
    try:
        yield netra_process_env
    finally:
        while netra_process_env.depth >= depth:
            netra_process_env.pop()


# -- databases ------------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres(netra_process_env: IsolatedEnvironment) -> Iterator[PostgresService]:
    """A real PostgreSQL server for the whole session, with a migrated template database."""
    service = obtain_postgres(netra_process_env)
    template = f"{TEMPLATE_DB}_{secrets.token_hex(4)}"
    try:
        asyncio.run(migrated(asyncio.run(create_database(service, template))))
        service.template = template
        yield service
    finally:
        if service.process is None:  # a server we did not start: leave it as we found it
            asyncio.run(drop_database(service, template))
        service.stop()


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


# -- a live server --------------------------------------------------------------
@pytest.fixture(scope="session")
def netra_server(
    netra_process_env: IsolatedEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NetraServer]:
    """One `netra serve` process on the embedded default, shared by the session."""
    server = NetraServer(netra_process_env, tmp_path_factory.mktemp("netra-server"))
    with server:
        yield server


@pytest.fixture
def netra_server_factory(
    netra_process_env: IsolatedEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., NetraServer]]:
    """Start extra servers with their own settings; all are stopped after the test."""
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
async def http(netra_server: NetraServer) -> AsyncIterator[httpx.AsyncClient]:
    """A real HTTP client for the shared server."""
    async with httpx.AsyncClient(base_url=netra_server.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def make_user(netra_server: NetraServer) -> Callable[..., Awaitable[TestUser]]:
    """Register a fresh user on the shared server."""

    async def make(**extra: Any) -> TestUser:
        return await register_user(netra_server.base_url, **extra)

    return make


@pytest.fixture
async def ws_connect(netra_server: NetraServer) -> AsyncIterator[Callable[..., Any]]:
    """Open authenticated WebSocket clients; all are closed after the test."""
    clients: list[WsClient] = []

    async def connect(user: TestUser, server: NetraServer | None = None) -> WsClient:
        client = await WsClient.connect((server or netra_server).ws_url, user.access_token)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        await client.close()


@pytest.fixture
def event_validator() -> EventValidator:
    return EventValidator()
