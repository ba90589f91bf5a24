"""netra.auth: argon2id passwords, JWT access tokens and opaque refresh tokens."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable

import jwt
import pytest
from argon2 import PasswordHasher

from netra.auth.passwords import Passwords
from netra.auth.tokens import (
    ALGORITHM,
    REFRESH_PREFIX,
    AccessTokens,
    TokenError,
    hash_token,
    new_family_id,
    new_refresh_token,
)
from netra.ids import is_valid, new_id

KEY = "unit-test-signing-key-" + "k" * 32
OTHER_KEY = "another-signing-key-" + "o" * 32
TTL = 900
EXPECTED_INVALID = "the access token is invalid"


@pytest.fixture
def passwords() -> Passwords:
    # Minimal argon2 costs keep the suite fast; the algorithm and the code path are the same.
    return Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def tokens() -> AccessTokens:
    return AccessTokens(KEY, TTL)


# -- passwords ------------------------------------------------------------------
async def test_default_hasher_is_argon2id() -> None:
    stored = await Passwords().hash("correct horse battery")
    assert stored.startswith("$argon2id$")


async def test_hash_then_verify(passwords: Passwords) -> None:
    stored = await passwords.hash("correct horse battery")
    assert "correct horse battery" not in stored
    assert await passwords.verify(stored, "correct horse battery") is True


async def test_hashes_are_salted(passwords: Passwords) -> None:
    assert await passwords.hash("same password") != await passwords.hash("same password")


@pytest.mark.parametrize(
    "attempt", ["wrong password", "correct horse batter", "", "CORRECT HORSE BATTERY"]
)
async def test_wrong_password_is_rejected(passwords: Passwords, attempt: str) -> None:
    stored = await passwords.hash("correct horse battery")
    assert await passwords.verify(stored, attempt) is False


async def test_unknown_user_path_returns_false(passwords: Passwords) -> None:
    assert await passwords.verify(None, "anything at all") is False


async def test_unknown_user_path_is_false_even_for_the_equaliser_password(
    passwords: Passwords,
) -> None:
    # The dummy hash is verified against for timing only; it must never log anyone in.
    assert await passwords.verify(None, "netra-timing-equaliser") is False


@pytest.mark.parametrize("stored", ["not-a-hash", "$argon2id$garbage", ""])
async def test_malformed_stored_hash_is_a_failed_login(passwords: Passwords, stored: str) -> None:
    assert await passwords.verify(stored, "correct horse battery") is False


# -- access tokens --------------------------------------------------------------
def _claims(token: str) -> dict[str, object]:
    return jwt.decode(token, KEY, algorithms=[ALGORITHM], options={"verify_exp": False})


def _forge(claims: dict[str, object], key: str = KEY) -> str:
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def _token_error(tokens: AccessTokens, token: str) -> TokenError:
    with pytest.raises(TokenError) as info:
        tokens.verify(token)
    return info.value


def test_issue_verify_round_trip(tokens: AccessTokens) -> None:
    user_id = new_id("usr")
    assert tokens.verify(tokens.issue(user_id)) == user_id


def test_issued_claims(tokens: AccessTokens) -> None:
    user_id = new_id("usr")
    claims = _claims(tokens.issue(user_id, now=1_700_000_000))
    assert claims["sub"] == user_id
    assert claims["typ"] == "access"
    assert claims["iat"] == 1_700_000_000
    assert claims["exp"] == 1_700_000_000 + TTL
    assert re.fullmatch(r"[0-9a-f]{16}", str(claims["jti"]))  # a random 64-bit token id


def test_verified_claims_carry_the_user_and_the_expiry(tokens: AccessTokens) -> None:
    user_id, now = new_id("usr"), int(time.time())
    claims = tokens.claims(tokens.issue(user_id, now=now))
    # The WebSocket connection closes at expires_at and moves it on when renewed.
    assert (claims.user_id, claims.expires_at) == (user_id, float(now + TTL))


def test_each_token_is_unique(tokens: AccessTokens) -> None:
    user_id = new_id("usr")
    assert tokens.issue(user_id, now=1_700_000_000) != tokens.issue(user_id, now=1_700_000_000)


def test_expired_token(tokens: AccessTokens) -> None:
    token = tokens.issue(new_id("usr"), now=time.time() - TTL - 3600)
    error = _token_error(tokens, token)
    assert error.code == "token_expired"
    assert "expired" in error.message


def test_token_issued_recently_is_still_valid(tokens: AccessTokens) -> None:
    user_id = new_id("usr")
    assert tokens.verify(tokens.issue(user_id, now=time.time() - TTL / 2)) == user_id


def test_tampered_signature_is_invalid(tokens: AccessTokens) -> None:
    token = tokens.issue(new_id("usr"))
    head, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert _token_error(tokens, f"{head}.{payload}.{flipped}").code == "token_invalid"


def test_tampered_payload_is_invalid(tokens: AccessTokens) -> None:
    token = tokens.issue(new_id("usr"))
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = new_id("usr")
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert _token_error(tokens, f"{head}.{forged}.{signature}").code == "token_invalid"


def test_token_signed_with_another_key_is_invalid(tokens: AccessTokens) -> None:
    foreign = AccessTokens(OTHER_KEY, TTL).issue(new_id("usr"))
    assert _token_error(tokens, foreign).code == "token_invalid"


def _signed_as_refresh() -> str:
    now = int(time.time())
    return _forge({"sub": new_id("usr"), "iat": now, "exp": now + 60, "typ": "refresh"})


@pytest.mark.parametrize(
    ("make", "code", "message"),
    [
        pytest.param(
            lambda t: t.issue(new_id("usr"), now=time.time() - TTL - 60),
            "token_expired",
            "the access token has expired; refresh it",
            id="expired",
        ),
        pytest.param(lambda t: "not.a.jwt", "token_invalid", EXPECTED_INVALID, id="malformed"),
        pytest.param(lambda t: _signed_as_refresh(), "token_invalid", EXPECTED_INVALID, id="typ"),
    ],
)
def test_a_refusal_says_what_to_do_in_the_401s_message(
    tokens: AccessTokens, make: Callable[[AccessTokens], str], code: str, message: str
) -> None:
    # code and message become the 401 body ({"error": {"code", "message"}}) and the
    # WebSocket's error frame, so the message is what a client shows.
    error = _token_error(tokens, make(tokens))
    assert (error.code, error.message, str(error)) == (code, message, message)


@pytest.mark.parametrize("token", ["", "not.a.jwt", "abc", "a.b"])
def test_garbage_is_invalid(tokens: AccessTokens, token: str) -> None:
    assert _token_error(tokens, token).code == "token_invalid"


def test_unsigned_token_is_invalid(tokens: AccessTokens) -> None:
    now = int(time.time())
    claims = {"sub": new_id("usr"), "iat": now, "exp": now + 60, "typ": "access"}
    token = jwt.encode(claims, None, algorithm="none")
    assert _token_error(tokens, token).code == "token_invalid"


@pytest.mark.parametrize("typ", ["refresh", "ACCESS", None])
def test_wrong_typ_is_invalid(tokens: AccessTokens, typ: str | None) -> None:
    now = int(time.time())
    claims: dict[str, object] = {"sub": new_id("usr"), "iat": now, "exp": now + 60}
    if typ is not None:
        claims["typ"] = typ
    assert _token_error(tokens, _forge(claims)).code == "token_invalid"


# Fixed ids (not new_id() at import) so every xdist worker collects the same test ids.
@pytest.mark.parametrize(
    "sub",
    [
        "thr_01M804TBEQJ9J64JT4Q4MZWX5R",
        "usr_not-an-id",
        "admin",
        "usr_01m804tbeqbvr6dknbb16n7wdm",
    ],
)
def test_subject_that_is_not_a_user_id_is_invalid(tokens: AccessTokens, sub: str) -> None:
    now = int(time.time())
    claims = {"sub": sub, "iat": now, "exp": now + 60, "typ": "access"}
    assert _token_error(tokens, _forge(claims)).code == "token_invalid"


@pytest.mark.parametrize("missing", ["sub", "exp", "iat"])
def test_missing_required_claim_is_invalid(tokens: AccessTokens, missing: str) -> None:
    now = int(time.time())
    claims: dict[str, object] = {"sub": new_id("usr"), "iat": now, "exp": now + 60, "typ": "access"}
    del claims[missing]
    assert _token_error(tokens, _forge(claims)).code == "token_invalid"


# -- refresh tokens -------------------------------------------------------------
def test_refresh_tokens_are_prefixed_and_unique() -> None:
    values = {new_refresh_token() for _ in range(100)}
    assert len(values) == 100
    assert all(v.startswith(REFRESH_PREFIX) and len(v) > len(REFRESH_PREFIX) + 40 for v in values)


def test_a_refresh_token_holds_256_random_bits() -> None:
    # hash_token stores it unsalted and fast because it holds 256 random bits.
    secret = new_refresh_token().removeprefix(REFRESH_PREFIX)
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32


def test_refresh_token_hash_is_stable_hex_and_hides_the_token() -> None:
    token = new_refresh_token()
    digest = hash_token(token)
    assert digest == hash_token(token)
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert token not in digest
    assert digest != hash_token(new_refresh_token())


def test_family_ids_are_refresh_token_ids() -> None:
    first, second = new_family_id(), new_family_id()
    assert is_valid(first, "rtk")
    assert first != second
