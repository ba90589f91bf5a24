"""GET /ws: authenticate, then hand the socket to a Connection."""

from __future__ import annotations

import asyncio

from starlette.websockets import WebSocket, WebSocketDisconnect

from netra.auth.api_tokens import looks_like_api_token
from netra.auth.tokens import AccessClaims, TokenError
from netra.lifecycle import Platform
from netra.observability import logs
from netra.realtime.connection import Connection
from netra.realtime.frames import AuthFrame, CloseCode, FrameError, parse_frame


def _bearer(websocket: WebSocket) -> str | None:
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _authenticate(websocket: WebSocket, platform: Platform) -> AccessClaims | None:
    """The token's claims, from the upgrade's Authorization header or the first frame."""
    token = _bearer(websocket)
    if token is None:
        timeout = platform.settings.ws_auth_timeout
        try:
            message = await asyncio.wait_for(websocket.receive(), timeout)
        except TimeoutError:
            await websocket.close(CloseCode.AUTH_TIMEOUT, f"no auth frame within {timeout:g} s")
            return None
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if text is None or len(text.encode()) > platform.settings.ws_max_frame_bytes:
            await websocket.close(
                CloseCode.UNAUTHORIZED, "the first frame must be a JSON auth frame"
            )
            return None
        try:
            frame = parse_frame(text)
        except FrameError as exc:
            await websocket.close(CloseCode.UNAUTHORIZED, f"{exc.code}: first frame must be auth")
            return None
        if not isinstance(frame, AuthFrame):
            await websocket.close(CloseCode.UNAUTHORIZED, "the first frame must be auth")
            return None
        token = frame.token
    if looks_like_api_token(token):  # valid or not, it is refused here: say so, as REST does
        await websocket.close(CloseCode.UNAUTHORIZED, "token_scope")
        return None
    try:
        return platform.tokens.claims(token)
    except TokenError as exc:
        await websocket.close(CloseCode.UNAUTHORIZED, exc.code)
        return None


async def websocket_endpoint(websocket: WebSocket) -> None:
    platform: Platform = websocket.app.state.platform
    await websocket.accept()
    try:
        claims = await _authenticate(websocket, platform)
    except WebSocketDisconnect:
        return
    if claims is None:
        return
    metrics = platform.obs.metrics
    if not platform.connections.acquire(claims.user_id):
        metrics.throttled.labels("too_many_connections").inc()
        limit = platform.connections.limit
        await websocket.close(CloseCode.TOO_MANY_CONNECTIONS, f"over {limit} connections")
        return
    logs.bind(user_id=claims.user_id)  # this connection's task: every line it logs
    connection = Connection(websocket, claims.user_id, claims.expires_at, platform)
    platform.live.add(connection)
    open_sockets = metrics.connections.labels("ws")
    open_sockets.inc()
    try:
        connection.send({"type": "auth_ok", "user_id": claims.user_id})
        await connection.serve()
    finally:
        open_sockets.dec()
        platform.live.discard(connection)
        platform.connections.release(claims.user_id)
