"""/api/auth/* and /api/me."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import EmailStr, Field

from netra.api.deps import PlatformDep, UserId
from netra.api.openapi import BODY, error_responses
from netra.api.schemas import UserOut
from netra.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from netra.auth.service import AuthSession
from netra.db.repositories import UserRepository
from netra.errors import AppError
from netra.inputs import NulFree

router = APIRouter(prefix="/api")


class RegisterIn(NulFree):
    email: EmailStr
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
    display_name: str | None = Field(None, max_length=100)


class LoginIn(NulFree):
    email: EmailStr
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class RefreshIn(NulFree):
    refresh_token: str = Field(min_length=1, max_length=512)


def client_address(request: Request) -> str:
    """The address throttles count under: the peer's, or the one a trusted proxy named
    (uvicorn applies X-Forwarded-For only from NETRA_TRUSTED_PROXIES)."""
    return request.client.host if request.client else "unknown"


def _session_body(session: AuthSession) -> dict[str, Any]:
    return {
        "user": UserOut.model_validate(session.user).model_dump(mode="json"),
        "access_token": session.access_token,
        "refresh_token": session.refresh_token,
        "token_type": "bearer",
        "expires_in": session.expires_in,
    }


@router.post("/auth/register", status_code=201, responses=error_responses(*BODY, 409, 429))
async def register(body: RegisterIn, request: Request, platform: PlatformDep) -> dict[str, Any]:
    session = await platform.auth.register(
        body.email, body.password, body.display_name, client_address(request)
    )
    return _session_body(session)


@router.post("/auth/login", responses=error_responses(*BODY, 401, 429))
async def login(body: LoginIn, request: Request, platform: PlatformDep) -> dict[str, Any]:
    client = client_address(request)
    return _session_body(await platform.auth.login(body.email, body.password, client))


@router.post("/auth/refresh", responses=error_responses(*BODY, 401))
async def refresh(body: RefreshIn, platform: PlatformDep) -> dict[str, Any]:
    return _session_body(await platform.auth.refresh(body.refresh_token))


@router.post("/auth/logout", status_code=204, responses=error_responses(*BODY))
async def logout(body: RefreshIn, platform: PlatformDep) -> Response:
    await platform.auth.logout(body.refresh_token)
    return Response(status_code=204)


@router.get("/me", responses=error_responses(401))
async def me(user_id: UserId, platform: PlatformDep) -> UserOut:
    async with platform.db.session() as session:
        user = await UserRepository(session).by_id(user_id)
    if user is None:
        raise AppError(401, "unauthorized", "this account no longer exists")
    return UserOut.model_validate(user)
