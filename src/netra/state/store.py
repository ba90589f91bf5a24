"""Key-value state with TTL, and views of it scoped to one user."""

from __future__ import annotations

import heapq
import json
import time
from collections.abc import Callable
from typing import Any, Protocol


class StateStore(Protocol):
    """JSON-able values under string keys, each with an optional time to live."""

    async def get(self, key: str) -> Any | None: ...

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        """Add `amount` to a counter; the first change starts its TTL window. A counter
        never goes below zero, and a decrement never creates one."""
        ...

    async def close(self) -> None: ...


class MemoryStateStore:
    """In-process store; expired keys are dropped when read, and swept on every write,
    so keys nobody reads again (a throttle's counters) do not pile up.

    Values are kept as JSON text, as a Redis store would keep them: callers get
    copies, and a value that cannot be stored fails here, not in production.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, tuple[Any, float | None]] = {}
        # (deadline, key) of every TTL set; stale once the key is set again or deleted.
        self._deadlines: list[tuple[float, str]] = []

    def __len__(self) -> int:
        """Keys held, expired ones not yet swept included."""
        return len(self._data)

    def _expire_at(self, key: str, ttl: float | None) -> float | None:
        self._sweep()
        if ttl is None:
            return None
        deadline = self._clock() + ttl
        heapq.heappush(self._deadlines, (deadline, key))
        return deadline

    def _sweep(self) -> None:
        now = self._clock()
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, key = heapq.heappop(self._deadlines)
            item = self._data.get(key)
            if item is not None and item[1] == deadline:
                del self._data[key]

    def _live(self, key: str) -> tuple[Any, float | None] | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= self._clock():
            del self._data[key]
            return None
        return item

    async def get(self, key: str) -> Any | None:
        item = self._live(key)
        return None if item is None else json.loads(item[0])

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        text = json.dumps(value, allow_nan=False)
        self._data[key] = (text, self._expire_at(key, ttl))

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        item = self._live(key)
        if item is None:
            if amount <= 0:
                return 0
            self._data[key] = (str(amount), self._expire_at(key, ttl))
            return amount
        count = max(0, int(item[0]) + amount)
        self._data[key] = (str(count), item[1])
        return count

    async def close(self) -> None:
        self._data.clear()
        self._deadlines.clear()


class ScopedState:
    """A view of a StateStore in which every key is prefixed by a scope (e.g. a user id)."""

    def __init__(self, store: StateStore, scope: str) -> None:
        if not scope or ":" in scope:
            raise ValueError(f"invalid state scope {scope!r}")
        self._store = store
        self._prefix = f"scope:{scope}:"

    async def get(self, key: str) -> Any | None:
        return await self._store.get(self._prefix + key)

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        await self._store.set(self._prefix + key, value, ttl)

    async def delete(self, key: str) -> None:
        await self._store.delete(self._prefix + key)
