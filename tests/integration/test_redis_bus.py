"""The Redis Streams fan-out between instances, on a real Redis: delivery, cancel
notices, trimmed streams, and an outage of the server itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio

from netra.ids import new_id
from netra.realtime.events import AgentEvent, EventType
from netra.realtime.redis_bus import RedisEventBus
from netra.testing.services.redis import RedisService, RestartableRedis

THREAD = "thr_redis_bus_test"
TIMEOUT = 15.0


def event(seq: int, thread_id: str = THREAD) -> AgentEvent:
    return AgentEvent(
        EventType.AGENT_THINKING,
        new_id("evt"),
        thread_id,
        "run_redis_bus_test",
        seq,
        datetime(2026, 12, 1, 6, 0, 0, 123000, tzinfo=UTC),
        {"text": f"step {seq}", "quote": 'a "b"\nc'},
    )


class Recorder:
    """A bus listener that records what it is given and wakes whoever waits on it."""

    def __init__(self) -> None:
        self.events: list[AgentEvent] = []
        self.resyncs = 0
        self.changed = asyncio.Event()

    def deliver(self, event: AgentEvent) -> None:
        self.events.append(event)
        self.changed.set()

    def resync(self, upto: int | None = None) -> None:
        self.resyncs += 1
        self.changed.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


MakeBus = Callable[..., Awaitable[RedisEventBus]]


@pytest.fixture
async def make_bus(redis_prefix: str) -> AsyncIterator[Callable[..., Awaitable[RedisEventBus]]]:
    """Buses of separate instances sharing one Redis (each with its own client)."""
    opened: list[tuple[RedisEventBus, Any]] = []

    async def make(url: str, *, start: bool = True, **options: Any) -> RedisEventBus:
        client = redis.asyncio.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=1, socket_timeout=3
        )
        options = {"shards": 4, "max_length": 1000, "prefix": redis_prefix, **options}
        bus = RedisEventBus(client, new_id("srv"), poll_interval=0.1, **options)
        opened.append((bus, client))
        if start:
            await bus.start()
        return bus

    yield make
    for bus, client in opened:
        await bus.close()
        await client.aclose()


async def test_an_instance_hears_the_other_s_events_once_in_order_and_only_its_threads(
    make_bus: MakeBus, redis_service: RedisService
) -> None:
    a = await make_bus(redis_service.url)
    b = await make_bus(redis_service.url)
    on_a, on_b, elsewhere = Recorder(), Recorder(), Recorder()
    a.listen(THREAD, on_a)
    b.listen(THREAD, on_b)
    b.listen("thr_nobody_writes", elsewhere)

    await a.publish([event(1), event(2)])
    await a.publish([event(3), event(1, "thr_other"), event(4)])
    await on_b.until(lambda: len(on_b.events) >= 4)

    assert [e.seq for e in on_b.events] == [1, 2, 3, 4]
    assert [e.frame for e in on_b.events] == [e.frame for e in on_a.events]  # the same bytes
    assert on_b.events[0].to_frame()["data"] == {"text": "step 1", "quote": 'a "b"\nc'}
    assert [e.seq for e in on_a.events] == [1, 2, 3, 4]  # its own, once: not read back
    assert elsewhere.events == []
    assert on_a.resyncs == on_b.resyncs == 0


async def test_a_cancel_notice_reaches_the_other_instances_and_not_its_sender(
    make_bus: MakeBus, redis_service: RedisService
) -> None:
    a = await make_bus(redis_service.url)
    b = await make_bus(redis_service.url)
    heard_by_a: list[tuple[str, str]] = []
    heard_by_b: list[tuple[str, str]] = []
    a.on_cancel(lambda run_id, reason: heard_by_a.append((run_id, reason)))
    b.on_cancel(lambda run_id, reason: heard_by_b.append((run_id, reason)))
    # An event after the notice, on the same shard: once it is heard, so was the notice.
    after = Recorder()
    b.listen(THREAD, after)

    await a.notify_cancel(THREAD, "run_to_cancel", "cancelled_by_user")
    await a.publish([event(1)])
    await after.until(lambda: len(after.events) == 1)

    assert heard_by_b == [("run_to_cancel", "cancelled_by_user")]
    assert heard_by_a == []


async def test_a_reader_behind_a_trimmed_stream_tells_its_listeners_to_resync(
    make_bus: MakeBus, redis_service: RedisService, redis_prefix: str
) -> None:
    writer = await make_bus(redis_service.url, shards=1, max_length=100)
    reader = await make_bus(redis_service.url, shards=1, max_length=100, start=False)
    watcher = await make_bus(redis_service.url, shards=1, max_length=100)
    appended = Recorder()
    watcher.listen(THREAD, appended)  # keeps up: tells when the last append is in
    position = await reader.ends()  # where a reader stood before it fell behind
    for seq in range(1, 401):
        await writer.publish([event(seq)])
    await appended.until(lambda: appended.events[-1:] != [] and appended.events[-1].seq == 400)
    client = redis.asyncio.Redis.from_url(redis_service.url, decode_responses=True)
    try:
        assert await client.xlen(f"{redis_prefix}events:0") < 400  # trimmed
    finally:
        await client.aclose()
    recorder = Recorder()
    reader.listen(THREAD, recorder)

    await reader.start(position)
    await recorder.until(lambda: recorder.resyncs > 0 and recorder.events[-1:] != [])

    assert recorder.resyncs >= 1
    assert recorder.events[0].seq > 1  # the start of the stream is gone: hence the resync


async def test_an_unreadable_entry_or_a_resync_notice_makes_listeners_resync_and_reading_go_on(
    make_bus: MakeBus, redis_service: RedisService, redis_prefix: str
) -> None:
    writer = await make_bus(redis_service.url, shards=1)
    reader = await make_bus(redis_service.url, shards=1)
    recorder = Recorder()
    reader.listen(THREAD, recorder)
    client = redis.asyncio.Redis.from_url(redis_service.url, decode_responses=True)
    try:
        stream = f"{redis_prefix}events:0"
        # Written by another instance's (broken or newer) code: not frames this one reads.
        await client.xadd(stream, {"i": "srv_other", "t": THREAD, "f": "not json"})
        await recorder.until(lambda: recorder.resyncs == 1)
        # Another instance's notice that it could not send some of the thread's events.
        await client.xadd(stream, {"i": "srv_other", "t": THREAD, "s": "1"})
        await recorder.until(lambda: recorder.resyncs == 2)
    finally:
        await client.aclose()
    await writer.publish([event(1)])
    await recorder.until(lambda: len(recorder.events) == 1)

    assert recorder.events[0].seq == 1  # the fan-out went on past both
    assert recorder.resyncs == 2


async def test_while_redis_is_down_listeners_poll_and_all_resumes_when_it_is_back(
    make_bus: MakeBus, private_redis: RestartableRedis
) -> None:
    server = private_redis
    a = await make_bus(server.url)
    b = await make_bus(server.url)
    on_a, on_b = Recorder(), Recorder()
    a.listen(THREAD, on_a)
    b.listen(THREAD, on_b)
    await a.publish([event(1)])
    await on_b.until(lambda: len(on_b.events) == 1)

    server.stop()
    await on_b.until(lambda: on_b.resyncs >= 3)  # polling the log, again and again
    assert b.status == "degraded"
    await a.publish([event(2)])  # committed while Redis is down: kept, and sent later
    assert [e.seq for e in on_a.events] == [1, 2]  # this instance's own still flow

    server.start()  # on the same port, empty
    await on_b.until(lambda: b.status == "ok")
    await a.publish([event(3)])
    await on_b.until(lambda: [e.seq for e in on_b.events][-1:] == [3])

    assert [e.seq for e in on_b.events] == [1, 2, 3]  # nothing lost, in order
    assert b.status == "ok"


async def test_events_past_the_outbox_bound_become_one_resync_notice_for_their_thread(
    make_bus: MakeBus, private_redis: RestartableRedis, redis_prefix: str
) -> None:
    server = private_redis
    # Bounded by bytes: one streamed answer's batch can be as big as thousands of small ones.
    a = await make_bus(server.url, max_outbox_bytes=4000)
    small, big = "thr_redis_bus_small", "thr_redis_bus_big"
    server.stop()
    await a.publish([event(1, small)])  # fits: kept, sent once Redis is back
    await a.publish([event(seq, big) for seq in range(1, 40)])  # over the bound: dropped
    await a.publish([event(40, big)])  # its thread will resync anyway: not kept either
    server.start()  # on the same port, empty
    await a.close(flush_timeout=TIMEOUT)  # sends what it kept

    reader = redis.asyncio.Redis.from_url(server.url, decode_responses=True)
    try:
        entries = [
            fields
            for shard in range(4)
            for _, fields in await reader.xrange(f"{redis_prefix}events:{shard}")
        ]
    finally:
        await reader.aclose()
    notices = [(e["t"], e.get("s")) for e in entries if "f" not in e]
    frames = [(e["t"], e["f"].count("\n") + 1) for e in entries if "f" in e]
    assert notices == [(big, "1")]
    assert frames == [(small, 1)]
