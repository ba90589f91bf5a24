"""Plain helpers behind the pytest fixtures: users over real HTTP, migrated databases."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from netra.db import migrate
from netra.db.engine import create_engine
from netra.db.repositories import Lease

DEFAULT_PASSWORD = "correct horse battery"


@dataclass
class TestUser:
    """A registered user and its tokens."""

    __test__ = False  # not a test class, despite the name

    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def error_of(response: httpx.Response) -> tuple[int, str]:
    """A REST error answer as (status, error code), for one comparison in a test."""
    return response.status_code, response.json()["error"]["code"]


async def register_user(base_url: str, *, email: str | None = None, **extra: Any) -> TestUser:
    """Register a new user through the real REST API."""
    email = email or f"user-{secrets.token_hex(6)}@example.com"
    password = extra.pop("password", DEFAULT_PASSWORD)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            "/api/auth/register", json={"email": email, "password": password, **extra}
        )
    if response.status_code != 201:
        raise AssertionError(f"register failed: {response.status_code} {response.text}")
    body = response.json()
    return TestUser(
        id=body["user"]["id"],
        email=email,
        password=password,
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
    )


async def migrated(url: str) -> str:
    """Bring the database at `url` to the newest schema; returns `url`."""
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    return url


#: The instance id that tests writing the event log directly write as.
TEST_INSTANCE = "srv_tests"


def standing_lease(owner: str = TEST_INSTANCE) -> Lease:
    """A lease that outlasts any test, for runs stored and written outside a server."""
    return Lease(owner, datetime(2100, 1, 1, tzinfo=UTC))
