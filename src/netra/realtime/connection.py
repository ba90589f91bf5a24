"""One authenticated WebSocket connection: client frames in, the followed threads' events out.

An idle connection is this object, its read loop (the ASGI task itself) and a
timer for its token's expiry; thousands of them must stay cheap. Frames to send
go on a bounded deque drained by a writer task that exists only while frames are
pending. The connection is the sink of a `ThreadFollower` per thread it follows,
which calls it directly from the bus with each live event.
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

from netra.auth.api_tokens import OUT_OF_SCOPE, looks_like_api_token
from netra.auth.tokens import TokenError
from netra.db.repositories import ThreadRepository
from netra.errors import AppError
from netra.observability import logs
from netra.observability.traces import NO_SPAN, Span
from netra.realtime.events import AgentEvent
from netra.realtime.follow import ThreadFollower, read_thread_events
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
    from netra.lifecycle import Platform
    from netra.runs.supervisor import RunTicket

log = logging.getLogger(__name__)


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
        self._follows: dict[str, ThreadFollower] = {}
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
            stopping = [follower.stop() for follower in self._follows.values()]
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
        """Send what the followed threads still have to send (replays included) and what
        is queued, waiting at most `timeout` s in all, then close with `code`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        replays = {f.replay for f in self._follows.values() if f.replay is not None}
        if replays:
            await asyncio.wait(replays, timeout=timeout)
        writer = self._writer
        if writer is not None and (left := deadline - loop.time()) > 0:
            await asyncio.wait({writer}, timeout=left)
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

    def send_event(self, event: AgentEvent) -> None:
        """Queue an event's frame (encoded once, shared by every subscriber) without waiting."""
        self.send_text(event.frame)

    def send_text(self, text: str) -> None:
        """Queue an encoded frame without waiting."""
        if self._closed:
            return
        outbox = self._outbox
        if outbox is None:
            outbox = self._outbox = deque()
        if len(outbox) >= self._platform.settings.ws_send_queue:
            log.warning("closing slow WebSocket client of %s", self.user_id)
            self._platform.obs.metrics.refused.labels("slow_consumer").inc()
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

    async def send_event_when_room(self, event: AgentEvent) -> None:
        """Queue a history event's frame once the queue is at most half full.

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
        self.send_text(event.frame)

    # -- reading ------------------------------------------------------------
    async def _read_loop(self) -> None:
        max_frame = self._platform.settings.ws_max_frame_bytes
        obs = self._platform.obs
        while self._close is None:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text, data = message.get("text"), message.get("bytes")
            size = len(text.encode()) if text is not None else len(data or b"")
            if size > max_frame:
                obs.metrics.refused.labels("frame_too_large").inc()
                self.abort(CloseCode.MESSAGE_TOO_BIG, f"frame over {max_frame} bytes")
                return
            if not self._take_token():
                obs.metrics.throttled.labels("too_many_frames").inc()
                self.abort(CloseCode.TOO_MANY_FRAMES, "too many frames")
                return
            logs.bind(request_id=logs.request_id(None))  # each frame is a request of its own
            try:
                if text is None:
                    raise FrameError("invalid_frame", "only JSON text frames are accepted")
                with obs.tracing.span("WebSocket message") as span:
                    await self._handle(text, span)
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
    async def _handle(self, text: str, span: Span = NO_SPAN) -> None:
        frame = parse_frame(text)
        span.set_attribute("netra.frame", frame.type)
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
            self._platform.obs.metrics.refusal(exc.status, exc.code)
            client_msg_id = getattr(frame, "client_msg_id", None)
            raise FrameError(exc.code, exc.message, client_msg_id) from None

    def _reauthenticate(self, frame: AuthFrame) -> None:
        """A fresh token for the same user extends the connection's life."""
        if looks_like_api_token(frame.token):
            raise FrameError("token_scope", OUT_OF_SCOPE)
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
        follower = ThreadFollower(self._platform.bus, thread_id, after_seq, self, replay=replay)
        self._follows[thread_id] = follower

    def follow_failed(self, follower: ThreadFollower, exc: BaseException) -> None:
        """Tell the client that live events of the thread stopped (the follower has)."""
        log.error("following %s failed", follower.thread_id, exc_info=exc)
        if self._follows.get(follower.thread_id) is follower:
            del self._follows[follower.thread_id]
        self.send(
            {
                "type": "error",
                "code": "subscription_failed",
                "message": "live events of this thread stopped; subscribe again with after_seq",
                "thread_id": follower.thread_id,
            }
        )

    async def read_events(self, thread_id: str, after_seq: int, limit: int) -> list[AgentEvent]:
        """The user's stored events of the thread after `after_seq` (for its follower)."""
        return await read_thread_events(
            self._platform.db, self.user_id, thread_id, after_seq, limit
        )
