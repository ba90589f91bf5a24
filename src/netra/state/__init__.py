"""Scoped key-value state with TTL: in-process by default, on Redis when there is one.

`open_state()` picks the engine; callers work through `ScopedState` views
(global, user, thread, run) so that no scope reads another's keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netra.state.redis_store import RedisStateStore
from netra.state.scopes import ScopedState
from netra.state.store import MemoryStateStore, StateStore, StateTypeError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "MemoryStateStore",
    "RedisStateStore",
    "ScopedState",
    "StateStore",
    "StateTypeError",
    "open_state",
]


def open_state(redis_client: Redis | None, prefix: str = "netra:") -> StateStore:
    """The state store for this process: on Redis (shared by every instance) when given
    a client, else in-process. The Redis store does not close the client: its owner does."""
    if redis_client is None:
        return MemoryStateStore()
    return RedisStateStore(redis_client, prefix)
