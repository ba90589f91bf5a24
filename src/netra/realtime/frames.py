"""Client -> server WebSocket frames, and close codes (DESIGN section 4)."""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated, Any, Literal

import orjson
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from netra.inputs import NulFree
from netra.realtime.events import MAX_SEQ


class CloseCode(IntEnum):
    """Close codes the server uses; documented in the README."""

    NORMAL = 1000
    GOING_AWAY = 1001  # the server is stopping, every event of the client's runs sent
    SERVICE_RESTART = 1012  # the server stopped before it could close cleanly; reconnect
    MESSAGE_TOO_BIG = 1009  # a frame larger than NETRA_WS_MAX_FRAME_BYTES
    UNAUTHORIZED = 4401  # bad or missing token, or first frame not `auth`
    AUTH_TIMEOUT = 4408  # no auth frame within NETRA_WS_AUTH_TIMEOUT
    TOO_MANY_FRAMES = 4429  # more than NETRA_WS_MAX_FRAMES_PER_SECOND sustained
    TOO_MANY_CONNECTIONS = 4430  # the user already has NETRA_MAX_CONNECTIONS_PER_USER open
    SLOW_CONSUMER = 4503  # the client did not read fast enough; its send queue filled up


class _Frame(NulFree):
    # Strict: `"5"`, `true` or `1e3` is not an int, and a number is not a string.
    model_config = ConfigDict(extra="forbid", strict=True)


class AuthFrame(_Frame):
    type: Literal["auth"]
    token: str = Field(min_length=1, max_length=4096)


class UserMessageFrame(_Frame):
    type: Literal["user_message"]
    text: str = Field(min_length=1)
    thread_id: str | None = Field(None, max_length=64)
    agent: str | None = Field(None, max_length=64)
    client_msg_id: str | None = Field(None, max_length=128)


class SubscribeFrame(_Frame):
    type: Literal["subscribe"]
    thread_id: str = Field(max_length=64)
    after_seq: int = Field(0, ge=0, le=MAX_SEQ)


class CancelFrame(_Frame):
    type: Literal["cancel"]
    run_id: str = Field(max_length=64)


class PingFrame(_Frame):
    type: Literal["ping"]


ClientFrame = Annotated[
    AuthFrame | UserMessageFrame | SubscribeFrame | CancelFrame | PingFrame,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)
FRAME_TYPES = ("auth", "user_message", "subscribe", "cancel", "ping")


class FrameError(Exception):
    """A frame the server could not accept; sent back as an `error` frame."""

    def __init__(self, code: str, message: str, client_msg_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.client_msg_id = client_msg_id

    def to_frame(self) -> dict[str, Any]:
        frame = {"type": "error", "code": self.code, "message": self.message}
        if self.client_msg_id is not None:
            frame["client_msg_id"] = self.client_msg_id
        return frame


def parse_frame(text: str) -> ClientFrame:
    """Parse one text frame, or raise FrameError with a message a client can act on."""
    try:
        # orjson refuses nesting deeper than 1024 levels with a ValueError, where the
        # json module would overflow Python's stack (a RecursionError).
        raw = orjson.loads(text)
    except ValueError:
        raise FrameError("invalid_json", "the frame is not valid JSON") from None
    if not isinstance(raw, dict):
        raise FrameError("invalid_frame", "a frame must be a JSON object with a `type`")
    kind = raw.get("type")
    client_msg_id = raw.get("client_msg_id") if isinstance(raw.get("client_msg_id"), str) else None
    if kind not in FRAME_TYPES:
        raise FrameError(
            "unknown_type",
            f"unknown frame type {kind!r}; expected one of {', '.join(FRAME_TYPES)}",
            client_msg_id,
        )
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"][1:]) or "frame"
        raise FrameError("invalid_frame", f"{where}: {error['msg']}", client_msg_id) from None
