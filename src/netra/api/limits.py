"""Refusals made before a request body is read: its size, the caller's token, NUL in the URL.

FastAPI reads a route's body before it solves the route's dependencies, so the
token check of an authenticated route is repeated here, on the first read of the
body: an anonymous caller cannot make the server buffer a body for nothing.
"""

from __future__ import annotations

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from netra.api.deps import USER_KEY, agui_user_id, authenticate, authenticate_agui, current_user_id
from netra.api.errors import Refused, count_refusal, error_response
from netra.errors import AppError


def _too_large(limit: int) -> AppError:
    return AppError(413, "payload_too_large", f"the request body is over {limit} bytes")


def _needs(dependant: Dependant, call: object) -> bool:
    return any(d.call is call or _needs(d, call) for d in dependant.dependencies)


class RequestGuard:
    """ASGI middleware: `413` for bodies over `max_body_bytes` (from `Content-Length`, and
    while the body streams in), `401` before an authenticated route's body is read, and
    `422` for a NUL character in the URL (PostgreSQL cannot compare text holding one)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        early = self._refuse_at_once(scope)
        if early is not None:
            count_refusal(scope["app"], early.status, early.code)
            response = error_response(early.status, early.code, early.message, early.headers)
            await response(scope, receive, send)
            return
        received = 0
        first = True

        async def guarded_receive() -> Message:
            nonlocal received, first
            if first:
                first = False
                await self._check_token(scope)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise Refused(_too_large(self.max_body_bytes))
            return message

        await self.app(scope, guarded_receive, send)

    def _refuse_at_once(self, scope: Scope) -> AppError | None:
        if "\x00" in scope["path"] or b"%00" in scope["query_string"]:
            return AppError(422, "invalid_request", "the URL contains a NUL character")
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > self.max_body_bytes:
            return _too_large(self.max_body_bytes)
        return None

    @staticmethod
    async def _check_token(scope: Scope) -> None:
        route = scope.get("route")
        if not isinstance(route, APIRoute):
            return
        platform = scope["app"].state.platform
        try:
            if _needs(route.dependant, current_user_id):
                authenticate(Headers(scope=scope), platform.tokens)
            elif _needs(route.dependant, agui_user_id):
                # An API token costs a database read: the route reuses what was found here.
                scope[USER_KEY] = await authenticate_agui(Headers(scope=scope), platform)
        except AppError as exc:
            raise Refused(exc) from None
