"""Fixtures shared by the integration tests: blank databases, users and settings.

The plugin (`netra.testing.plugin`) already gives every test a migrated database
through `database_url` (SQLite and PostgreSQL). The fixtures here add what
several modules need on top of it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from netra.config import Settings
from netra.db.engine import Database, EncodedJSON
from netra.db.models import User
from netra.db.repositories import (
    THREAD_GONE,
    NewEvent,
    RunEnd,
    RunEvents,
    StoredRun,
    UserRepository,
    append_events,
    store_run,
)
from netra.testing.fixtures import TEST_INSTANCE, standing_lease
from netra.testing.services import PostgresService, create_database, drop_database

#: A fixed signing key, long enough for Settings' minimum, so no key file is generated.
SIGNING_KEY = "integration-tests-signing-key-0123456789abcdef"


@pytest.fixture
async def blank_postgres_url(postgres: PostgresService) -> AsyncIterator[str]:
    """An empty PostgreSQL database (no schema at all), dropped afterwards."""
    name = f"netra_blank_{secrets.token_hex(6)}"
    url = await create_database(postgres, name)
    try:
        yield url
    finally:
        await drop_database(postgres, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on SQLite and on PostgreSQL, for tests of migrations and startup."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'blank.db'}"
    url: str = request.getfixturevalue("blank_postgres_url")
    return url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A Database on the test's migrated database, disposed afterwards."""
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def add_user() -> Callable[..., Awaitable[User]]:
    """Insert a user straight through the repository (no argon2 cost: the hash is a stand-in)."""

    async def add(database: Database, email: str | None = None) -> User:
        address = email or f"user-{secrets.token_hex(6)}@example.com"
        async with database.session() as session:
            return await UserRepository(session).add(address, "Test User", "stored-hash")

    return add


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for `netra.lifecycle.start` on a given database, with a data dir in tmp_path."""

    def make(database_url: str, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "env": "test",
            "database_url": database_url,
            "data_dir": tmp_path / "data",
            "secret_key": SIGNING_KEY,
            "shutdown_grace": 0,  # runs left going are cancelled at once when a test stops
        }
        values.update(overrides)
        return Settings(**values)

    return make


StoreRun = Callable[..., Awaitable[StoredRun]]


@pytest.fixture
def store() -> StoreRun:
    """Store a queued run and its user message the way `RunService` does (nothing
    executes it): on `thread_id`, or on a new thread titled with the text."""

    async def write(
        database: Database, owner_id: str, text: str = "hello", thread_id: str | None = None
    ) -> StoredRun:
        stored = await database.run_transaction(
            lambda c: store_run(
                c,
                owner_id,
                text,
                thread_id,
                "assistant",
                title=text[:60],
                history_limit=40,
                lease=standing_lease(),
            )
        )
        if stored is None:
            raise LookupError(f"thread {thread_id} is not {owner_id}'s")
        return stored

    return write


AppendEvents = Callable[..., Awaitable[list[int]]]


@pytest.fixture
def append() -> AppendEvents:
    """Write events straight to the log, as one batch of one run (for states a crash
    leaves behind): returns their seqs; LookupError for a missing thread."""

    async def write(
        database: Database,
        thread_id: str,
        run_id: str,
        *events: tuple[str, dict[str, Any]],
        end: RunEnd | None = None,
    ) -> list[int]:
        batch = [RunEvents(run_id, thread_id, [NewEvent(t, d, encoded(d)) for t, d in events], end)]
        (result,) = await database.run_transaction(lambda c: append_events(c, batch, TEST_INSTANCE))
        if result == THREAD_GONE:
            raise LookupError(f"thread {thread_id} does not exist")
        assert not isinstance(result, str), result
        return [stored.seq for stored in result]

    return write


def encoded(data: dict[str, Any]) -> EncodedJSON:
    return EncodedJSON(json.dumps(data))
