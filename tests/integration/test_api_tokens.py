"""API tokens on real databases: made once, found by hash, refused when expired, revoked
or used outside their scope, limited per user, and only ever the owner's."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from netra.auth.api_tokens import MAX_DAYS, ApiTokens, looks_like_api_token
from netra.db.engine import Database
from netra.db.models import ApiToken
from netra.errors import AppError

PER_USER = 3
HANG_GUARD = 30  # seconds: a hang guard, not a speed claim


@pytest.fixture
def api_tokens(db: Database) -> ApiTokens:
    return ApiTokens(db, per_user=PER_USER)


async def _refusal(call) -> tuple[int, str]:
    with pytest.raises(AppError) as caught:
        await call
    return caught.value.status, caught.value.code


async def test_a_token_stands_for_its_owner_long_after_an_access_token_would_expire(
    db: Database, api_tokens: ApiTokens, add_user
) -> None:
    user = await add_user(db)
    made = await api_tokens.create(user.id, "  copilot runtime ", "agui", 30)
    assert looks_like_api_token(made.secret)
    assert made.record.name == "copilot runtime"
    later = datetime.now(UTC) + timedelta(days=29)
    assert await api_tokens.authenticate(made.secret, "agui", now=later) == user.id
    async with db.session() as session:
        stored = await session.scalar(select(ApiToken).where(ApiToken.id == made.record.id))
    assert stored is not None
    assert made.secret not in (stored.token_hash, stored.name)  # only the hash is kept
    assert stored.last_used_at == later


async def test_a_token_used_within_the_minute_is_checked_and_listed_without_the_writer(
    db: Database, api_tokens: ApiTokens, add_user
) -> None:
    user = await add_user(db)
    made = await api_tokens.create(user.id, "runtime", "agui", 30)
    assert await api_tokens.authenticate(made.secret, "agui") == user.id  # writes last_used_at
    holding, release = asyncio.Event(), asyncio.Event()

    async def write_turn() -> None:  # as the event log's group commit holds it on SQLite
        async with db.session():
            holding.set()
            await release.wait()

    writer = asyncio.create_task(write_turn())
    await holding.wait()
    try:
        async with asyncio.timeout(HANG_GUARD):
            assert await api_tokens.authenticate(made.secret, "agui") == user.id
            # Listing them is a read too.
            assert [t.id for t in await api_tokens.usable(user.id)] == [made.record.id]
    finally:
        release.set()
        await writer


async def test_an_expired_revoked_unknown_or_out_of_scope_token_is_refused_with_its_reason(
    db: Database, api_tokens: ApiTokens, add_user
) -> None:
    user = await add_user(db)
    made = await api_tokens.create(user.id, "runtime", "agui", 1)
    expired = datetime.now(UTC) + timedelta(days=1, seconds=1)
    assert await _refusal(api_tokens.authenticate(made.secret, "agui", now=expired)) == (
        401,
        "token_expired",
    )
    assert await _refusal(api_tokens.authenticate(made.secret, "ws")) == (401, "token_scope")
    assert await _refusal(api_tokens.authenticate("nat_" + "x" * 43, "agui")) == (
        401,
        "token_invalid",
    )
    await api_tokens.revoke(user.id, made.record.id)
    assert await _refusal(api_tokens.authenticate(made.secret, "agui")) == (401, "token_invalid")
    assert await api_tokens.usable(user.id) == []


async def test_only_the_owner_sees_or_revokes_a_token(
    db: Database, api_tokens: ApiTokens, add_user
) -> None:
    owner, other = await add_user(db), await add_user(db)
    made = await api_tokens.create(owner.id, "runtime", "agui", 90)
    assert await api_tokens.usable(other.id) == []
    assert await _refusal(api_tokens.revoke(other.id, made.record.id)) == (404, "not_found")
    assert await api_tokens.authenticate(made.secret, "agui") == owner.id
    assert [t.id for t in await api_tokens.usable(owner.id)] == [made.record.id]


async def test_tokens_in_use_are_limited_per_user_even_when_made_at_once(
    db: Database, api_tokens: ApiTokens, add_user
) -> None:
    user = await add_user(db)
    results = await asyncio.gather(
        *(api_tokens.create(user.id, f"t{n}", "agui", 90) for n in range(PER_USER + 2)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, AppError)]
    assert [(r.status, r.code) for r in refused] == [(409, "api_token_limit")] * 2
    assert len(await api_tokens.usable(user.id)) == PER_USER
    # A revoked token frees its place.
    await api_tokens.revoke(user.id, (await api_tokens.usable(user.id))[0].id)
    assert (await api_tokens.create(user.id, "again", "agui", 90)).record.name == "again"


@pytest.mark.parametrize(
    ("name", "scope", "days"),
    [
        ("   ", "agui", 90),
        ("runtime", "ws", 90),
        ("runtime", "agui", 0),
        ("r", "agui", MAX_DAYS + 1),
    ],
)
async def test_bad_input_is_refused_and_makes_nothing(
    db: Database, api_tokens: ApiTokens, add_user, name: str, scope: str, days: int
) -> None:
    user = await add_user(db)
    assert await _refusal(api_tokens.create(user.id, name, scope, days)) == (
        422,
        "invalid_request",
    )
    assert await api_tokens.usable(user.id) == []
