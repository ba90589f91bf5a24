"""Throttles for logins and registrations, counted on the state store.

Failed logins are counted three ways, so that an attacker cannot lock the owner out:

- per (client, account): a hard limit, `max_failures` per window. Stops one client
  guessing one account; the owner on another client is not affected.
- per client: a hard limit, `4 * max_failures` per window (one address may be a NAT).
  Stops one client guessing many accounts.
- per account, across clients: no limit, a slowdown. After `max_failures` failures,
  every attempt on the account waits, doubling up to `max_delay`; the owner still
  gets in with the right password, only later.

A throttled attempt is refused before anything is counted for it, so it creates
no key; each key expires with its window. The counters are the state store's atomic
`incr`, in its global scope, so instances sharing a Redis count together and
concurrent attempts cannot slip under a limit.
"""

from __future__ import annotations

from netra.errors import AppError
from netra.state.scopes import ScopedState
from netra.state.store import StateStore

#: Failures per window allowed per client address, as a multiple of the per-account limit.
CLIENT_FACTOR = 4
#: Longest wait, in seconds, imposed on an attempt at an account under attack.
MAX_DELAY = 2.0


def _too_many(message: str, retry_after: int) -> AppError:
    return AppError(429, "too_many_attempts", message, {"Retry-After": str(retry_after)})


class LoginThrottle:
    """Counts failed logins; see the module docstring for the rules."""

    def __init__(
        self, state: StateStore, max_failures: int, window: int, max_delay: float = MAX_DELAY
    ) -> None:
        self._state = ScopedState(state, "global")
        self._max = max_failures
        self._window = window
        self._max_delay = max_delay

    def _keys(self, client: str, email: str) -> tuple[str, str, str]:
        return (
            f"login-failures:pair:{client}:{email}",
            f"login-failures:client:{client}",
            f"login-failures:account:{email}",
        )

    async def admit(self, client: str, email: str) -> float:
        """Count the attempt as a failure until it succeeds (so concurrent guesses can't
        all slip under a limit); 429 if it is over a hard limit. Returns the seconds
        the attempt must wait first (the account's slowdown)."""
        pair, per_client, account = self._keys(client, email)
        over = _too_many(
            f"too many failed logins from this address; try again in {self._window} seconds",
            self._window,
        )
        if await self._state.incr(per_client, ttl=self._window) > CLIENT_FACTOR * self._max:
            await self._state.incr(per_client, ttl=self._window, amount=-1)
            raise over
        if await self._state.incr(pair, ttl=self._window) > self._max:
            await self._state.incr(pair, ttl=self._window, amount=-1)
            await self._state.incr(per_client, ttl=self._window, amount=-1)
            raise over
        return self.delay(await self._state.incr(account, ttl=self._window, amount=0))

    def delay(self, account_failures: int) -> float:
        """The wait before an attempt at an account with this many recent failures."""
        excess = account_failures - self._max
        if excess < 0:
            return 0.0
        return min(self._max_delay, self._max_delay / 8 * 2.0**excess)

    async def failed(self, client: str, email: str) -> None:
        await self._state.incr(self._keys(client, email)[2], ttl=self._window)

    async def succeeded(self, client: str, email: str) -> None:
        pair, per_client, _ = self._keys(client, email)
        await self._state.delete(pair)
        await self._state.incr(per_client, ttl=self._window, amount=-1)


class RegistrationThrottle:
    """At most `per_hour` registrations per client address an hour; the rest get 429."""

    WINDOW = 3600

    def __init__(self, state: StateStore, per_hour: int) -> None:
        self._state = ScopedState(state, "global")
        self._per_hour = per_hour

    async def admit(self, client: str) -> None:
        key = f"registrations:client:{client}"
        if await self._state.incr(key, ttl=self.WINDOW) > self._per_hour:
            await self._state.incr(key, ttl=self.WINDOW, amount=-1)
            raise AppError(
                429,
                "too_many_registrations",
                "too many accounts created from this address; try again within the hour",
                {"Retry-After": str(self.WINDOW)},
            )
