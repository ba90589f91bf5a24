"""The state store interface, and its in-process engine.

A store holds JSON-able values and capped lists under string keys, each with an
optional time to live. Callers use it through a `ScopedState` (netra.state.scopes),
which confines them to one scope's keys; the raw key operations here are the
engines' interface. Two engines implement it, with the same behaviour:
`MemoryStateStore` below and `RedisStateStore` (netra.state.redis_store).
"""

from __future__ import annotations

import heapq
import json
import math
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

#: What a counter's stored text looks like (it is JSON, so `get` reads it as an int).
_COUNTER = re.compile(r"-?[0-9]+")


class StateTypeError(TypeError):
    """An operation met a key holding the other kind of thing: a list where a single
    value (or counter) was expected, or a value where a list was."""

    def __init__(self, key: str, expected: str) -> None:
        super().__init__(
            f"state key {key!r} does not hold {expected}; use another key for it, "
            "or delete the key first"
        )
        self.key = key


class StateStore(Protocol):
    """JSON-able values and capped lists under string keys, each with an optional time
    to live (seconds; fractions allowed). Every operation is atomic."""

    async def get(self, key: str) -> Any | None:
        """The value, or None when there is none (StateTypeError for a list)."""
        ...

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store a value, replacing whatever the key held and its TTL."""
        ...

    async def delete(self, key: str) -> None: ...

    async def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        """Add `amount` to a counter; the first change starts its TTL window. A counter
        never goes below zero, and a decrement never creates one."""
        ...

    async def append(
        self, key: str, value: Any, max_items: int, ttl: float | None = None
    ) -> list[Any]:
        """Append to a list, keep only its newest `max_items`, and return the list.
        With `ttl` the list expires that long after this append; without, its
        expiry is left as it was."""
        ...

    async def items(self, key: str) -> list[Any]:
        """A list's items, oldest first; [] when there is none (StateTypeError for a value)."""
        ...

    async def ttl(self, key: str) -> float | None:
        """Seconds until the key expires; None when it is missing or never expires."""
        ...

    async def close(self) -> None: ...


def encode(value: Any) -> str:
    """A value's stored text (JSON); fails here, before anything is stored."""
    return json.dumps(value, allow_nan=False)


def check_ttl(ttl: float) -> float:
    """`ttl` if it is a positive, finite number of seconds, else ValueError."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl < math.inf:
        raise ValueError(f"a state TTL must be a positive number of seconds, not {ttl!r}")
    return float(ttl)


def check_amount(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError(f"a counter changes by a whole number, not {amount!r}")
    return amount


def check_max_items(max_items: int) -> int:
    if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
        raise ValueError(f"a capped list keeps at least one item, not {max_items!r}")
    return max_items


class MemoryStateStore:
    """In-process store; expired keys are dropped when read, and swept on every write,
    so keys nobody reads again (a throttle's counters) do not pile up.

    Values are kept as JSON text, as the Redis store keeps them: callers get
    copies, and a value that cannot be stored fails here, not in production.
    Nothing here awaits, so every operation is atomic on the event loop.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # key -> (JSON text, or a list's JSON texts; deadline or None)
        self._data: dict[str, tuple[str | list[str], float | None]] = {}
        # (deadline, key) of every TTL set; stale once the key is set again or deleted.
        self._deadlines: list[tuple[float, str]] = []

    def __len__(self) -> int:
        """Keys held, expired ones not yet swept included."""
        return len(self._data)

    def _expire_at(self, key: str, ttl: float | None) -> float | None:
        self._sweep()
        if ttl is None:
            return None
        deadline = self._clock() + check_ttl(ttl)
        heapq.heappush(self._deadlines, (deadline, key))
        return deadline

    def _sweep(self) -> None:
        now = self._clock()
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, key = heapq.heappop(self._deadlines)
            item = self._data.get(key)
            if item is not None and item[1] == deadline:
                del self._data[key]

    def _live(self, key: str) -> tuple[str | list[str], float | None] | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= self._clock():
            del self._data[key]
            return None
        return item

    def _value(self, key: str) -> tuple[str, float | None] | None:
        item = self._live(key)
        if item is None:
            return None
        text, deadline = item
        if isinstance(text, list):
            raise StateTypeError(key, "a single value")
        return text, deadline

    async def get(self, key: str) -> Any | None:
        item = self._value(key)
        return None if item is None else json.loads(item[0])

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        text = encode(value)
        self._data[key] = (text, self._expire_at(key, ttl))

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        check_ttl(ttl)
        check_amount(amount)
        item = self._live(key)
        if item is None:
            if amount <= 0:
                return 0
            self._data[key] = (str(amount), self._expire_at(key, ttl))
            return amount
        if isinstance(item[0], list) or not _COUNTER.fullmatch(item[0]):
            raise StateTypeError(key, "a counter")
        count = max(0, int(item[0]) + amount)
        self._data[key] = (str(count), item[1])
        return count

    async def append(
        self, key: str, value: Any, max_items: int, ttl: float | None = None
    ) -> list[Any]:
        text = encode(value)
        check_max_items(max_items)
        if ttl is not None:
            check_ttl(ttl)
        item = self._live(key)
        if item is None:
            texts: list[str] = []
            deadline = None
        elif isinstance(item[0], list):
            texts, deadline = item[0], item[1]
        else:
            raise StateTypeError(key, "a list")
        texts.append(text)
        del texts[:-max_items]
        if ttl is not None:
            deadline = self._expire_at(key, ttl)
        self._data[key] = (texts, deadline)
        return [json.loads(t) for t in texts]

    async def items(self, key: str) -> list[Any]:
        item = self._live(key)
        if item is None:
            return []
        if not isinstance(item[0], list):
            raise StateTypeError(key, "a list")
        return [json.loads(t) for t in item[0]]

    async def ttl(self, key: str) -> float | None:
        item = self._live(key)
        if item is None or item[1] is None:
            return None
        return item[1] - self._clock()

    async def close(self) -> None:
        self._data.clear()
        self._deadlines.clear()
