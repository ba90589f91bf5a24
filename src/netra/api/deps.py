"""FastAPI dependencies: the platform and the authenticated user."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, Request

from netra.auth.api_tokens import OUT_OF_SCOPE, looks_like_api_token
from netra.auth.tokens import BEARER_CHALLENGE, AccessTokens, TokenError
from netra.errors import AppError
from netra.lifecycle import Platform
from netra.observability import logs

#: Where the guard that authenticates before a body is read leaves the user it found.
USER_KEY = "netra.user_id"


async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of `Authorization: Bearer <token>`, or a 401."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AppError(
            401, "unauthorized", "send Authorization: Bearer <access_token>", BEARER_CHALLENGE
        )
    return token.strip()


def authenticate(headers: Mapping[str, str], tokens: AccessTokens) -> str:
    """The user id from `Authorization: Bearer <access token>`, or a 401."""
    token = bearer_token(headers)
    if looks_like_api_token(token):
        raise AppError(401, "token_scope", OUT_OF_SCOPE, BEARER_CHALLENGE)
    try:
        return tokens.verify(token)
    except TokenError as exc:
        raise AppError(401, exc.code, exc.message, BEARER_CHALLENGE) from None


async def authenticate_agui(headers: Mapping[str, str], platform: Platform) -> str:
    """The user id from an access token or an API token of scope `agui`, or a 401."""
    token = bearer_token(headers)
    if looks_like_api_token(token):
        return await platform.api_tokens.authenticate(token, "agui")
    return authenticate(headers, platform.tokens)


async def current_user_id(request: Request, platform: PlatformDep) -> str:
    user_id = authenticate(request.headers, platform.tokens)
    logs.bind(user_id=user_id)  # for the rest of the request (RequestContext unbinds)
    return user_id


async def agui_user_id(request: Request, platform: PlatformDep) -> str:
    found: str | None = request.scope.get(USER_KEY)  # already checked before the body
    user_id = found or await authenticate_agui(request.headers, platform)
    logs.bind(user_id=user_id)  # for the rest of the request (RequestContext unbinds)
    return user_id


PlatformDep = Annotated[Platform, Depends(get_platform)]
UserId = Annotated[str, Depends(current_user_id)]
AguiUserId = Annotated[str, Depends(agui_user_id)]
