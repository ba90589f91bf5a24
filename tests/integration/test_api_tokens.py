"""API tokens on real databases: made once, found by hash, refused when expired, revoked
or used outside their scope, limited per user, and only ever the owner's."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from netra.auth.api_tokens import MAX_DAYS, TOUCH_EVERY, ApiTokens, looks_like_api_token
from netra.auth.tokens import BEARER_CHALLENGE
from netra.db.engine import Database
from netra.db.models import ApiToken
from netra.db.repositories import ApiTokenRepository
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
    first_use = datetime.now(UTC)
    assert await api_tokens.authenticate(made.secret, "agui", now=first_use) == user.id
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
            # Exactly TOUCH_EVERY later is still within it (the repository's rule: a write
            # then would write nothing, after waiting for the writer).
            later = first_use + timedelta(seconds=TOUCH_EVERY)
            assert await api_tokens.authenticate(made.secret, "agui", now=later) == user.id
            # Listing them is a read too.
            assert [t.id for t in await api_tokens.usable(user.id)] == [made.record.id]
    finally:
        release.set()
        await writer
    async with db.read() as session:
        stored = await session.scalar(select(ApiToken).where(ApiToken.id == made.record.id))
    assert stored is not None
    assert stored.last_used_at == first_use


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


async def _refused(call) -> tuple[int, str, str, dict[str, str]]:
    with pytest.raises(AppError) as caught:
        await call
    error = caught.value
    return error.status, error.code, error.message, error.headers


async def test_each_refusal_says_why_and_a_401_asks_for_a_bearer_token(
    db: Database, api_tokens: ApiTokens, add_user
) -> None:
    # What a client gets: status, {"error": {"code", "message"}} and the 401's challenge.
    user = await add_user(db)
    made = await api_tokens.create(user.id, "runtime", "agui", 1)
    invalid = (401, "token_invalid", "the API token is unknown or revoked", BEARER_CHALLENGE)
    expired = (401, "token_expired", "the API token has expired; make a new one")
    assert await _refused(
        api_tokens.authenticate(made.secret, "agui", now=made.record.expires_at)
    ) == (*expired, BEARER_CHALLENGE)
    assert await _refused(api_tokens.authenticate(made.secret, "ws")) == (
        401,
        "token_scope",
        "this API token is for agui only",
        BEARER_CHALLENGE,
    )
    assert await _refused(api_tokens.authenticate("nat_" + "x" * 43, "agui")) == invalid
    await api_tokens.revoke(user.id, made.record.id)
    assert await _refused(api_tokens.authenticate(made.secret, "agui")) == invalid
    assert await _refused(api_tokens.revoke(user.id, "atk_unknown")) == (
        404,
        "not_found",
        "no such API token",
        {},
    )
    for _ in range(PER_USER):
        await api_tokens.create(user.id, "runtime", "agui", 1)
    assert await _refused(api_tokens.create(user.id, "one more", "agui", 1)) == (
        409,
        "api_token_limit",
        f"this account has {PER_USER} API tokens in use; revoke one first",
        {},
    )


@pytest.mark.parametrize(
    ("name", "scope", "days", "message"),
    [
        ("   ", "agui", 90, "name the API token (what will hold it)"),
        ("runtime", "ws", 90, "scope must be one of ['agui']"),
        ("runtime", "agui", 0, f"expires_in_days must be 1 to {MAX_DAYS}"),
    ],
)
async def test_bad_input_is_refused_with_what_to_fix(
    db: Database, api_tokens: ApiTokens, add_user, name: str, scope: str, days: int, message: str
) -> None:
    user = await add_user(db)
    refusal = await _refused(api_tokens.create(user.id, name, scope, days))
    assert refusal == (422, "invalid_request", message, {})


async def test_a_token_lasts_from_one_day_to_max_days_and_ends_at_its_expiry(
    db: Database, api_tokens: ApiTokens, add_user
) -> None:
    user = await add_user(db)
    for days in (1, MAX_DAYS):
        made = await api_tokens.create(user.id, f"{days} days", "agui", days)
        expires = made.record.expires_at
        assert made.record.created_at + timedelta(days=days - 1) < expires
        assert expires <= datetime.now(UTC) + timedelta(days=days)
        just_before = expires - timedelta(microseconds=1)
        assert await api_tokens.authenticate(made.secret, "agui", now=just_before) == user.id
        refusal = await _refused(api_tokens.authenticate(made.secret, "agui", now=expires))
        assert refusal[:2] == (401, "token_expired")


async def test_revoked_at_is_stored_as_the_instant_given_and_a_naive_one_is_refused(
    db: Database, api_tokens: ApiTokens, add_user
) -> None:
    # revoke() writes through coalesce(revoked_at, :now): that bind must be a UTCDateTime
    # like every other column write, or SQLite stores an offset time's wall clock as UTC
    # and a naive time is taken as it comes.
    user = await add_user(db)
    made = await api_tokens.create(user.id, "runtime", "agui", 1)

    async def revoke_at(when: datetime) -> bool:
        async with db.session() as session:
            return await ApiTokenRepository(session, user.id).revoke(made.record.id, when)

    with pytest.raises(StatementError) as refused:
        await revoke_at(datetime(2026, 12, 1, 12, 0))  # naive: which zone is it in?
    assert isinstance(refused.value.orig, ValueError)
    assert await revoke_at(datetime(2026, 12, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))))
    async with db.read() as session:
        stored = await session.scalar(select(ApiToken).where(ApiToken.id == made.record.id))
    assert stored is not None
    assert stored.revoked_at == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
