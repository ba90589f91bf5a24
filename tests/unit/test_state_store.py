"""netra.state.store: MemoryStateStore with TTLs on an injected clock, and ScopedState."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from netra.state.store import MemoryStateStore, ScopedState

if TYPE_CHECKING:
    from conftest import FakeClock


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
async def test_scopes_do_not_see_each_others_keys(store: MemoryStateStore) -> None:
    alice, bob = ScopedState(store, "user-alice"), ScopedState(store, "user-bob")
    await alice.set("notes", ["alice"])
    assert await bob.get("notes") is None
    await bob.set("notes", ["bob"])
    await bob.delete("notes")
    assert await alice.get("notes") == ["alice"]


async def test_scoped_keys_do_not_collide_with_unscoped_keys(store: MemoryStateStore) -> None:
    scoped = ScopedState(store, "user-alice")
    await store.set("notes", "global")
    assert await scoped.get("notes") is None
    await scoped.set("notes", "mine")
    assert await store.get("notes") == "global"


async def test_scope_prefix_cannot_be_forged_through_a_key(store: MemoryStateStore) -> None:
    # "a" + key "b:x" must not reach scope "a:b" key "x": that is why ':' is banned in scopes.
    await ScopedState(store, "a").set("b:x", "from a")
    assert await ScopedState(store, "b").get("x") is None
    with pytest.raises(ValueError, match="invalid state scope"):
        ScopedState(store, "a:b")


async def test_scoped_ttl_uses_the_store_clock(
    store: MemoryStateStore, fake_clock: FakeClock
) -> None:
    scoped = ScopedState(store, "user-alice")
    await scoped.set("k", "v", ttl=3)
    fake_clock.advance(3)
    assert await scoped.get("k") is None


@pytest.mark.parametrize("scope", ["", "user:alice", ":", "a:"])
def test_invalid_scope_is_rejected(store: MemoryStateStore, scope: str) -> None:
    with pytest.raises(ValueError, match="invalid state scope") as info:
        ScopedState(store, scope)
    assert repr(scope) in str(info.value)


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
