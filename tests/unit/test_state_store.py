"""netra.state: MemoryStateStore with TTLs on an injected clock, and ScopedState's rules.

The behaviour both engines share (memory and Redis) is tested on each in
tests/integration/test_state.py; here are the memory engine's own details, timed
to the millisecond on a fake clock, and the scope checks that need no store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from netra.ids import new_id
from netra.state.scopes import ScopedState
from netra.state.store import MemoryStateStore, StateTypeError

if TYPE_CHECKING:
    from netra.testing.clock import FakeClock


async def test_set_get_delete(store: MemoryStateStore) -> None:
    assert await store.get("k") is None
    await store.set("k", {"a": [1, 2]})
    assert await store.get("k") == {"a": [1, 2]}
    await store.delete("k")
    assert await store.get("k") is None


async def test_delete_missing_key_is_harmless(store: MemoryStateStore) -> None:
    await store.delete("never-set")
    assert await store.get("never-set") is None


async def test_falsy_values_are_stored(store: MemoryStateStore) -> None:
    await store.set("zero", 0)
    await store.set("empty", [])
    assert await store.get("zero") == 0
    assert await store.get("empty") == []


async def test_value_without_ttl_never_expires(
    store: MemoryStateStore, fake_clock: FakeClock
) -> None:
    await store.set("k", "v")
    fake_clock.advance(10**9)
    assert await store.get("k") == "v"


async def test_ttl_expires_exactly_at_the_deadline(
    store: MemoryStateStore, fake_clock: FakeClock
) -> None:
    await store.set("k", "v", ttl=10)
    fake_clock.advance(9.999)
    assert await store.get("k") == "v"
    fake_clock.advance(0.001)
    assert await store.get("k") is None


async def test_set_again_replaces_value_and_ttl(
    store: MemoryStateStore, fake_clock: FakeClock
) -> None:
    await store.set("k", "old", ttl=5)
    fake_clock.advance(4)
    await store.set("k", "new")  # no TTL any more
    fake_clock.advance(100)
    assert await store.get("k") == "new"


async def test_expired_key_can_be_set_again(store: MemoryStateStore, fake_clock: FakeClock) -> None:
    await store.set("k", "first", ttl=1)
    fake_clock.advance(2)
    assert await store.get("k") is None
    await store.set("k", "second", ttl=1)
    assert await store.get("k") == "second"


async def test_incr_counts_within_one_window(
    store: MemoryStateStore, fake_clock: FakeClock
) -> None:
    counts = []
    for _ in range(4):
        counts.append(await store.incr("login:alice", ttl=60))
        fake_clock.advance(10)
    assert counts == [1, 2, 3, 4]
    assert await store.get("login:alice") == 4


async def test_incr_window_starts_at_first_increment_and_is_not_extended(
    store: MemoryStateStore, fake_clock: FakeClock
) -> None:
    assert await store.incr("c", ttl=60) == 1
    fake_clock.advance(59)
    assert await store.incr("c", ttl=60) == 2  # does not push the deadline out
    fake_clock.advance(1)
    assert await store.get("c") is None
    assert await store.incr("c", ttl=60) == 1  # a fresh window
    fake_clock.advance(59.5)
    assert await store.incr("c", ttl=60) == 2


async def test_incr_keys_are_independent(store: MemoryStateStore) -> None:
    await store.incr("a", ttl=60)
    await store.incr("a", ttl=60)
    assert await store.incr("b", ttl=60) == 1


async def test_close_drops_everything(store: MemoryStateStore) -> None:
    await store.set("k", "v")
    await store.close()
    assert await store.get("k") is None


# -- ScopedState ------------------------------------------------------------------
ALICE, BOB = new_id("usr"), new_id("usr")


async def test_scopes_do_not_see_each_others_keys(store: MemoryStateStore) -> None:
    alice, bob = ScopedState(store, "user", ALICE), ScopedState(store, "user", BOB)
    await alice.set("notes", ["alice"])
    assert await bob.get("notes") is None
    await bob.set("notes", ["bob"])
    await bob.delete("notes")
    assert await alice.get("notes") == ["alice"]


async def test_scoped_keys_follow_the_documented_layout(store: MemoryStateStore) -> None:
    thread, run = new_id("thr"), new_id("run")
    user = ScopedState(store, "user", ALICE)
    await ScopedState(store, "global").set("k", "g")
    await user.set("k", "u")
    await user.scope("thread", thread).set("k", "t")
    await user.scope("thread", thread).scope("run", run).set("k", "tr")
    await user.scope("run", run).set("k", "r")
    assert [await store.get(key) for key in ("global/k", f"user:{ALICE}/k")] == ["g", "u"]
    assert await store.get(f"user:{ALICE}:thread:{thread}/k") == "t"
    assert await store.get(f"user:{ALICE}:thread:{thread}:run:{run}/k") == "tr"
    assert await store.get(f"user:{ALICE}:run:{run}/k") == "r"
    assert len(store) == 5


async def test_scoped_ttl_uses_the_store_clock(
    store: MemoryStateStore, fake_clock: FakeClock
) -> None:
    scoped = ScopedState(store, "user", ALICE)
    await scoped.set("k", "v", ttl=3)
    fake_clock.advance(3)
    assert await scoped.get("k") is None


async def test_a_default_ttl_applies_when_none_is_given(
    store: MemoryStateStore, fake_clock: FakeClock
) -> None:
    run = ScopedState(store, "user", ALICE).scope("run", new_id("run"), default_ttl=10)
    await run.set("default", 1)
    await run.set("own", 2, ttl=100)
    await run.append("list", "x", max_items=5)
    assert (await run.ttl("default"), await run.ttl("own"), await run.ttl("list")) == (10, 100, 10)
    fake_clock.advance(10)
    assert (await run.get("default"), await run.get("own"), await run.items("list")) == (
        None,
        2,
        [],
    )


@pytest.mark.parametrize(
    ("kind", "scope_id", "message"),
    [
        ("user", "", "a user scope needs a usr_ id, not ''"),
        ("user", None, "a user scope needs a usr_ id, not None"),
        ("user", f"{ALICE}:thread", "a user scope needs a usr_ id"),
        ("user", f"{ALICE}/x", "a user scope needs a usr_ id"),
        ("user", "usr_*", "a user scope needs a usr_ id"),
        ("user", new_id("thr"), "a user scope needs a usr_ id"),
        ("global", ALICE, "the global scope has no id"),
        ("thread", new_id("thr"), "start from 'global' or 'user'"),
        ("run", new_id("run"), "start from 'global' or 'user'"),
    ],
)
def test_invalid_scope_is_rejected(
    store: MemoryStateStore, kind: Any, scope_id: Any, message: str
) -> None:
    with pytest.raises(ValueError, match="invalid state scope") as info:
        ScopedState(store, kind, scope_id)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("outer", "kind", "scope_id", "message"),
    [
        ("user", "thread", new_id("run"), "a thread scope needs a thr_ id"),
        ("user", "run", f"{new_id('run')}:x", "a run scope needs a run_ id"),
        ("user", "user", BOB, "'user' inside a user scope; allowed: ['run', 'thread']"),
        ("global", "thread", new_id("thr"), "'thread' inside a global scope; allowed: none"),
        ("thread", "thread", new_id("thr"), "'thread' inside a thread scope; allowed: ['run']"),
        ("run", "run", new_id("run"), "'run' inside a run scope; allowed: none"),
    ],
)
def test_invalid_inner_scope_is_rejected(
    store: MemoryStateStore, outer: str, kind: Any, scope_id: str, message: str
) -> None:
    scope = {
        "global": ScopedState(store, "global"),
        "user": ScopedState(store, "user", ALICE),
        "thread": ScopedState(store, "user", ALICE).scope("thread", new_id("thr")),
        "run": ScopedState(store, "user", ALICE).scope("run", new_id("run")),
    }[outer]
    with pytest.raises(ValueError, match="invalid state scope") as info:
        scope.scope(kind, scope_id)
    assert message in str(info.value)


@pytest.mark.parametrize("key", ["", None, 3])
async def test_invalid_key_is_rejected(store: MemoryStateStore, key: Any) -> None:
    with pytest.raises(ValueError, match="invalid state key"):
        await ScopedState(store, "global").set(key, "v")
    assert len(store) == 0


async def test_a_decrement_never_creates_a_counter_or_goes_below_zero(
    store: MemoryStateStore,
) -> None:
    assert await store.incr("refund", ttl=60, amount=-1) == 0
    assert await store.get("refund") is None
    await store.incr("refund", ttl=60)
    assert await store.incr("refund", ttl=60, amount=-5) == 0
    assert await store.get("refund") == 0


async def test_expired_keys_are_swept_by_later_writes_without_being_read(
    store: MemoryStateStore, fake_clock: FakeClock
) -> None:
    for n in range(100):
        await store.incr(f"counter-{n}", ttl=10)
    await store.set("kept", "v")
    assert len(store) == 101
    fake_clock.advance(10)
    await store.incr("fresh", ttl=10)
    assert len(store) == 2  # "kept" (no TTL) and "fresh"
    assert await store.get("kept") == "v"


async def test_a_key_set_again_is_not_swept_at_its_old_deadline(
    store: MemoryStateStore, fake_clock: FakeClock
) -> None:
    await store.set("k", 1, ttl=10)
    fake_clock.advance(5)
    await store.set("k", 2, ttl=10)
    fake_clock.advance(5)
    await store.set("other", 0, ttl=1)  # sweeps k's first deadline, which is stale
    assert await store.get("k") == 2


# -- capped lists and TTLs ----------------------------------------------------------
async def test_append_keeps_the_newest_items_and_returns_them(store: MemoryStateStore) -> None:
    returned = [await store.append("l", n, max_items=3) for n in range(5)]
    assert returned == [[0], [0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4]]
    assert await store.items("l") == [2, 3, 4]
    assert await store.items("missing") == []


async def test_append_with_a_ttl_restarts_it_and_without_keeps_it(
    store: MemoryStateStore, fake_clock: FakeClock
) -> None:
    await store.append("l", "a", max_items=10, ttl=10)
    fake_clock.advance(6)
    await store.append("l", "b", max_items=10)  # the list still expires at t+10
    assert await store.ttl("l") == 4
    await store.append("l", "c", max_items=10, ttl=10)  # now at t+6+10
    fake_clock.advance(9.999)
    assert await store.items("l") == ["a", "b", "c"]
    fake_clock.advance(0.001)
    assert await store.items("l") == []
    assert await store.append("l", "d", max_items=10) == ["d"]
    assert await store.ttl("l") is None


async def test_ttl_counts_down_on_the_clock(store: MemoryStateStore, fake_clock: FakeClock) -> None:
    await store.set("k", "v", ttl=30)
    await store.set("forever", "v")
    fake_clock.advance(12.5)
    assert (await store.ttl("k"), await store.ttl("forever"), await store.ttl("none")) == (
        17.5,
        None,
        None,
    )


async def test_a_list_and_a_value_are_not_mistaken_for_each_other(
    store: MemoryStateStore,
) -> None:
    await store.append("list", 1, max_items=5)
    await store.set("value", "text")
    with pytest.raises(StateTypeError, match="'list' does not hold a single value"):
        await store.get("list")
    with pytest.raises(StateTypeError, match="'list' does not hold a counter"):
        await store.incr("list", ttl=10)
    with pytest.raises(StateTypeError, match="'value' does not hold a list"):
        await store.append("value", 1, max_items=5)
    with pytest.raises(StateTypeError, match="'value' does not hold a list"):
        await store.items("value")
    with pytest.raises(StateTypeError, match="'value' does not hold a counter"):
        await store.incr("value", ttl=10)
    assert (await store.items("list"), await store.get("value")) == ([1], "text")


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf"), True, "5"])
async def test_a_ttl_must_be_a_positive_number_of_seconds(
    store: MemoryStateStore, ttl: Any
) -> None:
    for write in (
        store.set("k", "v", ttl=ttl),
        store.incr("k", ttl=ttl),
        store.append("k", "v", max_items=1, ttl=ttl),
    ):
        with pytest.raises(ValueError, match="a state TTL must be a positive number of seconds"):
            await write
    assert len(store) == 0
