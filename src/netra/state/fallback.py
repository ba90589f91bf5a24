"""A store that falls back to this process's memory while Redis is unreachable.

For the throttles only: while Redis is down, counting failed logins and sign-ups
per instance is weaker than counting them for the whole deployment, but it keeps
people able to log in, which refusing every attempt would not. (User data, such
as notes, stays on Redis alone: writing it locally would lose it.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.exceptions import RedisError

from netra.state.store import MemoryStateStore, StateStore

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Seconds before Redis is tried again after a failure, doubling up to MAX_PAUSE.
FIRST_PAUSE, MAX_PAUSE = 1.0, 30.0


class FallbackStateStore:
    """`primary` while it answers; `fallback` (in memory) while it raises RedisError.

    A circuit breaker: after a failure, calls go straight to the fallback for a pause
    (doubling up to MAX_PAUSE) before Redis is tried again, so a dead Redis costs a
    login nothing and is not hammered.
    """

    def __init__(
        self,
        primary: StateStore,
        fallback: StateStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._primary = primary
        self._fallback = fallback or MemoryStateStore()
        self._clock = clock
        self.failing = False
        self._pause = FIRST_PAUSE
        self._retry_at = 0.0

    async def _call(self, operation: Callable[[StateStore], Awaitable[T]]) -> T:
        if self.failing and self._clock() < self._retry_at:
            return await operation(self._fallback)
        try:
            result = await operation(self._primary)
        except (RedisError, OSError) as exc:
            if not self.failing:
                log.warning("state on Redis is unreachable (%s); counting in memory", exc)
                self.failing = True
            self._retry_at = self._clock() + self._pause
            self._pause = min(self._pause * 2, MAX_PAUSE)
            return await operation(self._fallback)
        if self.failing:
            log.warning("state on Redis is reachable again")
            self.failing, self._pause = False, FIRST_PAUSE
        return result

    async def get(self, key: str) -> Any | None:
        return await self._call(lambda store: store.get(key))

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        await self._call(lambda store: store.set(key, value, ttl))

    async def delete(self, key: str) -> None:
        await self._call(lambda store: store.delete(key))

    async def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        return await self._call(lambda store: store.incr(key, ttl, amount))

    async def append(
        self, key: str, value: Any, max_items: int, ttl: float | None = None
    ) -> list[Any]:
        return await self._call(lambda store: store.append(key, value, max_items, ttl))

    async def items(self, key: str) -> list[Any]:
        return await self._call(lambda store: store.items(key))

    async def ttl(self, key: str) -> float | None:
        return await self._call(lambda store: store.ttl(key))

    async def close(self) -> None:
        await self._fallback.close()
