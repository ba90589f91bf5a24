"""One authenticated WebSocket connection: client frames in, the followed threads' events out.

An idle connection is this object, its read loop (the ASGI task itself) and a
timer for its token's expiry; thousands of them must stay cheap. Frames to send
go on a bounded deque drained by a writer task that exists only while frames are
pending, and the threads a connection follows call it directly from the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from netra.auth.tokens import TokenError
from netra.db.repositories import ThreadRepository
from netra.errors import AppError
from netra.realtime.events import AgentEvent
from netra.realtime.frames import (
    AuthFrame,
    CancelFrame,
    CloseCode,
    FrameError,
    PingFrame,
    SubscribeFrame,
    UserMessageFrame,
    parse_frame,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from netra.lifecycle import Platform
    from netra.realtime.bus import EventBus
    from netra.runs.supervisor import RunTicket

log = logging.getLogger(__name__)
REPLAY_PAGE = 500


class Connection:
    """Reads client frames and writes server frames for one user.

    A client too slow to read what it is sent is disconnected instead of slowing
    anyone else. The connection lives as long as the access token it was opened
    with, unless the client sends a fresh `auth` frame before that token expires.
    """

    __slots__ = (
        "_close",
        "_closed",
        "_expiry",
        "_follows",
        "_outbox",
        "_platform",
        "_refilled",
        "_room",
        "_task",
        "_tokens",
        "_writer",
        "expires_at",
        "user_id",
        "websocket",
    )

    def __init__(
        self, websocket: WebSocket, user_id: str, expires_at: float, platform: Platform
    ) -> None:
        self.websocket = websocket
        self.user_id = user_id
        self.expires_at = expires_at
        self._platform = platform
        self._task: asyncio.Task[Any] | None = None  # the read loop's: abort() cancels it
        self._close: tuple[int, str] | None = None
        self._closed = False  # nothing more is sent or followed
        self._expiry: asyncio.TimerHandle | None = None
        self._outbox: deque[str] | None = None  # frames to send; only while there are some
        self._writer: asyncio.Task[None] | None = None  # only while the outbox has frames
        self._room: asyncio.Future[None] | None = None  # only while a replay waits for room
        self._follows: dict[str, _Follow] = {}
        # Token bucket: a burst of 2 s worth of frames, refilled at the configured rate.
        self._tokens = 2.0 * platform.settings.ws_max_frames_per_second
        self._refilled = time.monotonic()

    # -- lifecycle ----------------------------------------------------------
    async def serve(self) -> None:
        """Run until the client leaves or the connection is closed for cause."""
        self._task = task = asyncio.current_task()
        assert task is not None
        self._expire_at(self.expires_at)
        try:
            if self._close is None:
                await self._read_loop()
        except asyncio.CancelledError:
            # abort() cancels once; anything more (or a cancel without abort) is the
            # server stopping, and must go on.
            if self._close is None or task.uncancel() > 0:
                raise
        finally:
            self._closed = True
            if self._expiry is not None:
                self._expiry.cancel()
            self._task = None  # a late abort() must not cancel whoever runs next
            stopping = [follow.stop() for follow in self._follows.values()]
            self._follows.clear()
            if self._writer is not None:
                self._writer.cancel()
                stopping.append(self._writer)
            await asyncio.gather(*(t for t in stopping if t is not None), return_exceptions=True)
        if self._close is not None:
            code, reason = self._close
            with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
                await self.websocket.close(code, reason)

    def abort(self, code: int, reason: str) -> None:
        """Close the connection with `code`; safe to call from any task, even before serve()."""
        if self._close is not None:
            return
        self._close = (code, reason)
        # From the read loop itself, it notices _close after the frame it is handling.
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    async def close_after_sending(self, code: int, reason: str, timeout: float) -> None:
        """Send what is queued (waiting at most `timeout` s for the client), then close."""
        writer = self._writer
        if writer is not None:
            await asyncio.wait({writer}, timeout=timeout)
        self.abort(code, reason)

    def _expire_at(self, expires_at: float) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        delay = max(0.0, expires_at - time.time())
        self._expiry = asyncio.get_running_loop().call_later(
            delay, self.abort, CloseCode.UNAUTHORIZED, "token_expired"
        )

    @property
    def closed(self) -> bool:
        """Nothing more is sent: the connection has ended, or its socket failed."""
        return self._closed

    # -- sending ------------------------------------------------------------
    def send(self, frame: dict[str, Any]) -> None:
        """Queue a frame for the client without waiting."""
        self.send_text(orjson.dumps(frame).decode())

    def send_text(self, text: str) -> None:
        """Queue an encoded frame (an event's, shared by every subscriber) without waiting."""
        if self._closed:
            return
        outbox = self._outbox
        if outbox is None:
            outbox = self._outbox = deque()
        if len(outbox) >= self._platform.settings.ws_send_queue:
            log.warning("closing slow WebSocket client of %s", self.user_id)
            self.abort(CloseCode.SLOW_CONSUMER, "send queue overflow: client too slow")
            return
        outbox.append(text)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(outbox))

    async def _write(self, outbox: deque[str]) -> None:
        half = self._platform.settings.ws_send_queue // 2
        try:
            while outbox:
                text = outbox.popleft()
                if self._room is not None and len(outbox) < half:
                    self._room.set_result(None)
                    self._room = None
                await self.websocket.send_text(text)
        except (RuntimeError, WebSocketDisconnect, OSError):
            # The client has gone: drop what is left; the read loop sees the disconnect.
            self._closed = True
        finally:
            self._writer = None
            self._outbox = None
            if self._room is not None:  # a replay waiting for room: there is (or no socket)
                self._room.set_result(None)
                self._room = None

    async def send_when_room(self, text: str) -> None:
        """Queue a history frame once the queue is at most half full.

        History is bulk the client asked for: it waits for the client to read, and
        leaves the other half of the queue to live events, pongs and replies, which
        cannot wait. A client that does not read for a heartbeat interval is too slow.
        """
        settings = self._platform.settings
        while self._outbox is not None and len(self._outbox) >= settings.ws_send_queue // 2:
            if self._room is None:
                self._room = asyncio.get_running_loop().create_future()
            done, _ = await asyncio.wait((self._room,), timeout=settings.ws_heartbeat_interval)
            if not done:
                self.abort(CloseCode.SLOW_CONSUMER, "send queue overflow: client too slow")
                raise asyncio.CancelledError
        self.send_text(text)

    # -- reading ------------------------------------------------------------
    async def _read_loop(self) -> None:
        max_frame = self._platform.settings.ws_max_frame_bytes
        while self._close is None:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text, data = message.get("text"), message.get("bytes")
            size = len(text.encode()) if text is not None else len(data or b"")
            if size > max_frame:
                self.abort(CloseCode.MESSAGE_TOO_BIG, f"frame over {max_frame} bytes")
                return
            if not self._take_token():
                self.abort(CloseCode.TOO_MANY_FRAMES, "too many frames")
                return
            try:
                if text is None:
                    raise FrameError("invalid_frame", "only JSON text frames are accepted")
                await self._handle(text)
            except FrameError as exc:
                self.send(exc.to_frame())
            except Exception:  # one failing frame must not end the connection
                log.exception("frame from %s failed", self.user_id)
                self.send(
                    FrameError("internal_error", "the server failed on this frame").to_frame()
                )

    def _take_token(self) -> bool:
        rate = float(self._platform.settings.ws_max_frames_per_second)
        now = time.monotonic()
        self._tokens = min(2 * rate, self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    # -- frames -------------------------------------------------------------
    async def _handle(self, text: str) -> None:
        frame = parse_frame(text)
        try:
            if isinstance(frame, PingFrame):
                self.send({"type": "pong"})
            elif isinstance(frame, UserMessageFrame):
                await self._user_message(frame)
            elif isinstance(frame, SubscribeFrame):
                await self._subscribe(frame)
            elif isinstance(frame, CancelFrame):
                # Shielded: a connection closed meanwhile must not leave a run half-ended.
                await asyncio.shield(self._platform.runs.cancel(self.user_id, frame.run_id))
                self.send({"type": "cancel_accepted", "run_id": frame.run_id})
            else:
                self._reauthenticate(frame)
        except AppError as exc:
            client_msg_id = getattr(frame, "client_msg_id", None)
            raise FrameError(exc.code, exc.message, client_msg_id) from None

    def _reauthenticate(self, frame: AuthFrame) -> None:
        """A fresh token for the same user extends the connection's life."""
        try:
            claims = self._platform.tokens.claims(frame.token)
        except TokenError as exc:
            raise FrameError(exc.code, exc.message) from None
        if claims.user_id != self.user_id:
            raise FrameError("token_invalid", "the token belongs to another user")
        if claims.expires_at > self.expires_at:
            self.expires_at = claims.expires_at
            self._expire_at(claims.expires_at)
        self.send({"type": "auth_ok", "user_id": self.user_id})

    async def _user_message(self, frame: UserMessageFrame) -> None:
        def accepted(ticket: RunTicket) -> None:
            # Called once the run is stored and before it is launched, so run_accepted
            # goes out before any of its events, and following from the thread's seq
            # before the run misses none of them, with no history to read.
            reply = {"type": "run_accepted", "run_id": ticket.run_id, "thread_id": ticket.thread_id}
            if frame.client_msg_id is not None:
                reply["client_msg_id"] = frame.client_msg_id
            self.send(reply)
            if ticket.thread_id not in self._follows:
                self.follow(ticket.thread_id, ticket.start_seq, replay=False)

        await self._platform.runs.start(
            self.user_id, frame.text, frame.thread_id, frame.agent, on_stored=accepted
        )

    async def _subscribe(self, frame: SubscribeFrame) -> None:
        async with self._platform.db.read() as session:
            thread = await ThreadRepository(session, self.user_id).get(frame.thread_id)
        if thread is None:
            raise FrameError("not_found", "thread not found")
        # A seq past the end would silently swallow the thread's next events.
        after_seq = min(frame.after_seq, thread.last_seq)
        self.follow(frame.thread_id, after_seq, replay=True)
        self.send({"type": "subscribed", "thread_id": frame.thread_id, "after_seq": after_seq})

    # -- delivery -----------------------------------------------------------
    def follow(self, thread_id: str, after_seq: int, *, replay: bool) -> None:
        """Deliver the thread's events with seq > after_seq from now on: live ones from
        the bus, and with `replay` first those already stored."""
        if self._closed:
            return
        previous = self._follows.pop(thread_id, None)
        if previous is not None:
            previous.stop()
        follow = _Follow(self, self._platform.bus, thread_id, after_seq)
        self._follows[thread_id] = follow
        if replay:
            follow.start_replay()

    def follow_failed(self, follow: _Follow, exc: BaseException) -> None:
        log.error("following %s failed", follow.thread_id, exc_info=exc)
        if self._follows.get(follow.thread_id) is follow:
            del self._follows[follow.thread_id]
        follow.stop()
        self.send(
            {
                "type": "error",
                "code": "subscription_failed",
                "message": "live events of this thread stopped; subscribe again with after_seq",
                "thread_id": follow.thread_id,
            }
        )

    async def read_events(self, thread_id: str, after_seq: int) -> list[AgentEvent]:
        async with self._platform.db.read() as session:
            page = await ThreadRepository(session, self.user_id).events(
                thread_id, after_seq=after_seq, limit=REPLAY_PAGE
            )
        return [AgentEvent.from_record(record) for record in page]


class _Follow:
    """One thread a connection follows.

    Live events come straight from the bus while they arrive in seq order. A gap, or
    a subscribe asking for history, starts a replay task that reads the database
    until it has caught up with what the bus has shown meanwhile.
    """

    __slots__ = ("_unlisten", "connection", "heard", "last", "replay", "thread_id")

    def __init__(
        self, connection: Connection, bus: EventBus, thread_id: str, after_seq: int
    ) -> None:
        self.connection = connection
        self.thread_id = thread_id
        self.last = after_seq  # the last seq sent to the client
        self.heard = after_seq  # the highest seq the bus has shown during a replay
        self.replay: asyncio.Task[None] | None = None
        # Listening starts before any history is read: every event is either in the
        # history read or heard live (or both, and then the seq check drops it).
        self._unlisten: Callable[[], None] | None = bus.listen(thread_id, self)

    def deliver(self, event: AgentEvent) -> None:
        seq = event.seq
        if self._unlisten is None:  # stopped during the publish that is calling it
            return
        if self.replay is not None:
            self.heard = max(self.heard, seq)
        elif seq == self.last + 1:
            self.last = seq
            self.connection.send_text(event.frame)
        elif seq > self.last:  # a gap on the bus: fill it from the database
            self.heard = seq
            self.start_replay()

    def resync(self) -> None:
        if self._unlisten is not None and self.replay is None:
            self.start_replay()

    def start_replay(self) -> None:
        self.replay = asyncio.create_task(self._replay())

    async def _replay(self) -> None:
        connection = self.connection
        try:
            while not connection.closed:
                heard = self.heard  # committed before this read began, so in what it reads
                page = await connection.read_events(self.thread_id, self.last)
                if not page and heard > self.last:  # yet not there: the thread was deleted
                    raise LookupError(f"thread {self.thread_id} is gone")
                for event in page:
                    await connection.send_when_room(event.frame)
                    self.last = event.seq
                # Nothing awaits between this check and live delivery taking over.
                if len(page) < REPLAY_PAGE and self.heard <= self.last:
                    self.replay = None
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.replay = None
            connection.follow_failed(self, exc)

    def stop(self) -> asyncio.Task[None] | None:
        """Stop listening and replaying; returns the replay task being cancelled, if any."""
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        replay, self.replay = self.replay, None
        if replay is not None and replay is not asyncio.current_task():
            replay.cancel()
            return replay
        return None
