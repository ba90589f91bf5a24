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


def _serving(socket: StalledSocket, **settings: Any) -> tuple[Connection, asyncio.Task[None]]:
    platform = SimpleNamespace(settings=Settings(**settings), obs=Observability())
    connection = Connection(socket, "usr_x", time.time() + 60, platform)  # type: ignore[arg-type]
    return connection, asyncio.create_task(connection.serve())


async def test_a_frame_over_the_size_limit_closes_with_message_too_big() -> None:
    socket = ScriptedSocket([{"type": "ping", "padding": "x" * 2000}, {"type": "ping"}])
    connection, serving = _serving(socket, ws_max_frame_bytes=1024)

    await asyncio.wait_for(serving, timeout=5)

    assert socket.closed_with == (CloseCode.MESSAGE_TOO_BIG, "frame over 1024 bytes")
    assert socket.sent.empty()  # the ping after it was never read
    assert connection.closed


async def test_a_binary_frame_is_refused_and_the_connection_goes_on() -> None:
    socket = ScriptedSocket([{"type": "ping"}])
    socket.incoming = asyncio.Queue()
    socket.incoming.put_nowait({"type": "websocket.receive", "bytes": b"\x00\x01"})
    socket.incoming.put_nowait({"type": "websocket.receive", "text": '{"type": "ping"}'})
    connection, serving = _serving(socket)

    refused = await asyncio.wait_for(socket.sent.get(), timeout=5)
    pong = await asyncio.wait_for(socket.sent.get(), timeout=5)
    connection.abort(CloseCode.NORMAL, "test over")
    await asyncio.wait_for(serving, timeout=5)

    assert (refused["type"], refused["code"]) == ("error", "invalid_frame")
    assert pong == {"type": "pong"}


async def test_a_frame_that_fails_in_the_server_is_answered_and_the_connection_goes_on() -> None:
    # This platform has no run service: the user_message fails with an AttributeError.
    socket = ScriptedSocket([{"type": "user_message", "text": "hi"}, {"type": "ping"}])
    connection, serving = _serving(socket)

    failed = await asyncio.wait_for(socket.sent.get(), timeout=5)
    pong = await asyncio.wait_for(socket.sent.get(), timeout=5)
    connection.abort(CloseCode.NORMAL, "test over")
    await asyncio.wait_for(serving, timeout=5)

    assert (failed["type"], failed["code"]) == ("error", "internal_error")
    assert pong == {"type": "pong"}
    assert socket.closed_with == (CloseCode.NORMAL, "test over")


async def test_the_first_abort_decides_the_close_code() -> None:
    socket = ScriptedSocket([])
    connection, serving = _serving(socket)
    await asyncio.sleep(0)  # in the read loop

    connection.abort(CloseCode.SLOW_CONSUMER, "first")
    connection.abort(CloseCode.NORMAL, "second")
    await asyncio.wait_for(serving, timeout=5)

    assert socket.closed_with == (CloseCode.SLOW_CONSUMER, "first")


async def test_a_closed_connection_follows_nothing_and_sends_nothing() -> None:
    socket = ScriptedSocket([])
    connection, serving = _serving(socket)
    connection.abort(CloseCode.NORMAL, "test over")
    await asyncio.wait_for(serving, timeout=5)

    connection.follow("thr_x", 0, replay=True)  # the platform has no bus: it would fail
    connection.send({"type": "pong"})
    await asyncio.sleep(0)

    assert connection.closed
    assert socket.sent.empty()


async def test_history_waits_for_room_and_a_client_that_never_reads_is_closed() -> None:
    # The writer is stuck in its first send; history may fill half the queue, then waits
    # one heartbeat interval for the client to read before giving up on it.
    socket = StalledSocket()
    connection, serving = _serving(socket, ws_send_queue=8, ws_heartbeat_interval=0.05)
    await socket.reading.wait()
    for number in range(5):  # one in the writer's send, four queued: half of 8
        connection.send({"type": "pong", "n": number})
        await asyncio.sleep(0)
    event = SimpleNamespace(frame='{"type": "agent_thinking"}')

    waiting = asyncio.create_task(connection.send_event_when_room(event))  # type: ignore[arg-type]
    await asyncio.wait({waiting}, timeout=5)
    await asyncio.wait_for(serving, timeout=5)

    assert waiting.cancelled()
    assert socket.closed_with == (CloseCode.SLOW_CONSUMER, "send queue overflow: client too slow")


class SlowReader(ScriptedSocket):
    """A peer that reads, but each frame takes a turn of the event loop."""

    async def send_text(self, text: str) -> None:
        await asyncio.sleep(0)
        await super().send_text(text)


async def test_history_goes_out_once_the_client_has_read_half_of_the_queue() -> None:
    socket = SlowReader([])
    connection, serving = _serving(socket, ws_send_queue=8)
    for number in range(6):
        connection.send({"type": "pong", "n": number})
    event = SimpleNamespace(frame='{"type": "agent_thinking", "seq": 7}')

    await asyncio.wait_for(connection.send_event_when_room(event), timeout=5)  # type: ignore[arg-type]
    sent = [await asyncio.wait_for(socket.sent.get(), timeout=5) for _ in range(7)]
    connection.abort(CloseCode.NORMAL, "test over")
    await asyncio.wait_for(serving, timeout=5)

    assert [frame.get("n") for frame in sent[:6]] == list(range(6))
    assert sent[6] == {"type": "agent_thinking", "seq": 7}  # after what was queued before
