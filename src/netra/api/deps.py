"""FastAPI dependencies: the platform and the authenticated user."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, Request

from netra.auth.tokens import AccessTokens, TokenError
from netra.errors import AppError
from netra.lifecycle import Platform
from netra.observability import logs


async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def authenticate(headers: Mapping[str, str], tokens: AccessTokens) -> str:
    """The user id from `Authorization: Bearer <access token>`, or a 401."""
    challenge = {"WWW-Authenticate": "Bearer"}
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AppError(401, "unauthorized", "send Authorization: Bearer <access_token>", challenge)
    try:
        return tokens.verify(token.strip())
    except TokenError as exc:
        raise AppError(401, exc.code, exc.message, challenge) from None


async def current_user_id(request: Request, platform: PlatformDep) -> str:
    user_id = authenticate(request.headers, platform.tokens)
    logs.bind(user_id=user_id)  # for the rest of the request (RequestContext unbinds)
    return user_id


PlatformDep = Annotated[Platform, Depends(get_platform)]
UserId = Annotated[str, Depends(current_user_id)]
