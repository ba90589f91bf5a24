"""/api/auth/* and /api/me."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, EmailStr, Field

from netra.api.deps import PlatformDep, UserId
from netra.api.schemas import UserOut
from netra.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from netra.auth.service import AuthSession
from netra.db.repositories import UserRepository
from netra.errors import AppError

router = APIRouter(prefix="/api")


class RegisterIn(BaseModel):
    email: EmailStr
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
    display_name: str | None = Field(None, max_length=100)


class LoginIn(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=512)


def _session_body(session: AuthSession) -> dict[str, Any]:
    return {
        "user": UserOut.model_validate(session.user).model_dump(mode="json"),
        "access_token": session.access_token,
        "refresh_token": session.refresh_token,
        "token_type": "bearer",
        "expires_in": session.expires_in,
    }


@router.post("/auth/register", status_code=201)
async def register(body: RegisterIn, platform: PlatformDep) -> dict[str, Any]:
    session = await platform.auth.register(body.email, body.password, body.display_name)
    return _session_body(session)


@router.post("/auth/login")
async def login(body: LoginIn, request: Request, platform: PlatformDep) -> dict[str, Any]:
    client = request.client.host if request.client else "unknown"
    return _session_body(await platform.auth.login(body.email, body.password, client))


@router.post("/auth/refresh")
async def refresh(body: RefreshIn, platform: PlatformDep) -> dict[str, Any]:
    return _session_body(await platform.auth.refresh(body.refresh_token))


@router.post("/auth/logout", status_code=204)
async def logout(body: RefreshIn, platform: PlatformDep) -> Response:
    await platform.auth.logout(body.refresh_token)
    return Response(status_code=204)


@router.get("/me")
async def me(user_id: UserId, platform: PlatformDep) -> UserOut:
    async with platform.db.session() as session:
        user = await UserRepository(session).by_id(user_id)
    if user is None:
        raise AppError(401, "unauthorized", "this account no longer exists")
    return UserOut.model_validate(user)
