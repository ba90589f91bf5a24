"""AuthService on real databases: registration, login throttling, refresh-token rotation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from netra.auth.passwords import Passwords
from netra.auth.service import AuthService, AuthSession
from netra.auth.tokens import AccessTokens, hash_token
from netra.db.engine import Database
from netra.db.models import RefreshToken, User
from netra.errors import AppError
from netra.state.store import MemoryStateStore

ACCESS_KEY = "auth-service-integration-key-0123456789"
ACCESS_TTL = 900
MAX_FAILURES = 3
WINDOW = 300
PASSWORD = "correct horse battery"
CLIENT = "203.0.113.7"
OTHER_CLIENT = "198.51.100.9"
REGISTRATIONS = 5


@pytest.fixture
def access_tokens() -> AccessTokens:
    return AccessTokens(ACCESS_KEY, ACCESS_TTL)


@pytest.fixture
def auth(db: Database, access_tokens: AccessTokens) -> AuthService:
    """Wired as netra.lifecycle.start wires it, with a small failure limit.

    The hasher is real argon2id with cheap parameters: at the defaults every hash
    and verify costs 50-400 ms, which would dominate the suite and prove nothing more.
    """
    return AuthService(
        db,
        MemoryStateStore(),
        Passwords(PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)),
        access_tokens,
        refresh_ttl=3600,
        max_failures=MAX_FAILURES,
        failure_window=WINDOW,
        registrations_per_hour=REGISTRATIONS,
        login_max_delay=0.01,  # the account slowdown, kept short: its steps are unit-tested
    )


async def expect_error(call: object, status: int, code: str) -> AppError:
    with pytest.raises(AppError) as caught:
        await call  # type: ignore[misc]
    assert (caught.value.status, caught.value.code) == (status, code), caught.value.message
    return caught.value


# -- register -------------------------------------------------------------------
async def test_register_normalises_the_email_and_issues_a_session(
    auth: AuthService, access_tokens: AccessTokens, db: Database
) -> None:
    session = await auth.register("  Ada.Lovelace@Example.COM ", PASSWORD, None, CLIENT)

    assert session.user.email == "ada.lovelace@example.com"
    assert session.user.display_name == "ada.lovelace"
    assert access_tokens.verify(session.access_token) == session.user.id
    assert session.expires_in == ACCESS_TTL
    assert session.refresh_token.startswith("nrt_")
    async with db.session() as s:
        stored = await s.scalar(select(User).where(User.id == session.user.id))
        token = await s.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == hash_token(session.refresh_token))
        )
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert token.user_id == session.user.id  # only the hash of the token is stored


async def test_register_keeps_a_given_display_name(auth: AuthService) -> None:
    session = await auth.register("grace@example.com", PASSWORD, "  Grace Hopper ", CLIENT)

    assert session.user.display_name == "Grace Hopper"


async def test_register_twice_with_the_same_email_is_409(auth: AuthService) -> None:
    await auth.register("taken@example.com", PASSWORD, None, CLIENT)

    error = await expect_error(
        auth.register("TAKEN@example.com", "another password", None, CLIENT), 409, "email_taken"
    )
    assert "log in" in error.message


# -- login ----------------------------------------------------------------------
async def test_login_with_the_right_password(
    auth: AuthService, access_tokens: AccessTokens
) -> None:
    registered = await auth.register("lin@example.com", PASSWORD, None, CLIENT)

    session = await auth.login(" LIN@example.com", PASSWORD, CLIENT)

    assert session.user.id == registered.user.id
    assert access_tokens.verify(session.access_token) == registered.user.id
    assert session.refresh_token != registered.refresh_token


async def test_login_with_a_wrong_password_or_unknown_email_is_the_same_401(
    auth: AuthService,
) -> None:
    await auth.register("lin@example.com", PASSWORD, None, CLIENT)

    wrong = await expect_error(
        auth.login("lin@example.com", "not the password", CLIENT), 401, "invalid_credentials"
    )
    unknown = await expect_error(
        auth.login("nobody@example.com", PASSWORD, CLIENT), 401, "invalid_credentials"
    )
    assert wrong.message == unknown.message  # no hint about which accounts exist


async def test_too_many_failures_lock_the_email_out_with_retry_after(auth: AuthService) -> None:
    await auth.register("target@example.com", PASSWORD, None, CLIENT)
    await auth.register("bystander@example.com", PASSWORD, None, CLIENT)
    for _ in range(MAX_FAILURES):
        await expect_error(
            auth.login("target@example.com", "guess", CLIENT), 401, "invalid_credentials"
        )

    # Even the right password is refused now, without being checked.
    error = await expect_error(
        auth.login("target@example.com", PASSWORD, CLIENT), 429, "too_many_attempts"
    )

    assert error.headers == {"Retry-After": str(WINDOW)}
    # The lock is on this client and email: another account from the same client still
    # logs in, and so does the owner from another client.
    bystander = await auth.login("bystander@example.com", PASSWORD, CLIENT)
    assert bystander.user.email == "bystander@example.com"
    owner = await auth.login("target@example.com", PASSWORD, OTHER_CLIENT)
    assert owner.user.email == "target@example.com"


async def test_a_spree_over_many_clients_never_locks_the_owner_out(auth: AuthService) -> None:
    await auth.register("popular@example.com", PASSWORD, None, CLIENT)
    for n in range(3 * MAX_FAILURES):
        await expect_error(
            auth.login("popular@example.com", "guess", f"192.0.2.{n}"), 401, "invalid_credentials"
        )

    owner = await auth.login("popular@example.com", PASSWORD, OTHER_CLIENT)

    assert owner.user.email == "popular@example.com"


async def test_registrations_are_limited_per_client_address(auth: AuthService) -> None:
    for n in range(REGISTRATIONS):
        await auth.register(f"sign-up-{n}@example.com", PASSWORD, None, CLIENT)

    error = await expect_error(
        auth.register("one-more@example.com", PASSWORD, None, CLIENT), 429, "too_many_registrations"
    )

    assert int(error.headers["Retry-After"]) > 0
    await auth.register("one-more@example.com", PASSWORD, None, OTHER_CLIENT)


async def test_a_successful_login_resets_the_email_failure_count(auth: AuthService) -> None:
    await auth.register("forgetful@example.com", PASSWORD, None, CLIENT)

    for _ in range(2):
        for _ in range(MAX_FAILURES - 1):
            await expect_error(
                auth.login("forgetful@example.com", "guess", CLIENT), 401, "invalid_credentials"
            )
        session = await auth.login("forgetful@example.com", PASSWORD, CLIENT)
        assert session.user.email == "forgetful@example.com"


# -- refresh --------------------------------------------------------------------
async def test_refresh_rotates_the_pair_and_spends_the_old_token(
    auth: AuthService, access_tokens: AccessTokens, db: Database
) -> None:
    registered = await auth.register("rota@example.com", PASSWORD, None, CLIENT)

    rotated = await auth.refresh(registered.refresh_token)

    assert rotated.refresh_token != registered.refresh_token
    assert rotated.access_token != registered.access_token
    assert access_tokens.verify(rotated.access_token) == registered.user.id
    async with db.session() as s:
        old = await s.scalar(
            select(RefreshToken).where(
                RefreshToken.token_hash == hash_token(registered.refresh_token)
            )
        )
        new = await s.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == hash_token(rotated.refresh_token))
        )
    assert old.spent_at is not None
    assert new.spent_at is None
    assert new.family_id == old.family_id


async def test_reusing_a_spent_token_revokes_its_whole_family_only(auth: AuthService) -> None:
    await auth.register("leaky@example.com", PASSWORD, None, CLIENT)
    phone = await auth.login("leaky@example.com", PASSWORD, CLIENT)
    laptop = await auth.login("leaky@example.com", PASSWORD, CLIENT)
    rotated = await auth.refresh(phone.refresh_token)

    await expect_error(auth.refresh(phone.refresh_token), 401, "refresh_token_reused")

    # The newer token of the same login dies with its family...
    await expect_error(auth.refresh(rotated.refresh_token), 401, "invalid_refresh_token")
    # ...while another login's family is untouched.
    still = await auth.refresh(laptop.refresh_token)
    assert still.user.email == "leaky@example.com"


async def test_concurrent_refreshes_of_one_token_let_exactly_one_win(auth: AuthService) -> None:
    session = await auth.register("twice@example.com", PASSWORD, None, CLIENT)

    outcomes = await asyncio.gather(
        auth.refresh(session.refresh_token),
        auth.refresh(session.refresh_token),
        return_exceptions=True,
    )

    winners = [o for o in outcomes if isinstance(o, AuthSession)]
    losers = [o for o in outcomes if isinstance(o, AppError)]
    assert len(winners) == 1, outcomes
    assert [(e.status, e.code) for e in losers] == [(401, "refresh_token_reused")]


async def test_an_expired_refresh_token_is_401(auth: AuthService, db: Database) -> None:
    session = await auth.register("late@example.com", PASSWORD, None, CLIENT)
    async with db.session() as s:
        await s.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == hash_token(session.refresh_token))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    await expect_error(auth.refresh(session.refresh_token), 401, "invalid_refresh_token")


async def test_logout_revokes_the_family(auth: AuthService) -> None:
    await auth.register("bye@example.com", PASSWORD, None, CLIENT)
    leaving = await auth.login("bye@example.com", PASSWORD, CLIENT)
    staying = await auth.login("bye@example.com", PASSWORD, CLIENT)
    rotated = await auth.refresh(leaving.refresh_token)

    await auth.logout(rotated.refresh_token)

    await expect_error(auth.refresh(rotated.refresh_token), 401, "invalid_refresh_token")
    assert (await auth.refresh(staying.refresh_token)).user.email == "bye@example.com"


async def test_a_garbage_refresh_token_is_401(auth: AuthService) -> None:
    await expect_error(auth.refresh("nrt_not-a-token-we-issued"), 401, "invalid_refresh_token")
    await expect_error(auth.refresh(""), 401, "invalid_refresh_token")
    await auth.logout("nrt_not-a-token-we-issued")  # logging out an unknown token is harmless


async def test_concurrent_wrong_guesses_cannot_outrun_the_limit(auth: AuthService) -> None:
    session = await auth.register("guessed@example.com", PASSWORD, None, CLIENT)

    outcomes = await asyncio.gather(
        *(auth.login(session.user.email, f"guess {n}", CLIENT) for n in range(12)),
        return_exceptions=True,
    )

    codes = [o.code for o in outcomes if isinstance(o, AppError)]
    assert len(codes) == 12
    assert codes.count("invalid_credentials") == MAX_FAILURES  # only these were checked
    assert codes.count("too_many_attempts") == 12 - MAX_FAILURES
