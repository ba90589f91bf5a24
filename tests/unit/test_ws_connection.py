"""Connection lifetime rules: slow consumers, token expiry, re-authentication."""

from __future__ import annotations

import asyncio
import json
import time
from types import SimpleNamespace
from typing import Any

from netra.auth.tokens import AccessTokens
from netra.config import Settings
from netra.ids import new_id
from netra.observability import Observability
from netra.realtime.connection import Connection
from netra.realtime.frames import CloseCode


class StalledSocket:
    """A WebSocket whose peer never reads: every send blocks; nothing is ever received."""

    def __init__(self) -> None:
        self.sent_attempts = 0
        self.closed_with: tuple[int, str] | None = None
        self.reading = asyncio.Event()
        self._never = asyncio.Event()

    async def send_text(self, text: str) -> None:
        self.sent_attempts += 1
        await self._never.wait()

    async def receive(self) -> dict[str, Any]:
        self.reading.set()
        await self._never.wait()
        return {"type": "websocket.disconnect"}

    async def close(self, code: int, reason: str = "") -> None:
        self.closed_with = (code, reason)


async def test_full_send_queue_closes_the_connection_with_slow_consumer() -> None:
    settings = Settings(ws_send_queue=8)
    socket = StalledSocket()
    platform = SimpleNamespace(settings=settings, obs=Observability())
    connection = Connection(socket, "usr_x", time.time() + 60, platform)  # type: ignore[arg-type]
    serving = asyncio.create_task(connection.serve())
    await socket.reading.wait()  # serve() is in its read loop, waiting for the client

    # The writer holds one frame in its blocked send; the rest must fit the queue.
    for number in range(settings.ws_send_queue + 2):
        connection.send({"type": "pong", "n": number})
        await asyncio.sleep(0)  # let the writer take its first frame
    await asyncio.wait_for(serving, timeout=5)

    assert socket.closed_with is not None
    assert socket.closed_with[0] == CloseCode.SLOW_CONSUMER
    assert socket.sent_attempts == 1
    assert not serving.cancelled()  # the abort's cancel was absorbed, not passed on


class ScriptedSocket(StalledSocket):
    """A peer that sends the given frames, records what it is sent, then goes quiet."""

    def __init__(self, frames: list[dict[str, Any]]) -> None:
        super().__init__()
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for frame in frames:
            self.incoming.put_nowait({"type": "websocket.receive", "text": json.dumps(frame)})
        self.sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send_text(self, text: str) -> None:
        self.sent_attempts += 1
        self.sent.put_nowait(json.loads(text))

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()


def _platform(tokens: AccessTokens) -> SimpleNamespace:
    return SimpleNamespace(settings=Settings(), tokens=tokens, obs=Observability())


async def test_connection_closes_with_4401_when_its_token_expires() -> None:
    socket = ScriptedSocket([])
    tokens = AccessTokens("k" * 40, 900)
    connection = Connection(socket, "usr_x", time.time() - 1, _platform(tokens))  # type: ignore[arg-type]

    await asyncio.wait_for(connection.serve(), timeout=5)

    assert socket.closed_with == (CloseCode.UNAUTHORIZED, "token_expired")


async def test_auth_frame_with_a_fresh_token_extends_the_connection() -> None:
    tokens = AccessTokens("k" * 40, 900)
    user_id = new_id("usr")
    fresh = tokens.issue(user_id)
    socket = ScriptedSocket([{"type": "auth", "token": fresh}])
    connection = Connection(socket, user_id, time.time() + 60, _platform(tokens))  # type: ignore[arg-type]
    serving = asyncio.create_task(connection.serve())

    reply = await asyncio.wait_for(socket.sent.get(), timeout=5)
    connection.abort(CloseCode.NORMAL, "test over")
    await asyncio.wait_for(serving, timeout=5)

    assert reply == {"type": "auth_ok", "user_id": user_id}
    assert connection.expires_at == tokens.claims(fresh).expires_at


async def test_auth_frame_for_another_user_is_refused_and_does_not_extend() -> None:
    tokens = AccessTokens("k" * 40, 900)
    socket = ScriptedSocket([{"type": "auth", "token": tokens.issue(new_id("usr"))}])
    deadline = time.time() + 60
    connection = Connection(socket, new_id("usr"), deadline, _platform(tokens))  # type: ignore[arg-type]
    serving = asyncio.create_task(connection.serve())

    reply = await asyncio.wait_for(socket.sent.get(), timeout=5)
    connection.abort(CloseCode.NORMAL, "test over")
    await asyncio.wait_for(serving, timeout=5)

    assert (reply["type"], reply["code"]) == ("error", "token_invalid")
    assert connection.expires_at == deadline
