"""Fan-out over Redis Streams: every instance hears every committed event.

A committed batch is delivered to this instance's listeners at once, then
appended to Redis in the background, one stream entry per thread of the batch on
the shard stream of its thread (`{prefix}events:{n}`), holding the events' wire
frames as they were encoded at commit. Every instance reads every shard from
where it left off and hands the entries of the threads it has listeners for to
them; its own entries it skips, having delivered them already.

Redis is a fan-out cache, never the source of truth. Streams are trimmed to
about `max_length` entries each. Whenever an instance may have missed entries,
its listeners are told to `resync` (read the log from the last event they saw):
when its reader reconnects, when a stream was trimmed past its position, and when
another instance had to give up appending some events (it says so once Redis is
back; until then it keeps what it could not append, up to `max_outbox_bytes` of
events: a streamed answer's batch holds hundreds of deltas, so entries are no measure).
While Redis is unreachable, every `poll_interval` seconds one query reads where
the log of each followed thread ends (`log_ends`), and only the listeners behind
it are told to resync, so they read the database; reconnecting backs off.

Cancel notices travel on the same streams: the durable request is in the
database (see `netra.runs.leases`); the notice only makes the run's owner act at
once instead of at its next lease renewal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from netra.realtime.bus import InMemoryEventBus, Listener
from netra.realtime.events import AgentEvent, EventType

if TYPE_CHECKING:
    from netra.observability import Metrics

log = logging.getLogger(__name__)
#: XREAD's answer (RESP2, decoded): per stream, its entries as (id, fields).
_Entries = list[tuple[str, list[tuple[str, dict[str, str]]]]]
#: The seq of the last stored event of each of the threads that exist (see
#: `netra.realtime.follow.log_ends`).
LogEnds = Callable[[Sequence[str]], Awaitable[Mapping[str, int]]]

#: Entries read per stream per round trip.
READ_COUNT = 500
#: How long one read waits for new entries, in milliseconds.
READ_BLOCK_MS = 1000
#: Bytes of event frames waiting to be appended before newer ones are dropped (and
#: resynced); a batch being sent, and notices, come on top.
MAX_OUTBOX_BYTES = 32 * 1024 * 1024
#: Reconnecting after an error waits this long at first, doubling up to the maximum.
RETRY_FIRST, RETRY_MAX = 0.2, 10.0


def _stream_id(entry_id: str) -> tuple[int, int]:
    millis, _, sequence = entry_id.partition("-")
    return int(millis), int(sequence or 0)


def _event(frame: str) -> AgentEvent:
    envelope = orjson.loads(frame)
    return AgentEvent(
        EventType(envelope["type"]),
        envelope["event_id"],
        envelope["thread_id"],
        envelope["run_id"],
        envelope["seq"],
        datetime.fromisoformat(envelope["ts"]),
        envelope["data"],
        frame=frame,
    )


class RedisEventBus:
    """The event bus of one instance among several that share a Redis."""

    def __init__(
        self,
        client: Redis,
        instance_id: str,
        *,
        shards: int,
        max_length: int,
        prefix: str = "netra:",
        poll_interval: float = 1.0,
        max_outbox_bytes: int = MAX_OUTBOX_BYTES,
        log_ends: LogEnds | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._client = client  # created with decode_responses=True
        self._instance = instance_id
        self._keys = [f"{prefix}events:{n}" for n in range(shards)]
        self._max_length = max_length
        self._poll_interval = poll_interval
        self._local = InMemoryEventBus(metrics)
        self._log_ends = log_ends
        #: Set after each poll of the log while Redis is unreachable (tests wait on it).
        self.polled = asyncio.Event()
        self._lag = None if metrics is None else metrics.fanout_lag.labels("redis")
        self._on_cancel: Callable[[str, str], None] | None = None
        self._outbox: list[dict[str, str]] = []
        self._outbox_bytes = 0  # of the event frames in _outbox
        self._max_outbox_bytes = max_outbox_bytes
        self._outbox_ready = asyncio.Event()
        self._reconnected = asyncio.Event()  # ends the sender's back-off at once
        self._drained = asyncio.Event()  # the sender has sent all it was given
        self._unsent: set[str] = set()  # threads whose events other instances may lack
        self._tasks: list[asyncio.Task[None]] = []
        self._drained.set()
        self.connected = False  # the reader's last round worked
        self.sending = True  # the sender's last append worked

    async def start(self, positions: dict[str, str] | None = None) -> None:
        """Begin reading every shard from its current end (or from `positions`, as
        `ends()` gave them earlier); raises if Redis is unreachable."""
        positions = positions or await self.ends()
        self.connected = True
        self._tasks = [
            asyncio.create_task(self._read(dict(positions)), name="netra-redis-reader"),
            asyncio.create_task(self._send(), name="netra-redis-sender"),
        ]
        for task in self._tasks:
            task.add_done_callback(self._stopped)

    def _stopped(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:  # a bug: say so loudly
            log.error("%s stopped", task.get_name(), exc_info=task.exception())
            self.connected = self.sending = False

    @property
    def status(self) -> str:
        """ok, or degraded while reading or appending fails (followers poll the log)."""
        return "ok" if self.connected and self.sending else "degraded"

    # -- the EventBus interface ----------------------------------------------
    async def publish(self, events: Sequence[AgentEvent]) -> None:
        await self._local.publish(events)
        by_thread: dict[str, list[str]] = {}
        for event in events:
            by_thread.setdefault(event.thread_id, []).append(event.frame)
        for thread_id, frames in by_thread.items():
            self._queue({"i": self._instance, "t": thread_id, "f": "\n".join(frames)})

    def listen(self, thread_id: str, listener: Listener) -> Callable[[], None]:
        return self._local.listen(thread_id, listener)

    async def notify_cancel(self, thread_id: str, run_id: str, reason: str) -> None:
        self._queue({"i": self._instance, "t": thread_id, "c": run_id, "r": reason})

    def on_cancel(self, handler: Callable[[str, str], None]) -> None:
        self._on_cancel = handler

    async def close(self, flush_timeout: float = 5.0) -> None:
        """Send what is queued or being sent (other instances' followers wait for it),
        then stop."""
        if self._tasks and not self._drained.is_set():
            self._outbox_ready.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), flush_timeout)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=flush_timeout)
        self._tasks = []
        await self._local.close()

    # -- appending -------------------------------------------------------------
    def _queue(self, entry: dict[str, str]) -> None:
        self._drained.clear()
        size = len(entry.get("f", ""))
        if size and (
            self._outbox_bytes + size > self._max_outbox_bytes or entry["t"] in self._unsent
        ):
            # Redis is slower than we write, or away: this thread's followers elsewhere
            # will read the log instead (a notice goes first), so its batches need not wait.
            self._unsent.add(entry["t"])
        else:
            self._outbox.append(entry)
            self._outbox_bytes += size
        self._outbox_ready.set()

    def _key(self, thread_id: str) -> str:
        return self._keys[zlib.crc32(thread_id.encode()) % len(self._keys)]

    async def _send(self) -> None:
        """Append queued entries in order, one pipeline per round. Entries that fail are
        kept and sent again first (a duplicate is harmless: followers drop a seq they
        have had). Past `max_outbox_bytes` of events, events are no longer kept: the
        threads concerned get a resync notice once Redis answers again."""
        pause = RETRY_FIRST
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            if self._unsent:
                notices = [{"i": self._instance, "t": t, "s": "1"} for t in self._unsent]
                self._outbox[:0] = notices
                self._unsent = set()
            entries, self._outbox, self._outbox_bytes = self._outbox, [], 0
            try:
                if entries:
                    async with self._client.pipeline(transaction=False) as pipe:
                        for entry in entries:
                            fields: dict[Any, Any] = entry
                            pipe.xadd(self._key(entry["t"]), fields, maxlen=self._max_length)
                        await pipe.execute()
            except (RedisError, OSError) as exc:
                if self.sending:
                    log.warning("appending to Redis failed (%s); retrying", exc)
                    self.sending = False
                self._outbox[:0] = entries
                self._outbox_bytes = sum(len(e.get("f", "")) for e in self._outbox)
                if self._outbox_bytes > self._max_outbox_bytes:
                    self._unsent.update(e["t"] for e in self._outbox if "f" in e)
                    self._outbox = [e for e in self._outbox if "f" not in e]
                    self._outbox_bytes = 0
                self._reconnected.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._reconnected.wait(), pause)
                pause = min(pause * 2, RETRY_MAX)
                self._outbox_ready.set()
            else:
                self.sending = True
                pause = RETRY_FIRST
                if not self._outbox and not self._unsent:
                    self._drained.set()

    # -- reading ---------------------------------------------------------------
    async def ends(self) -> dict[str, str]:
        """Where each shard's stream ends now."""
        async with self._client.pipeline(transaction=False) as pipe:
            for key in self._keys:
                pipe.xrevrange(key, count=1)
            lasts = await pipe.execute()
        return {
            key: last[0][0] if last else "0-0" for key, last in zip(self._keys, lasts, strict=True)
        }

    async def _read(self, positions: dict[Any, Any]) -> None:
        """Read every shard until cancelled. While a round fails (Redis, or a bug in
        handling an entry), the followers poll the log every poll_interval, and Redis
        is tried again after a pause that doubles up to RETRY_MAX."""
        loop = asyncio.get_running_loop()
        pause, retry_at = RETRY_FIRST, 0.0
        while True:
            if self.connected or loop.time() >= retry_at:
                try:
                    await self._read_round(positions)
                    pause = RETRY_FIRST
                    continue
                except Exception as exc:
                    if self.connected:
                        log.warning("reading Redis failed (%r); followers poll the log", exc)
                        self.connected = False
                    retry_at, pause = loop.time() + pause, min(pause * 2, RETRY_MAX)
            await self._poll_log()
            await asyncio.sleep(self._poll_interval)

    async def _poll_log(self) -> None:
        """While Redis is unreachable: resync the listeners behind their thread's log
        (all of them if the log's ends cannot be read: each then reads for itself)."""
        threads = self._local.threads()
        ends: Mapping[str, int] | None = None
        if self._log_ends is not None and threads:
            with contextlib.suppress(Exception):
                ends = await self._log_ends(threads)
        if ends is None:
            self._local.resync_all()
        else:
            for thread_id in threads:  # a thread gone has no end: its followers find out
                self._local.resync(thread_id, ends.get(thread_id))
        self.polled.set()

    async def _read_round(self, positions: dict[Any, Any]) -> None:
        response = cast(
            _Entries,
            await self._client.xread(positions, count=READ_COUNT, block=READ_BLOCK_MS),
        )
        if not self.connected:
            log.warning("Redis is reachable again")
            self.connected = True
            self._local.resync_all()  # whatever was published meanwhile
            self._reconnected.set()
        # Trimming keeps at least max_length entries, all newer than anything it dropped:
        # only a read that comes back that full can have lost entries.
        full = min(READ_COUNT, self._max_length)
        for key, entries in response or ():
            if len(entries) >= full and await self._trimmed_past(key, positions[key]):
                self._local.resync_all()
            for _, fields in entries:
                try:
                    self._dispatch(fields)
                except Exception:  # one bad entry must not stop the fan-out
                    log.exception("an unreadable Redis entry on %s", key)
                    self._local.resync(fields.get("t", ""))
            positions[key] = entries[-1][0]

    async def _trimmed_past(self, key: str, position: str) -> bool:
        """Whether entries after `position` may have been trimmed before this reader
        saw them (the oldest entry kept is newer than `position`)."""
        info: dict[str, Any] = await self._client.xinfo_stream(key)
        first = info.get("first-entry")
        return first is not None and _stream_id(first[0]) > _stream_id(position)

    def _dispatch(self, fields: dict[str, str]) -> None:
        if fields.get("i") == self._instance:
            return
        thread_id = fields["t"]
        if "c" in fields:
            if self._on_cancel is not None:
                self._on_cancel(fields["c"], fields.get("r", "cancelled"))
        elif "s" in fields:
            self._local.resync(thread_id)
        elif self._local.has_listeners(thread_id):
            events = [_event(frame) for frame in fields["f"].split("\n")]
            self._local.dispatch(events, self._lag)
