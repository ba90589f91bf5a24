"""netra.state on both engines: every behaviour test runs on the memory store and on a
real Redis (no mocks), then the Redis engine's own guarantees: the key layout, other
instances seeing the same state, bytes replies, an owned client, an unreachable server.

Time: the memory store runs on a FakeClock that the test advances; on Redis, TTLs are
read back with PTTL and expiry is awaited on the Redis server's own clock (its TIME),
polled with a bound, never guessed with a fixed sleep.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from netra.agents.context import ExecutionContextFactory, UserExecutionContext
from netra.agents.tools.notes import NOTES
from netra.auth.throttle import LoginThrottle
from netra.db.engine import Database
from netra.errors import AppError
from netra.ids import new_id
from netra.realtime.bus import InMemoryEventBus
from netra.realtime.log import EventLogWriter
from netra.state import (
    MemoryStateStore,
    RedisStateStore,
    ScopedState,
    StateStore,
    StateTypeError,
    open_state,
)
from netra.testing.clock import FakeClock
from netra.testing.fixtures import TEST_INSTANCE
from netra.testing.services import RedisService

#: How long a wait for Redis's clock may take before the test fails instead of hanging.
WAIT_BOUND = 10.0
#: Handles on the same state in concurrency tests: separate Redis clients (connection pools).
HANDLES = 4


@dataclass
class Engine:
    """One state engine under test, and what a test needs to drive it."""

    name: str
    store: StateStore
    #: Returns only once at least `seconds` have passed on the engine's clock.
    let_pass: Callable[[float], Awaitable[None]]
    #: `HANDLES` stores on the same state; on Redis, each with a client of its own.
    handles: list[StateStore] = field(default_factory=list)


async def _redis_now(client: redis.asyncio.Redis) -> float:
    seconds, micros = await client.time()
    return seconds + micros / 1_000_000


@pytest.fixture(params=["memory", "redis"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each test runs on the memory store (fake clock), then on the real Redis."""
    chosen: Engine = request.getfixturevalue(f"{request.param}_engine")
    return chosen


@pytest.fixture
def memory_engine() -> Engine:
    """A MemoryStateStore on a FakeClock that `let_pass` advances."""
    clock = FakeClock()
    memory = MemoryStateStore(clock=clock)

    async def advance(seconds: float) -> None:
        clock.advance(seconds)

    return Engine("memory", memory, advance, [memory] * HANDLES)


@pytest.fixture
async def redis_engine(
    redis_client: redis.asyncio.Redis, redis_prefix: str, redis_service: RedisService
) -> AsyncIterator[Engine]:
    """A RedisStateStore on this test's prefix; `let_pass` waits on the server's clock."""
    client, prefix = redis_client, redis_prefix
    others = [redis.asyncio.Redis.from_url(redis_service.url) for _ in range(HANDLES)]

    async def wait(seconds: float) -> None:
        # Redis expires a key once its clock is past the deadline (in ms): wait for that.
        until = await _redis_now(client) + seconds + 0.002
        async with asyncio.timeout(WAIT_BOUND):
            while True:
                if await _redis_now(client) >= until:
                    return
                await asyncio.sleep(0.005)

    try:
        yield Engine(
            "redis",
            RedisStateStore(client, prefix),
            wait,
            [RedisStateStore(other, prefix) for other in others],
        )
    finally:
        for other in others:
            await other.aclose()


# -- values, counters, lists ---------------------------------------------------------
async def test_set_get_delete(engine: Engine) -> None:
    store = engine.store
    assert await store.get("k") is None
    await store.set("k", {"a": [1, 2], "s": "é ✓", "n": None})
    assert await store.get("k") == {"a": [1, 2], "s": "é ✓", "n": None}
    await store.set("k", 0)
    assert await store.get("k") == 0
    await store.delete("k")
    await store.delete("never-set")
    assert (await store.get("k"), await store.get("never-set")) == (None, None)


async def test_a_value_that_is_not_json_is_refused_before_anything_is_stored(
    engine: Engine,
) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        await engine.store.set("k", float("nan"))
    with pytest.raises(TypeError, match="not JSON serializable"):
        await engine.store.append("l", object(), max_items=3)
    assert (await engine.store.get("k"), await engine.store.items("l")) == (None, [])


async def test_incr_counts_and_never_goes_below_zero(engine: Engine) -> None:
    store = engine.store
    assert [await store.incr("c", ttl=60) for _ in range(3)] == [1, 2, 3]
    assert await store.incr("c", ttl=60, amount=5) == 8
    assert await store.get("c") == 8
    assert await store.incr("c", ttl=60, amount=-10) == 0
    assert await store.get("c") == 0
    assert await store.incr("c", ttl=60, amount=0) == 0


async def test_a_decrement_or_a_read_never_creates_a_counter(engine: Engine) -> None:
    store = engine.store
    assert await store.incr("refund", ttl=60, amount=-1) == 0
    assert await store.incr("peek", ttl=60, amount=0) == 0
    assert (await store.get("refund"), await store.get("peek")) == (None, None)


async def test_a_counter_can_be_set_and_then_counted(engine: Engine) -> None:
    await engine.store.set("c", 41)
    assert await engine.store.incr("c", ttl=60) == 42
    assert await engine.store.ttl("c") is None  # a value set without TTL keeps none


async def test_append_keeps_the_newest_items_and_returns_them(engine: Engine) -> None:
    store = engine.store
    returned = [await store.append("l", {"n": n}, max_items=3) for n in range(5)]
    assert [[item["n"] for item in items] for items in returned] == [
        [0],
        [0, 1],
        [0, 1, 2],
        [1, 2, 3],
        [2, 3, 4],
    ]
    assert await store.items("l") == [{"n": 2}, {"n": 3}, {"n": 4}]
    assert await store.items("missing") == []
    await store.delete("l")
    assert await store.items("l") == []


async def test_a_list_and_a_value_are_not_mistaken_for_each_other(engine: Engine) -> None:
    store = engine.store
    await store.append("list", 1, max_items=5)
    await store.set("value", "text")
    await store.set("float", 1.5)
    with pytest.raises(StateTypeError, match="'list' does not hold a single value"):
        await store.get("list")
    with pytest.raises(StateTypeError, match="'value' does not hold a list"):
        await store.append("value", 1, max_items=5)
    with pytest.raises(StateTypeError, match="'value' does not hold a list"):
        await store.items("value")
    for not_a_counter in ("list", "value", "float"):
        with pytest.raises(StateTypeError, match=f"'{not_a_counter}' does not hold a counter"):
            await store.incr(not_a_counter, ttl=10)
    assert (await store.items("list"), await store.get("value")) == ([1], "text")
    await store.set("list", "replaced")  # set replaces whatever was there
    assert await store.get("list") == "replaced"


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf")])
async def test_a_ttl_must_be_a_positive_number_of_seconds(engine: Engine, ttl: float) -> None:
    store = engine.store
    for write in (
        store.set("k", "v", ttl=ttl),
        store.incr("k", ttl=ttl),
        store.append("k", "v", max_items=1, ttl=ttl),
    ):
        with pytest.raises(ValueError, match="a state TTL must be a positive number of seconds"):
            await write
    assert await store.get("k") is None


async def test_a_capped_list_keeps_at_least_one_item(engine: Engine) -> None:
    with pytest.raises(ValueError, match="a capped list keeps at least one item, not 0"):
        await engine.store.append("l", "x", max_items=0)
    assert await engine.store.items("l") == []


# -- TTL -----------------------------------------------------------------------------
async def test_ttl_reports_what_is_left(engine: Engine) -> None:
    store = engine.store
    await store.set("k", "v", ttl=30)
    await store.set("forever", "v")
    left = await store.ttl("k")
    assert left is not None
    assert 29 < left <= 30
    assert (await store.ttl("forever"), await store.ttl("missing")) == (None, None)


async def test_a_value_is_gone_once_its_ttl_has_passed(engine: Engine) -> None:
    store = engine.store
    await store.set("short", "v", ttl=0.05)
    await store.set("long", "v", ttl=60)
    await engine.let_pass(0.05)
    assert (await store.get("short"), await store.get("long")) == (None, "v")
    await store.set("short", "again", ttl=60)  # an expired key can be set again
    assert await store.get("short") == "again"


async def test_set_again_replaces_the_ttl(engine: Engine) -> None:
    store = engine.store
    await store.set("k", "old", ttl=0.05)
    await store.set("k", "new")
    await engine.let_pass(0.05)
    assert (await store.get("k"), await store.ttl("k")) == ("new", None)


async def test_a_counter_window_starts_at_the_first_increment_and_is_not_extended(
    engine: Engine,
) -> None:
    store = engine.store
    assert await store.incr("c", ttl=60) == 1
    first = await store.ttl("c")
    await engine.let_pass(0.01)
    assert await store.incr("c", ttl=60) == 2
    assert await store.incr("c", ttl=60, amount=-1) == 1
    second = await store.ttl("c")
    assert first is not None
    assert second is not None
    assert first - second >= 0.009  # the deadline did not move (0.01 s, give or take a float)


async def test_a_counter_expires_with_its_window_and_starts_afresh(engine: Engine) -> None:
    store = engine.store
    await store.incr("c", ttl=0.05, amount=7)
    await engine.let_pass(0.05)
    assert await store.get("c") is None
    assert await store.incr("c", ttl=60) == 1


async def test_a_list_ttl_restarts_with_each_append_that_gives_one(engine: Engine) -> None:
    store = engine.store
    await store.append("kept", "a", max_items=5, ttl=0.05)
    await store.append("kept", "b", max_items=5, ttl=60)
    await store.append("dropped", "a", max_items=5, ttl=0.05)
    await store.append("dropped", "b", max_items=5)  # keeps the 50 ms
    await engine.let_pass(0.05)
    assert (await store.items("kept"), await store.items("dropped")) == (["a", "b"], [])


# -- scopes --------------------------------------------------------------------------
async def test_users_never_see_each_others_keys(engine: Engine) -> None:
    alice = ScopedState(engine.store, "user", new_id("usr"))
    bob = ScopedState(engine.store, "user", new_id("usr"))
    await alice.set("profile", {"name": "alice"})
    await alice.append("notes", "alice's", max_items=10)
    await alice.incr("count", ttl=60)
    assert (await bob.get("profile"), await bob.items("notes"), await bob.get("count")) == (
        None,
        [],
        None,
    )
    await bob.append("notes", "bob's", max_items=10)
    await bob.delete("profile")
    await bob.delete("notes")
    assert await alice.items("notes") == ["alice's"]
    assert await alice.get("profile") == {"name": "alice"}


async def test_one_thread_id_in_two_users_is_two_scopes(engine: Engine) -> None:
    thread, run = new_id("thr"), new_id("run")
    alice = ScopedState(engine.store, "user", new_id("usr"))
    mallory = ScopedState(engine.store, "user", new_id("usr"))
    await alice.scope("thread", thread).set("k", "alice's thread")
    await alice.scope("thread", thread).scope("run", run).set("k", "alice's run")
    assert await mallory.scope("thread", thread).get("k") is None
    assert await mallory.scope("thread", thread).scope("run", run).get("k") is None
    assert await mallory.scope("run", run).get("k") is None


async def test_keys_that_look_like_scope_paths_stay_in_their_scope(engine: Engine) -> None:
    # Under a plain `kind:id:key` layout each pair below would be one key.
    user_id, thread, run = new_id("usr"), new_id("thr"), new_id("run")
    top = ScopedState(engine.store, "global")
    user = ScopedState(engine.store, "user", user_id)
    in_thread = user.scope("thread", thread)
    in_run = in_thread.scope("run", run)
    await user.set(f"thread:{thread}:k", "user")
    await user.set(f"thread:{thread}/k", "user, with a slash")
    await in_thread.set(f"run:{run}/k", "thread")
    await top.set(f"user:{user_id}/k", "global")
    await top.set(f"/../user:{user_id}/k", "global, with dots")
    assert (await in_thread.get("k"), await in_run.get("k"), await user.get("k")) == (
        None,
        None,
        None,
    )
    assert await user.get(f"thread:{thread}:k") == "user"
    assert await in_thread.get(f"run:{run}/k") == "thread"


async def test_the_throttle_counts_in_the_global_scope_apart_from_users(engine: Engine) -> None:
    throttle = LoginThrottle(engine.store, max_failures=1, window=60)
    await throttle.admit("1.2.3.4", "a@example.com")
    await throttle.failed("1.2.3.4", "a@example.com")
    top = ScopedState(engine.store, "global")
    assert await top.get("login-failures:account:a@example.com") == 1
    assert await top.get("login-failures:pair:1.2.3.4:a@example.com") == 1
    with pytest.raises(AppError, match="too many failed logins"):
        await throttle.admit("1.2.3.4", "a@example.com")


# -- atomic under concurrency -----------------------------------------------------------
async def test_concurrent_increments_are_never_lost(engine: Engine) -> None:
    tasks, each = 50, 8

    async def count(store: StateStore) -> list[int]:
        return [await store.incr("hits", ttl=60) for _ in range(each)]

    results = await asyncio.gather(*(count(engine.handles[n % HANDLES]) for n in range(tasks)))
    seen = sorted(value for values in results for value in values)
    assert seen == list(range(1, tasks * each + 1))  # every increment saw its own count
    assert await engine.store.get("hits") == tasks * each


async def test_concurrent_decrements_stop_at_zero(engine: Engine) -> None:
    await engine.store.incr("left", ttl=60, amount=10)
    results = await asyncio.gather(
        *(engine.handles[n % HANDLES].incr("left", ttl=60, amount=-1) for n in range(40))
    )
    assert sorted(results) == [0] * 30 + list(range(10))
    assert await engine.store.get("left") == 0


async def test_concurrent_appends_are_never_lost_and_stay_capped(engine: Engine) -> None:
    appended = await asyncio.gather(
        *(engine.handles[n % HANDLES].append("all", n, max_items=1000) for n in range(60)),
        *(engine.handles[n % HANDLES].append("capped", n, max_items=5) for n in range(60)),
    )
    everything, capped = appended[:60], appended[60:]
    assert sorted(len(items) for items in everything) == list(range(1, 61))
    assert sorted(await engine.store.items("all")) == list(range(60))
    assert all(len(items) <= 5 and items[-1] == n for n, items in enumerate(capped))
    final = await engine.store.items("capped")
    assert len(final) == 5
    assert len(set(final)) == 5


async def test_concurrent_guesses_cannot_slip_under_the_login_limit(engine: Engine) -> None:
    throttles = [LoginThrottle(handle, max_failures=5, window=60) for handle in engine.handles]

    async def guess(n: int) -> bool:
        try:
            await throttles[n % HANDLES].admit("attacker", "ada@example.com")
        except AppError:
            return False
        return True

    admitted = await asyncio.gather(*(guess(n) for n in range(60)))
    assert admitted.count(True) == 5


async def test_concurrent_notes_of_one_user_are_all_kept(engine: Engine, tmp_path: Path) -> None:
    # Each run has its own context (and, on Redis, its own client), as runs on several
    # instances would. A read-modify-write of the list would keep only some of them.
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")  # the tool never touches it
    events = EventLogWriter(db, InMemoryEventBus(), TEST_INSTANCE)
    factories = [ExecutionContextFactory(events, handle) for handle in engine.handles]
    user_id = new_id("usr")

    def run_of(n: int) -> UserExecutionContext:
        return factories[n % HANDLES].create(user_id, new_id("thr"), new_id("run"), "assistant")

    try:
        await asyncio.gather(
            *(NOTES.run(run_of(n), {"action": "add", "text": f"note {n}"}) for n in range(30))
        )
        listed = await NOTES.run(run_of(0), {"action": "list"})
    finally:
        await db.dispose()
    assert sorted(listed["notes"]) == sorted(f"note {n}" for n in range(30))


async def test_a_run_context_scopes_state_by_user_thread_and_run(
    engine: Engine, tmp_path: Path
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    factory = ExecutionContextFactory(
        EventLogWriter(db, InMemoryEventBus(), TEST_INSTANCE), engine.store, 30
    )
    user_id, thread = new_id("usr"), new_id("thr")
    try:
        first = factory.create(user_id, thread, new_id("run"), "assistant")
        later = factory.create(user_id, thread, new_id("run"), "assistant")
        elsewhere = factory.create(user_id, new_id("thr"), new_id("run"), "assistant")
        await first.user_state.set("k", "first user")
        await first.thread_state.set("k", "first thread")
        await first.run_state.set("k", "first run")
        assert await later.user_state.get("k") == "first user"
        assert await later.thread_state.get("k") == "first thread"
        assert await later.run_state.get("k") is None
        assert await elsewhere.thread_state.get("k") is None
        run_ttl = await first.run_state.ttl("k")
        assert run_ttl is not None
        assert 29 < run_ttl <= 30  # run state expires by default
        assert await first.thread_state.ttl("k") is None
    finally:
        await db.dispose()


# -- the Redis engine's own ------------------------------------------------------------
async def test_redis_keys_follow_the_documented_layout_under_the_prefix(
    redis_client: redis.asyncio.Redis, redis_prefix: str
) -> None:
    store = RedisStateStore(redis_client, redis_prefix)
    user_id, thread = new_id("usr"), new_id("thr")
    user = ScopedState(store, "user", user_id)
    await user.set("profile", {"a": 1}, ttl=5)
    await user.scope("thread", thread).append("notes", "n", max_items=3)
    await user.incr("count", ttl=5)
    base = f"{redis_prefix}state:user:{user_id}"
    assert json.loads(await redis_client.get(f"{base}/profile")) == {"a": 1}
    assert 0 < await redis_client.pttl(f"{base}/profile") <= 5000
    assert await redis_client.lrange(f"{base}:thread:{thread}/notes", 0, -1) == ['"n"']
    assert await redis_client.get(f"{base}/count") == "1"
    keys = {key async for key in redis_client.scan_iter(match=f"{redis_prefix}*")}
    assert keys == {f"{base}/profile", f"{base}:thread:{thread}/notes", f"{base}/count"}


async def test_redis_stores_on_one_prefix_share_state_and_other_prefixes_do_not(
    redis_client: redis.asyncio.Redis, redis_prefix: str, redis_service: RedisService
) -> None:
    async with redis.asyncio.Redis.from_url(redis_service.url) as other_client:
        here = RedisStateStore(redis_client, redis_prefix)
        another_instance = RedisStateStore(other_client, redis_prefix)
        another_deployment = RedisStateStore(redis_client, f"{redis_prefix}other:")
        await here.set("k", "shared")
        assert await another_instance.incr("c", ttl=60) == 1
        assert await here.incr("c", ttl=60) == 2
        assert await another_instance.get("k") == "shared"
        assert (await another_deployment.get("k"), await another_deployment.get("c")) == (
            None,
            None,
        )


async def test_redis_store_works_on_a_client_that_returns_bytes(
    redis_service: RedisService, redis_prefix: str
) -> None:
    async with redis.asyncio.Redis.from_url(redis_service.url) as raw:
        store = RedisStateStore(raw, redis_prefix)
        await store.set("k", {"text": "é"})
        assert await store.get("k") == {"text": "é"}
        assert await store.append("l", "é", max_items=2) == ["é"]
        assert await store.items("l") == ["é"]
        assert await store.incr("c", ttl=5) == 1


async def test_redis_store_close_leaves_the_client_to_its_owner(
    redis_client: redis.asyncio.Redis, redis_prefix: str
) -> None:
    store = open_state(redis_client, redis_prefix)
    assert isinstance(store, RedisStateStore)
    await store.set("k", "v")
    await store.close()
    assert await redis_client.ping()
    assert await store.get("k") == "v"  # state outlives one instance's store
    assert isinstance(open_state(None), MemoryStateStore)


async def test_an_unreachable_redis_raises_rather_than_hangs(redis_prefix: str) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The lifecycle owns the client and its timeouts and retries; the store adds none.
    client = redis.asyncio.Redis(
        host="127.0.0.1", port=port, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
    )
    store = RedisStateStore(client, redis_prefix)
    try:
        calls: list[Callable[[], Awaitable[Any]]] = [
            lambda: store.get("k"),
            lambda: store.set("k", 1),
            lambda: store.incr("k", ttl=5),
            lambda: store.append("k", 1, max_items=2),
            lambda: store.items("k"),
            lambda: store.ttl("k"),
        ]
        for call in calls:
            with pytest.raises(RedisConnectionError):
                await asyncio.wait_for(call(), WAIT_BOUND)
    finally:
        await client.aclose()
