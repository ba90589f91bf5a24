"""Following one thread: its events after a seq, from the log and then live, each once, in order.

Every transport follows threads through `ThreadFollower`: the WebSocket
connection for each thread it shows, and AG-UI's stream for its run. What
differs is the sink, which takes the events and reads the log for them.

The follower listens on the bus before it reads the log, so every event is in a
read or heard live, or both, and then the seq check drops the second copy. Live
events that arrive in seq order go straight to the sink from the bus's call: no
task or queue per event or per follower. A gap in what the bus shows, a request
for history, or the bus saying it may have missed events (`resync`) starts one
replay task. It reads the log from the last seq delivered until it has caught up
with everything heard meanwhile, then live delivery takes over again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.exc import DBAPIError

from netra.db.repositories import ThreadRepository, last_seqs
from netra.realtime.events import AgentEvent

if TYPE_CHECKING:
    from netra.db.engine import Database
    from netra.realtime.bus import EventBus

log = logging.getLogger(__name__)
#: Events read from the log at a time.
REPLAY_PAGE = 500
#: Reads of one page tried before a follower gives up (backing off from 0.25 s).
READ_ATTEMPTS = 4


class FollowSink(Protocol):
    """Where a follower's events go, and where it reads the ones it has not heard."""

    @property
    def closed(self) -> bool:
        """Nothing more is wanted: a replay stops reading."""
        ...

    def send_event(self, event: AgentEvent) -> None:
        """The next event in seq order, heard live: taken now, without waiting."""
        ...

    async def send_event_when_room(self, event: AgentEvent) -> None:
        """The next event in seq order, read from the log: may wait until there is
        room for it (history is bulk; live events must never wait behind it)."""
        ...

    async def read_events(self, thread_id: str, after_seq: int, limit: int) -> Sequence[AgentEvent]:
        """Up to `limit` stored events of the thread with seq > after_seq, in seq order."""
        ...

    def follow_failed(self, follower: ThreadFollower, exc: BaseException) -> None:
        """The follower could not go on (the thread is gone, the log failed) and has
        stopped: nothing more comes from it."""
        ...


class ThreadFollower:
    """Delivers a thread's events with seq > `after_seq` to a sink, in order, each once.

    It listens from construction on; with `replay` it first reads what is already
    stored. `stop()` ends it. A bus listener: `deliver` and `resync` are the bus's.
    """

    __slots__ = ("_reread", "_unlisten", "heard", "last", "replay", "sink", "thread_id")

    def __init__(
        self, bus: EventBus, thread_id: str, after_seq: int, sink: FollowSink, *, replay: bool
    ) -> None:
        self.sink = sink
        self.thread_id = thread_id
        self.last = after_seq  # the last seq given to the sink
        self.heard = after_seq  # the highest seq the bus has shown during a replay
        self.replay: asyncio.Task[None] | None = None
        self._reread = False  # resync() asked for a read that begins after it
        # Listening starts before any of the log is read: see the module's docstring.
        self._unlisten: Callable[[], None] | None = bus.listen(thread_id, self)
        if replay:
            self._start_replay()

    @property
    def stopped(self) -> bool:
        """stop() was called, or the follower failed."""
        return self._unlisten is None

    # -- the bus's side (the hot path: keep it to a few comparisons) ---------
    def deliver(self, event: AgentEvent) -> None:
        """An event heard live: sent at once if it is the next one, else noted."""
        if self._unlisten is None:  # stopped during the publish that is calling it
            return
        seq = event.seq
        if self.replay is not None:
            if seq > self.heard:
                self.heard = seq
        elif seq == self.last + 1:
            self.last = seq
            self.sink.send_event(event)
        elif seq > self.last:  # a gap on the bus: fill it from the log
            self.heard = seq
            self._start_replay()

    def resync(self, upto: int | None = None) -> None:
        """The bus may have missed events: read the log from the last seq delivered,
        unless that is `upto` (the log's end) or later."""
        if self._unlisten is None or (upto is not None and upto <= self.last):
            return
        # A replay already running may have begun its read before the missed events
        # were committed: it must read once more, from after this call.
        self._reread = True
        if self.replay is None:
            self._start_replay()

    # -- replay ---------------------------------------------------------------
    def _start_replay(self) -> None:
        self.replay = asyncio.create_task(self._replay(), name=f"replay {self.thread_id}")

    async def _replay(self) -> None:
        sink = self.sink
        try:
            while not (sink.closed or self._unlisten is None):
                heard = self.heard  # committed before this read begins, so in what it reads
                self._reread = False
                page = await self._read_page()
                if not page and heard > self.last:  # heard, yet not there: the thread is gone
                    raise LookupError(f"thread {self.thread_id} is gone")
                for event in page:
                    await sink.send_event_when_room(event)
                    self.last = event.seq
                    if sink.closed or self._unlisten is None:  # stopped while it waited
                        return
                # Nothing awaits between this check and live delivery taking over.
                if len(page) < REPLAY_PAGE and self.heard <= self.last and not self._reread:
                    return
        except Exception as exc:  # a cancellation (stop()) is not one: it ends quietly
            self.stop()
            sink.follow_failed(self, exc)
        finally:
            if self.replay is asyncio.current_task():
                self.replay = None

    async def _read_page(self) -> Sequence[AgentEvent]:
        """The next page of the log; a failing read (a database failing over, a pool
        exhausted for a moment) is tried again a few times before the follower gives up."""
        for attempt in range(READ_ATTEMPTS):
            try:
                return await self.sink.read_events(self.thread_id, self.last, REPLAY_PAGE)
            except (DBAPIError, OSError, TimeoutError):
                if attempt == READ_ATTEMPTS - 1:
                    raise
                log.warning("reading %s failed; trying again", self.thread_id, exc_info=True)
                await asyncio.sleep(0.25 * 2**attempt)
        raise AssertionError("unreachable")

    def stop(self) -> asyncio.Task[None] | None:
        """Stop listening and replaying; returns the replay task being cancelled, if any
        (awaiting it is optional: it sends nothing more either way)."""
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        replay, self.replay = self.replay, None
        if replay is not None and replay is not asyncio.current_task():
            replay.cancel()
            return replay
        return None


async def read_thread_events(
    db: Database, owner_id: str, thread_id: str, after_seq: int, limit: int
) -> list[AgentEvent]:
    """A page of the owner's thread's stored events with seq > after_seq: what a sink
    whose follower reads the database returns from `read_events`."""
    async with db.read() as session:
        page = await ThreadRepository(session, owner_id).events(
            thread_id, after_seq=after_seq, limit=limit
        )
    return [AgentEvent.from_record(record) for record in page]


async def log_ends(db: Database, thread_ids: Sequence[str]) -> dict[str, int]:
    """The seq of the last stored event of each thread that exists (any owner's: the
    fan-out asks, to tell which followers are behind)."""
    async with db.read() as session:
        return await last_seqs(session, thread_ids)
