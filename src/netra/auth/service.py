"""Register, log in, refresh and log out: the auth rules, independent of HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from netra.auth.passwords import Passwords
from netra.auth.tokens import AccessTokens, hash_refresh_token, new_family_id, new_refresh_token
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
    ) -> None:
        self._db = db
        self._state = state
        self._passwords = passwords
        self._access = access_tokens
        self._refresh_ttl = refresh_ttl
        self._max_failures = max_failures
        self._window = failure_window

    async def register(self, email: str, password: str, display_name: str | None) -> AuthSession:
        email = email.strip().lower()
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
        email_key, client_key = f"login-attempts:email:{email}", f"login-attempts:client:{client}"
        # Count the attempt before checking the password, so concurrent guesses can't all
        # slip under the limit. A client gets more than an email: one address may be a NAT.
        over_email = await self._state.incr(email_key, ttl=self._window) > self._max_failures
        over_client = await self._state.incr(client_key, ttl=self._window) > 4 * self._max_failures
        if over_email or over_client:
            raise AppError(
                429,
                "too_many_attempts",
                f"too many login attempts; try again in {self._window} seconds",
                headers={"Retry-After": str(self._window)},
            )
        async with self._db.session() as session:
            user = await UserRepository(session).by_email(email)
        # Verify outside the transaction: hashing takes tens of milliseconds.
        if not await self._passwords.verify(user.password_hash if user else None, password):
            raise AppError(401, "invalid_credentials", "wrong email or password")
        assert user is not None
        # Only failures count against the limits.
        await self._state.delete(email_key)
        await self._state.incr(client_key, ttl=self._window, amount=-1)
        async with self._db.session() as session:
            return await self._start_family(session, user)

    async def refresh(self, refresh_token: str) -> AuthSession:
        outcome: AppError
        async with self._db.session() as session:
            tokens = RefreshTokenRepository(session)
            stored = await tokens.by_hash(hash_refresh_token(refresh_token))
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
            stored = await tokens.by_hash(hash_refresh_token(refresh_token))
            if stored is not None:
                await tokens.lock_family(stored.family_id)  # see refresh()
                await tokens.revoke_family(stored.family_id)

    async def _start_family(self, session: AsyncSession, user: User) -> AuthSession:
        return await self._issue(session, user, new_family_id())

    async def _issue(self, session: AsyncSession, user: User, family_id: str) -> AuthSession:
        token = new_refresh_token()
        expires_at = datetime.now(UTC) + timedelta(seconds=self._refresh_ttl)
        await RefreshTokenRepository(session).add(
            user.id, family_id, hash_refresh_token(token), expires_at
        )
        return AuthSession(
            user=user,
            access_token=self._access.issue(user.id),
            refresh_token=token,
            expires_in=self._access.ttl,
        )
