"""FallbackStateStore: the throttles keep counting in memory while Redis is down, and a
dead Redis is tried again only after a pause that grows (a circuit breaker)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from netra.state.fallback import FIRST_PAUSE, MAX_PAUSE, FallbackStateStore
from netra.state.store import MemoryStateStore
from netra.testing.clock import FakeClock


class Flaky(MemoryStateStore):
    """A real in-memory store that raises Redis's connection error while `down`."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.calls = 0

    async def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        self.calls += 1
        if self.down:
            raise RedisConnectionError("Connection refused")
        return await super().incr(key, ttl, amount)

    async def get(self, key: str) -> Any | None:
        self.calls += 1
        if self.down:
            raise RedisConnectionError("Connection refused")
        return await super().get(key)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_counts_go_to_memory_while_redis_fails_and_back_when_it_answers(
    clock: FakeClock,
) -> None:
    redis = Flaky()
    store = FallbackStateStore(redis, clock=clock)
    assert await store.incr("k", ttl=60) == 1
    redis.down = True

    assert await store.incr("k", ttl=60) == 1  # counted in memory, from zero
    assert store.failing
    assert await store.incr("k", ttl=60) == 2  # still in memory, Redis not tried
    assert redis.calls == 2

    redis.down = False
    clock.advance(FIRST_PAUSE)
    assert await store.incr("k", ttl=60) == 2  # Redis again, with what it had
    assert not store.failing
    assert redis.calls == 3


async def test_a_redis_that_stays_down_is_tried_less_and_less_often(clock: FakeClock) -> None:
    redis = Flaky()
    redis.down = True
    store = FallbackStateStore(redis, clock=clock)
    tried_at: list[float] = []
    for _ in range(400):  # 0.5 s apart: 200 s
        calls = redis.calls
        assert await store.get("k") is None
        if redis.calls > calls:
            tried_at.append(clock.now)
        clock.advance(0.5)

    pauses = [later - earlier for earlier, later in pairwise(tried_at)]
    assert pauses[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert max(pauses) <= MAX_PAUSE
    assert pauses[-1] == MAX_PAUSE
