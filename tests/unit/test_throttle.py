"""netra.auth.throttle on the memory state store, and netra.quotas.PerUserQuota."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from netra.auth.throttle import CLIENT_FACTOR, LoginThrottle, RegistrationThrottle
from netra.errors import AppError
from netra.quotas import PerUserQuota
from netra.state.store import MemoryStateStore

if TYPE_CHECKING:
    from netra.testing.clock import FakeClock

MAX, WINDOW, DELAY = 5, 300, 2.0


@pytest.fixture
def logins(store: MemoryStateStore) -> LoginThrottle:
    return LoginThrottle(store, MAX, WINDOW, DELAY)


async def fail(logins: LoginThrottle, client: str, email: str) -> None:
    await logins.admit(client, email)
    await logins.failed(client, email)


async def refused(logins: LoginThrottle, client: str, email: str) -> AppError:
    with pytest.raises(AppError) as caught:
        await logins.admit(client, email)
    assert (caught.value.status, caught.value.code) == (429, "too_many_attempts")
    assert caught.value.headers == {"Retry-After": str(WINDOW)}
    return caught.value


async def test_one_client_is_stopped_on_one_account_but_the_owner_elsewhere_is_not(
    logins: LoginThrottle,
) -> None:
    for _ in range(MAX):
        await fail(logins, "attacker", "ada@example.com")
    await refused(logins, "attacker", "ada@example.com")
    # The owner's client is admitted: slowed (the account is being guessed), never refused.
    assert await logins.admit("owner", "ada@example.com") == DELAY / 8
    await logins.succeeded("owner", "ada@example.com")


async def test_one_client_is_stopped_across_accounts(logins: LoginThrottle) -> None:
    for n in range(CLIENT_FACTOR * MAX):
        await fail(logins, "sprayer", f"user{n}@example.com")
    await refused(logins, "sprayer", "fresh@example.com")
    assert await logins.admit("someone-else", "fresh@example.com") == 0.0


async def test_a_spree_over_many_clients_slows_the_account_down_up_to_a_cap(
    logins: LoginThrottle,
) -> None:
    delays = []
    for n in range(MAX + 6):
        delays.append(await logins.admit(f"client-{n}", "target@example.com"))
        await logins.failed(f"client-{n}", "target@example.com")
    assert delays[:MAX] == [0.0] * MAX
    assert delays[MAX:] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert await logins.admit("owner", "target@example.com") == DELAY  # slowed, not locked


async def test_throttled_attempts_create_nothing_and_counters_expire(
    logins: LoginThrottle, store: MemoryStateStore, fake_clock: FakeClock
) -> None:
    for n in range(CLIENT_FACTOR * MAX):
        await fail(logins, "sprayer", f"user{n}@example.com")
    held = len(store)
    for n in range(2_000):
        await refused(logins, "sprayer", f"new{n}@example.com")
    assert len(store) == held
    fake_clock.advance(WINDOW)
    await logins.admit("later", "x@example.com")  # any write sweeps what expired
    assert len(store) == 2  # this attempt's pair and client counters only


async def test_a_success_clears_the_pair_and_gives_back_the_attempt(
    logins: LoginThrottle,
) -> None:
    for _ in range(2):
        for _ in range(MAX - 1):
            await fail(logins, "typo", "me@example.com")
        await logins.admit("typo", "me@example.com")
        await logins.succeeded("typo", "me@example.com")


async def test_registrations_are_limited_per_client_per_hour(
    store: MemoryStateStore, fake_clock: FakeClock
) -> None:
    registrations = RegistrationThrottle(store, 3)
    for _ in range(3):
        await registrations.admit("office")
    with pytest.raises(AppError) as caught:
        await registrations.admit("office")
    assert (caught.value.status, caught.value.code) == (429, "too_many_registrations")
    assert caught.value.headers == {"Retry-After": "3600"}
    await registrations.admit("home")
    fake_clock.advance(3600)
    await registrations.admit("office")


def test_per_user_quota_holds_at_most_the_limit_and_forgets_idle_users() -> None:
    quota = PerUserQuota(2)
    assert [quota.acquire("u"), quota.acquire("u"), quota.acquire("u")] == [True, True, False]
    assert quota.acquire("v")
    quota.release("u")
    assert quota.acquire("u")
    for _ in range(2):
        quota.release("u")
    quota.release("v")
    assert (quota.held("u"), quota.held("v"), len(quota._held)) == (0, 0, 0)
