"""An API token's shape is checked before any database read: what no token made by
`ApiTokens.create` looks like is refused with the 401 of an unknown token, unread."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from netra.auth.api_tokens import PREFIX, ApiTokens, looks_like_api_token
from netra.auth.tokens import BEARER_CHALLENGE
from netra.db.engine import Database
from netra.errors import AppError

WELL_SHAPED = PREFIX + "A-z_09" * 7 + "x"  # 43 URL-safe characters, as token_urlsafe(32) makes


@pytest.fixture
async def unreadable(tmp_path: Path) -> AsyncIterator[ApiTokens]:
    """ApiTokens on a SQLite file with no schema: any read of it fails."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'no-schema.db'}")
    try:
        yield ApiTokens(database, per_user=1)
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(PREFIX, id="prefix-only"),
        pytest.param(WELL_SHAPED[:-1], id="one-short"),
        pytest.param(WELL_SHAPED + "x", id="one-long"),
        pytest.param(WELL_SHAPED[:-1] + "=", id="padding"),
        pytest.param(WELL_SHAPED[:-1] + "+", id="not-url-safe"),
        pytest.param(WELL_SHAPED + "\n", id="trailing-newline"),
        pytest.param("NAT_" + WELL_SHAPED.removeprefix(PREFIX), id="other-prefix"),
    ],
)
async def test_a_token_of_the_wrong_shape_is_refused_without_a_database_read(
    unreadable: ApiTokens, token: str
) -> None:
    with pytest.raises(AppError) as refused:
        await unreadable.authenticate(token, "agui")
    error = refused.value
    assert (error.status, error.code, error.message, error.headers) == (
        401,
        "token_invalid",
        "the API token is unknown or revoked",
        BEARER_CHALLENGE,
    )


async def test_a_token_of_the_right_shape_is_looked_up(unreadable: ApiTokens) -> None:
    # The shape check lets through what `create` makes: such a token reaches the database
    # (here one that cannot be read), so the check is no stricter than the tokens made.
    assert looks_like_api_token(WELL_SHAPED)
    with pytest.raises(OperationalError):
        await unreadable.authenticate(WELL_SHAPED, "agui")


@pytest.mark.parametrize(
    ("token", "expected"),
    [(WELL_SHAPED, True), ("nat_", True), ("nrt_refresh", False), ("eyJhbGciOi.x.y", False)],
)
def test_an_api_token_is_told_from_an_access_token_by_its_prefix(
    token: str, expected: bool
) -> None:
    assert looks_like_api_token(token) is expected
