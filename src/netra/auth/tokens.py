"""Short-lived JWT access tokens and opaque refresh tokens (stored only as hashes)."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import jwt

from netra.ids import is_valid, new_id

ALGORITHM = "HS256"
REFRESH_PREFIX = "nrt_"
#: The challenge of every 401 for a missing or refused bearer token.
BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class TokenError(Exception):
    """An access token was rejected; `code` says why (token_expired / token_invalid)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    expires_at: float  # Unix time


class AccessTokens:
    """Issue and verify HS256 JWTs whose subject is a user id."""

    def __init__(self, key: str, ttl_seconds: int) -> None:
        self._key = key
        self.ttl = ttl_seconds

    def issue(self, user_id: str, *, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims = {
            "sub": user_id,
            "iat": issued,
            "exp": issued + self.ttl,
            "typ": "access",
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify(self, token: str) -> str:
        """Return the user id, or raise TokenError."""
        return self.claims(token).user_id

    def claims(self, token: str) -> AccessClaims:
        """The verified claims, or TokenError."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "exp", "iat", "typ"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token_expired", "the access token has expired; refresh it") from None
        except jwt.PyJWTError:
            raise TokenError("token_invalid", "the access token is invalid") from None
        if claims.get("typ") != "access" or not is_valid(claims.get("sub"), "usr"):
            raise TokenError("token_invalid", "the access token is invalid")
        return AccessClaims(user_id=str(claims["sub"]), expires_at=float(claims["exp"]))


def new_refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """How refresh and API tokens are stored: SHA-256 (each secret has 256 random bits,
    so neither salt nor a slow hash adds anything)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_family_id() -> str:
    # A family is the chain of refresh tokens that descends from one login.
    return new_id("rtk")
