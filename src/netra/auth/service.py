"""Register, log in, refresh and log out: the auth rules, independent of HTTP."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from netra.auth.passwords import Passwords
from netra.auth.throttle import MAX_DELAY, LoginThrottle, RegistrationThrottle
from netra.auth.tokens import AccessTokens, hash_token, new_family_id, new_refresh_token
from netra.db.engine import Database
from netra.db.models import User
from netra.db.repositories import RefreshTokenRepository, UserRepository
from netra.errors import AppError
from netra.state.store import StateStore


@dataclass(frozen=True)
class AuthSession:
    """What a successful register, login or refresh returns to the client."""

    user: User
    access_token: str
    refresh_token: str
    expires_in: int


def _invalid_refresh() -> AppError:
    return AppError(401, "invalid_refresh_token", "the refresh token is invalid or expired")


class AuthService:
    def __init__(
        self,
        db: Database,
        state: StateStore,
        passwords: Passwords,
        access_tokens: AccessTokens,
        *,
        refresh_ttl: int,
        max_failures: int,
        failure_window: int,
        registrations_per_hour: int = 10,
        login_max_delay: float = MAX_DELAY,
    ) -> None:
        self._db = db
        self._passwords = passwords
        self._access = access_tokens
        self._refresh_ttl = refresh_ttl
        self._logins = LoginThrottle(state, max_failures, failure_window, login_max_delay)
        self._registrations = RegistrationThrottle(state, registrations_per_hour)

    async def register(
        self, email: str, password: str, display_name: str | None, client: str
    ) -> AuthSession:
        email = email.strip().lower()
        await self._registrations.admit(client)  # before the costly hash
        password_hash = await self._passwords.hash(password)
        name = (display_name or "").strip() or email.split("@", 1)[0]
        try:
            async with self._db.session() as session:
                user = await UserRepository(session).add(email, name, password_hash)
                return await self._start_family(session, user)
        except IntegrityError:
            raise AppError(
                409, "email_taken", "an account with this email already exists; log in instead"
            ) from None

    async def login(self, email: str, password: str, client: str) -> AuthSession:
        email = email.strip().lower()
        delay = await self._logins.admit(client, email)
        if delay:
            await asyncio.sleep(delay)  # the account is being guessed at: slow down, never lock
        async with self._db.session() as session:
            user = await UserRepository(session).by_email(email)
        # Verify outside the transaction: hashing takes tens of milliseconds.
        if not await self._passwords.verify(user.password_hash if user else None, password):
            await self._logins.failed(client, email)
            raise AppError(401, "invalid_credentials", "wrong email or password")
        assert user is not None
        await self._logins.succeeded(client, email)  # only failures count
        async with self._db.session() as session:
            return await self._start_family(session, user)

    async def refresh(self, refresh_token: str) -> AuthSession:
        outcome: AppError
        async with self._db.session() as session:
            tokens = RefreshTokenRepository(session)
            stored = await tokens.by_hash(hash_token(refresh_token))
            if stored is not None:
                # Without the lock, a reuse could revoke the family while a concurrent
                # refresh is adding a token to it that the revocation would not see.
                await tokens.lock_family(stored.family_id)
                await session.refresh(stored)
            if (
                stored is None
                or stored.revoked_at is not None
                or stored.expires_at <= datetime.now(UTC)
            ):
                outcome = _invalid_refresh()
            elif await tokens.spend(stored.id):
                user = await UserRepository(session).by_id(stored.user_id)
                if user is not None:
                    return await self._issue(session, user, stored.family_id)
                outcome = _invalid_refresh()
            else:
                # A spent token presented again has leaked: end every session of that login.
                await tokens.revoke_family(stored.family_id)
                outcome = AppError(
                    401,
                    "refresh_token_reused",
                    "this refresh token was already used; every session of this login is revoked",
                )
        raise outcome

    async def logout(self, refresh_token: str) -> None:
        async with self._db.session() as session:
            tokens = RefreshTokenRepository(session)
            stored = await tokens.by_hash(hash_token(refresh_token))
            if stored is not None:
                await tokens.lock_family(stored.family_id)  # see refresh()
                await tokens.revoke_family(stored.family_id)

    async def _start_family(self, session: AsyncSession, user: User) -> AuthSession:
        return await self._issue(session, user, new_family_id())

    async def _issue(self, session: AsyncSession, user: User, family_id: str) -> AuthSession:
        token = new_refresh_token()
        expires_at = datetime.now(UTC) + timedelta(seconds=self._refresh_ttl)
        await RefreshTokenRepository(session).add(user.id, family_id, hash_token(token), expires_at)
        return AuthSession(
            user=user,
            access_token=self._access.issue(user.id),
            refresh_token=token,
            expires_in=self._access.ttl,
        )
