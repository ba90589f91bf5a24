"""API tokens: what a server-side client (a CopilotKit runtime, a backend) holds for a user.

An access token lasts minutes and is renewed by a refresh token that rotates on
every use, which suits a browser but not a server process configured once with
an `Authorization` header. An API token lasts until it expires (at most a year)
or its owner revokes it, and is accepted only for its scope: today `agui`, the
AG-UI endpoint. It is shown once when made and stored only as a SHA-256 hash.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from netra.auth.tokens import BEARER_CHALLENGE, hash_token
from netra.db.engine import Database
from netra.db.models import ApiToken
from netra.db.repositories import ApiTokenRepository
from netra.errors import AppError

PREFIX = "nat_"
SCOPES = frozenset({"agui"})
MAX_DAYS = 365
#: Seconds between two writes of a token's `last_used_at`.
TOUCH_EVERY = 60.0
#: What `secrets.token_urlsafe(32)` makes after the prefix: 43 URL-safe characters.
_SHAPE = re.compile(r"nat_[A-Za-z0-9_-]{43}")
#: What an API token sent anywhere but POST /api/agui is told (code `token_scope`).
OUT_OF_SCOPE = "API tokens are accepted only by POST /api/agui; send an access token"


def looks_like_api_token(token: str) -> bool:
    return token.startswith(PREFIX)


@dataclass(frozen=True)
class NewApiToken:
    """A token just made: the only time its secret is seen."""

    record: ApiToken
    secret: str


class ApiTokens:
    def __init__(self, db: Database, *, per_user: int) -> None:
        self._db = db
        self.per_user = per_user

    async def create(self, user_id: str, name: str, scope: str, days: int) -> NewApiToken:
        name = name.strip()
        if not name:
            raise AppError(422, "invalid_request", "name the API token (what will hold it)")
        if scope not in SCOPES:
            raise AppError(422, "invalid_request", f"scope must be one of {sorted(SCOPES)}")
        if not 1 <= days <= MAX_DAYS:
            raise AppError(422, "invalid_request", f"expires_in_days must be 1 to {MAX_DAYS}")
        now = datetime.now(UTC)
        secret = PREFIX + secrets.token_urlsafe(32)
        async with self._db.session() as session:
            tokens = ApiTokenRepository(session, user_id)
            await tokens.lock_owner()
            if len(await tokens.usable(now)) >= self.per_user:
                raise AppError(
                    409,
                    "api_token_limit",
                    f"this account has {self.per_user} API tokens in use; revoke one first",
                )
            record = await tokens.add(name, scope, hash_token(secret), now + timedelta(days=days))
        return NewApiToken(record, secret)

    async def usable(self, user_id: str) -> list[ApiToken]:
        """The user's tokens in use, newest first (a read: it waits for no writer)."""
        async with self._db.read() as session:
            return list(await ApiTokenRepository(session, user_id).usable(datetime.now(UTC)))

    async def revoke(self, user_id: str, token_id: str) -> None:
        async with self._db.session() as session:
            if not await ApiTokenRepository(session, user_id).revoke(token_id, datetime.now(UTC)):
                raise AppError(404, "not_found", "no such API token")

    async def authenticate(self, token: str, scope: str, *, now: datetime | None = None) -> str:
        """The user id the token stands for, or a 401 that says why.

        A read; the write of `last_used_at` only when it is due (every use in a write
        transaction would queue each AG-UI request behind SQLite's event-log writer)."""
        now = now or datetime.now(UTC)
        if not _SHAPE.fullmatch(token):  # no database read for what no token looks like
            raise AppError(
                401, "token_invalid", "the API token is unknown or revoked", BEARER_CHALLENGE
            )
        async with self._db.read() as session:
            record = await ApiTokenRepository.by_hash(session, hash_token(token))
        if record is None or record.revoked_at is not None:
            raise AppError(
                401, "token_invalid", "the API token is unknown or revoked", BEARER_CHALLENGE
            )
        if record.expires_at <= now:
            raise AppError(
                401, "token_expired", "the API token has expired; make a new one", BEARER_CHALLENGE
            )
        if record.scope != scope:
            raise AppError(
                401, "token_scope", f"this API token is for {record.scope} only", BEARER_CHALLENGE
            )
        last = record.last_used_at
        if last is None or last < now - timedelta(seconds=TOUCH_EVERY):
            async with self._db.session() as session:
                await ApiTokenRepository.touch(session, record.id, now, TOUCH_EVERY)
        return record.user_id
