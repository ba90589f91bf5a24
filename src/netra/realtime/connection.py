"""One authenticated WebSocket connection: a bounded send queue and thread subscriptions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
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
    from netra.lifecycle import Platform

log = logging.getLogger(__name__)
REPLAY_PAGE = 500


class Connection:
    """Reads client frames and writes server frames for one user.

    Outgoing frames go through a bounded queue drained by one writer task; a
    client too slow to keep up is disconnected instead of slowing anyone else.
    The connection lives as long as the access token it was opened with, unless
    the client sends a fresh `auth` frame before that token expires.
    """

    def __init__(
        self, websocket: WebSocket, user_id: str, expires_at: float, platform: Platform
    ) -> None:
        self.websocket = websocket
        self.user_id = user_id
        self.expires_at = expires_at
        self._platform = platform
        settings = platform.settings
        self._max_frame = settings.ws_max_frame_bytes
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=settings.ws_send_queue)
        # Replay waits for room in the queue, at most this long, before giving up.
        self._replay_patience = settings.ws_heartbeat_interval
        self._replay_page = max(1, min(REPLAY_PAGE, settings.ws_send_queue // 2))
        self._follows: dict[str, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._close: tuple[int, str] | None = None
        self._aborted = asyncio.Event()
        self._extended = asyncio.Event()
        self._drained = asyncio.Event()  # set whenever the writer takes a frame
        # Token bucket: a burst of 2 s worth of frames, refilled at the configured rate.
        self._rate = float(settings.ws_max_frames_per_second)
        self._tokens = 2 * self._rate
        self._refilled = time.monotonic()

    # -- lifecycle ----------------------------------------------------------
    async def serve(self) -> None:
        """Run until the client leaves or the connection is closed for cause."""
        self._tasks = [
            asyncio.create_task(self._read_loop()),
            asyncio.create_task(self._write_loop()),
            asyncio.create_task(self._expire()),
            asyncio.create_task(self._aborted.wait()),
        ]
        try:
            await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in [*self._tasks, *self._follows.values()]:
                task.cancel()
            await asyncio.gather(*self._tasks, *self._follows.values(), return_exceptions=True)
            if self._close is not None:
                code, reason = self._close
                with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
                    await self.websocket.close(code, reason)

    def abort(self, code: int, reason: str) -> None:
        """Close the connection with `code`; safe to call from any task, even before serve()."""
        if self._close is None:
            self._close = (code, reason)
        self._aborted.set()

    def send(self, frame: dict[str, Any]) -> None:
        """Queue a frame for the client without waiting."""
        self.send_text(orjson.dumps(frame).decode())

    def send_text(self, text: str) -> None:
        """Queue an encoded frame (an event's, shared by every subscriber) without waiting."""
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("closing slow WebSocket client of %s", self.user_id)
            self.abort(CloseCode.SLOW_CONSUMER, "send queue overflow: client too slow")

    async def _send_when_room(self, text: str) -> None:
        """Queue a history frame once the queue is at most half full.

        History is bulk the client asked for: it waits for the client to read, and
        leaves the other half of the queue to live events, pongs and replies, which
        cannot wait.
        """
        try:
            async with asyncio.timeout(self._replay_patience):
                while self._queue.qsize() >= self._queue.maxsize // 2:
                    self._drained.clear()
                    await self._drained.wait()
        except TimeoutError:
            self.abort(CloseCode.SLOW_CONSUMER, "send queue overflow: client too slow")
            raise asyncio.CancelledError from None
        self.send_text(text)

    async def _write_loop(self) -> None:
        while True:
            text = await self._queue.get()
            self._drained.set()
            await self.websocket.send_text(text)

    async def _expire(self) -> None:
        while (remaining := self.expires_at - time.time()) > 0:
            with contextlib.suppress(TimeoutError):  # woken early when a fresh token arrives
                await asyncio.wait_for(self._extended.wait(), remaining)
            self._extended.clear()
        self.abort(CloseCode.UNAUTHORIZED, "token_expired")

    async def _read_loop(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text, data = message.get("text"), message.get("bytes")
            size = len(text.encode()) if text is not None else len(data or b"")
            if size > self._max_frame:
                self.abort(CloseCode.MESSAGE_TOO_BIG, f"frame over {self._max_frame} bytes")
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
        now = time.monotonic()
        self._tokens = min(2 * self._rate, self._tokens + (now - self._refilled) * self._rate)
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
                await self._platform.runs.cancel(self.user_id, frame.run_id)
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
        self.expires_at = max(self.expires_at, claims.expires_at)
        self._extended.set()
        self.send({"type": "auth_ok", "user_id": self.user_id})

    async def _user_message(self, frame: UserMessageFrame) -> None:
        runs = self._platform.runs
        ticket = await runs.start(self.user_id, frame.text, frame.thread_id, frame.agent)
        # Queued before this connection can deliver any of the run's events: those come
        # through follow(), which starts at the thread's seq from before the run.
        accepted = {"type": "run_accepted", "run_id": ticket.run_id, "thread_id": ticket.thread_id}
        if frame.client_msg_id is not None:
            accepted["client_msg_id"] = frame.client_msg_id
        self.send(accepted)
        if ticket.thread_id not in self._follows:
            await self.follow(ticket.thread_id, ticket.start_seq)

    async def _subscribe(self, frame: SubscribeFrame) -> None:
        async with self._platform.db.read() as session:
            thread = await ThreadRepository(session, self.user_id).get(frame.thread_id)
        if thread is None:
            raise FrameError("not_found", "thread not found")
        # A seq past the end would silently swallow the thread's next events.
        after_seq = min(frame.after_seq, thread.last_seq)
        await self.follow(frame.thread_id, after_seq)
        self.send({"type": "subscribed", "thread_id": frame.thread_id, "after_seq": after_seq})

    # -- delivery -----------------------------------------------------------
    async def follow(self, thread_id: str, after_seq: int) -> None:
        """Deliver the thread's events with seq > after_seq: history first, then live."""
        previous = self._follows.pop(thread_id, None)
        if previous is not None:
            previous.cancel()
        listening = asyncio.Event()
        task = asyncio.create_task(self._follow(thread_id, after_seq, listening))
        self._follows[thread_id] = task
        task.add_done_callback(lambda done: self._follow_ended(thread_id, done, listening))
        # Return only once live events are being captured, so nothing published after
        # this call can be missed.
        waiter = asyncio.create_task(listening.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not listening.is_set():
            raise FrameError("subscription_failed", "could not follow this thread; try again")

    def _follow_ended(
        self, thread_id: str, task: asyncio.Task[None], listening: asyncio.Event
    ) -> None:
        if self._follows.get(thread_id) is task:
            del self._follows[thread_id]
        if task.cancelled() or task.exception() is None:
            return
        if not listening.is_set():  # follow() itself reported it to the caller
            log.error("could not follow %s", thread_id, exc_info=task.exception())
            return
        log.error("following %s failed", thread_id, exc_info=task.exception())
        self.send(
            {
                "type": "error",
                "code": "subscription_failed",
                "message": "live events of this thread stopped; subscribe again with after_seq",
                "thread_id": thread_id,
            }
        )

    async def _follow(self, thread_id: str, after_seq: int, listening: asyncio.Event) -> None:
        async with self._platform.bus.subscribe(thread_id) as live:
            listening.set()
            # Subscribed before reading history: an event is either in the history we read
            # or arrives live (or both, and then the seq check drops the duplicate).
            last = await self._replay(thread_id, after_seq)
            while True:
                event: AgentEvent = await live.get()
                if event.seq <= last:
                    continue
                if event.seq > last + 1:  # a gap on the bus: fill it from the database
                    last = await self._replay(thread_id, last)
                    if event.seq <= last:
                        continue
                self.send_text(event.frame)
                last = event.seq

    async def _replay(self, thread_id: str, after_seq: int) -> int:
        last = after_seq
        while True:
            async with self._platform.db.read() as session:
                page = await ThreadRepository(session, self.user_id).events(
                    thread_id, after_seq=last, limit=self._replay_page
                )
            for record in page:
                await self._send_when_room(AgentEvent.from_record(record).frame)
                last = record.seq
            if len(page) < self._replay_page:
                return last
