"""/api/auth/*, /api/me and the user's API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from netra.api.deps import PlatformDep, UserId
from netra.api.openapi import BODY, error_responses
from netra.api.schemas import UserOut
from netra.auth.api_tokens import MAX_DAYS
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


class ApiTokenIn(NulFree):
    name: str = Field(min_length=1, max_length=100, description="what holds it, for the owner")
    scope: Literal["agui"] = "agui"
    expires_in_days: int = Field(90, ge=1, le=MAX_DAYS)


class ApiTokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    scope: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None


class NewApiTokenOut(ApiTokenOut):
    token: str = Field(description="the secret: shown this once, stored only as a hash")


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


@router.post("/me/api-tokens", status_code=201, responses=error_responses(*BODY, 401, 409))
async def create_api_token(
    body: ApiTokenIn, user_id: UserId, platform: PlatformDep
) -> NewApiTokenOut:
    """Make a long-lived token for a server-side AG-UI client (`Authorization: Bearer nat_...`
    on POST /api/agui only). Only an access token can make one."""
    made = await platform.api_tokens.create(user_id, body.name, body.scope, body.expires_in_days)
    out = ApiTokenOut.model_validate(made.record).model_dump()
    return NewApiTokenOut(**out, token=made.secret)


@router.get("/me/api-tokens", responses=error_responses(401))
async def list_api_tokens(user_id: UserId, platform: PlatformDep) -> list[ApiTokenOut]:
    """The caller's tokens in use (neither revoked nor expired), newest first; no secrets."""
    return [ApiTokenOut.model_validate(t) for t in await platform.api_tokens.usable(user_id)]


@router.delete("/me/api-tokens/{token_id}", status_code=204, responses=error_responses(401, 404))
async def revoke_api_token(token_id: str, user_id: UserId, platform: PlatformDep) -> Response:
    """Revoke at once: the next request that carries the token is refused."""
    await platform.api_tokens.revoke(user_id, token_id)
    return Response(status_code=204)
