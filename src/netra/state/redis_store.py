"""The Redis engine of the state store: every instance of Netra shares its state.

Keys live under `<prefix>state:`, values are JSON text (as in the memory store),
capped lists are Redis lists of JSON texts, and TTLs are milliseconds (PX,
PEXPIRE). The two operations that read and then write (`incr`, `append`) are Lua
scripts, so Redis runs each as one step and concurrent updates are never lost.

The store does not own its client: the lifecycle opens and closes it. Errors
are redis-py's (ConnectionError, TimeoutError), raised as the client raises them;
how soon depends on the client, so give it `socket_connect_timeout`,
`socket_timeout` and a short `retry` (with redis-py's defaults a refused
connection is retried for about 4.5 s, and a server that stops answering is
waited for without end).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from netra.state.store import (
    StateTypeError,
    check_amount,
    check_max_items,
    check_ttl,
    encode,
)

# KEYS[1] counter; ARGV[1] amount; ARGV[2] TTL in ms. Same rules as MemoryStateStore.incr:
# the TTL starts with the first change and is kept after, a decrement never creates a
# counter, and a counter never goes below zero.
_INCR = """
local current = redis.call('GET', KEYS[1])
local amount = tonumber(ARGV[1])
if not current then
  if amount <= 0 then return 0 end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return amount
end
if not string.match(current, '^%-?%d+$') then
  return redis.error_reply('WRONGTYPE the key holds a value that is not a counter')
end
local count = redis.call('INCRBY', KEYS[1], amount)
if count < 0 then
  redis.call('SET', KEYS[1], 0, 'KEEPTTL')
  return 0
end
return count
"""

# KEYS[1] list; ARGV[1] JSON text; ARGV[2] items kept; ARGV[3] TTL in ms, or '' to keep
# the list's expiry as it is.
_APPEND = """
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
if ARGV[3] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return redis.call('LRANGE', KEYS[1], 0, -1)
"""


def _millis(ttl: float) -> int:
    # Rounded up, so a key never expires before its TTL (and a tiny TTL is not 0 = invalid).
    return max(1, math.ceil(check_ttl(ttl) * 1000))


@contextmanager
def _kind_of(key: str, expected: str) -> Iterator[None]:
    """Redis's WRONGTYPE (a list where a value was expected, or the reverse) as StateTypeError."""
    try:
        yield
    except ResponseError as exc:
        if "WRONGTYPE" in str(exc):
            raise StateTypeError(key, expected) from exc
        raise


class RedisStateStore:
    """A StateStore on Redis, through redis-py's asyncio client (text or bytes replies)."""

    def __init__(self, client: Redis, prefix: str = "netra:") -> None:
        self._client = client
        self._prefix = f"{prefix}state:"
        self._incr = client.register_script(_INCR)
        self._append = client.register_script(_APPEND)

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> Any | None:
        with _kind_of(key, "a single value"):
            text = await self._client.get(self._key(key))
        return None if text is None else json.loads(text)

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        text = encode(value)
        px = None if ttl is None else _millis(ttl)
        await self._client.set(self._key(key), text, px=px)

    async def delete(self, key: str) -> None:
        await self._client.delete(self._key(key))

    async def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        args = [check_amount(amount), _millis(ttl)]
        with _kind_of(key, "a counter"):
            return int(await self._incr(keys=[self._key(key)], args=args))

    async def append(
        self, key: str, value: Any, max_items: int, ttl: float | None = None
    ) -> list[Any]:
        args: list[str | int] = [
            encode(value),
            check_max_items(max_items),
            "" if ttl is None else _millis(ttl),
        ]
        with _kind_of(key, "a list"):
            texts = await self._append(keys=[self._key(key)], args=args)
        return [json.loads(text) for text in texts]

    async def items(self, key: str) -> list[Any]:
        with _kind_of(key, "a list"):
            texts = await self._client.lrange(self._key(key), 0, -1)
        return [json.loads(text) for text in texts]

    async def ttl(self, key: str) -> float | None:
        millis = await self._client.pttl(self._key(key))
        return None if millis < 0 else millis / 1000

    async def close(self) -> None:
        """Nothing to do: the client belongs to whoever made it (the lifecycle)."""
