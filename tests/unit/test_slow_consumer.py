"""A client that stops reading is disconnected with 4503 instead of buffering forever."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from netra.config import Settings
from netra.realtime.connection import Connection
from netra.realtime.frames import CloseCode


class StalledSocket:
    """A WebSocket whose peer never reads: every send blocks; nothing is ever received."""

    def __init__(self) -> None:
        self.sent_attempts = 0
        self.closed_with: tuple[int, str] | None = None
        self._never = asyncio.Event()

    async def send_text(self, text: str) -> None:
        self.sent_attempts += 1
        await self._never.wait()

    async def receive(self) -> dict[str, Any]:
        await self._never.wait()
        return {"type": "websocket.disconnect"}

    async def close(self, code: int, reason: str = "") -> None:
        self.closed_with = (code, reason)


async def test_full_send_queue_closes_the_connection_with_slow_consumer() -> None:
    settings = Settings(ws_send_queue=8)
    socket = StalledSocket()
    connection = Connection(socket, "usr_x", SimpleNamespace(settings=settings))  # type: ignore[arg-type]
    serving = asyncio.create_task(connection.serve())

    # The writer can hold at most one frame in its blocked send; the rest must fit the queue.
    for number in range(settings.ws_send_queue + 2):
        connection.send({"type": "pong", "n": number})
    await asyncio.wait_for(serving, timeout=5)

    assert socket.closed_with is not None
    assert socket.closed_with[0] == CloseCode.SLOW_CONSUMER
    assert socket.sent_attempts <= 1
