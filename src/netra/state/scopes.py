"""Scoped views of a state store: global, user, thread and run.

Every key a view touches is stored as `<scope path>/<key>`, the path naming the
scope and the scopes it sits in:

    global/<key>
    user:<usr_id>/<key>
    user:<usr_id>:thread:<thr_id>/<key>
    user:<usr_id>:thread:<thr_id>:run:<run_id>/<key>
    user:<usr_id>:run:<run_id>/<key>

Scope ids must be well-formed Netra ids of their kind (`usr_…`, `thr_…`,
`run_…`), so a path holds no `/` and the store key splits back into one path
and one key at its first `/`: whatever a key contains (`:`, `/`, `*`), it cannot
name a key of another scope. Thread and run scopes exist only inside their
user's scope, so a run's view cannot reach another user's keys even with
another user's thread id in hand.
"""

from __future__ import annotations

from typing import Any, Literal

from netra.ids import is_valid
from netra.state.store import StateStore, check_ttl

_ID_PREFIX = {"user": "usr", "thread": "thr", "run": "run"}
#: The scopes a scope may contain (a run may belong to a thread or stand alone).
_CHILDREN: dict[str, frozenset[str]] = {
    "user": frozenset({"thread", "run"}),
    "thread": frozenset({"run"}),
}


def _check_id(kind: str, scope_id: object) -> str:
    if isinstance(scope_id, str) and is_valid(scope_id, _ID_PREFIX[kind]):
        return scope_id
    raise ValueError(
        f"invalid state scope: a {kind} scope needs a {_ID_PREFIX[kind]}_ id, not {scope_id!r}"
    )


class ScopedState:
    """A view of a StateStore confined to one scope's keys: `ScopedState(store,
    "global")`, `ScopedState(store, "user", user_id)`, and inside a user scope
    `.scope("thread", thread_id)` and `.scope("run", run_id)`.

    A `default_ttl` (seconds) applies to `set` and `append` calls that give none,
    for scopes whose keys should not outlive what they describe (a run).
    """

    def __init__(
        self,
        store: StateStore,
        kind: Literal["global", "user"],
        scope_id: str | None = None,
        *,
        default_ttl: float | None = None,
    ) -> None:
        if kind == "global":
            if scope_id is not None:
                raise ValueError(
                    f"invalid state scope: the global scope has no id, not {scope_id!r}"
                )
            path = "global"
        elif kind == "user":
            path = f"user:{_check_id(kind, scope_id)}"
        else:
            raise ValueError(
                f"invalid state scope {kind!r}: start from 'global' or 'user'; thread and "
                "run scopes are made inside a user scope with .scope()"
            )
        self._bind(store, kind, path, default_ttl)

    def _bind(self, store: StateStore, kind: str, path: str, default_ttl: float | None) -> None:
        self._store = store
        self._kind = kind
        self._path = path
        self._default_ttl = None if default_ttl is None else check_ttl(default_ttl)

    @property
    def path(self) -> str:
        """The scope's place in the store, e.g. `user:usr_…:thread:thr_…`."""
        return self._path

    def scope(
        self,
        kind: Literal["thread", "run"],
        scope_id: str,
        *,
        default_ttl: float | None = None,
    ) -> ScopedState:
        """The view of a thread or run scope inside this one."""
        if kind not in _CHILDREN.get(self._kind, frozenset()):
            raise ValueError(
                f"invalid state scope {kind!r} inside a {self._kind} scope; allowed: "
                f"{sorted(_CHILDREN.get(self._kind, ())) or 'none'}"
            )
        path = f"{self._path}:{kind}:{_check_id(kind, scope_id)}"
        child = ScopedState.__new__(ScopedState)
        child._bind(self._store, kind, path, default_ttl)
        return child

    def __repr__(self) -> str:
        return f"ScopedState({self._path!r})"

    def _key(self, key: str) -> str:
        if not isinstance(key, str) or not key:
            raise ValueError(f"invalid state key {key!r}: a key is a non-empty string")
        return f"{self._path}/{key}"

    async def get(self, key: str) -> Any | None:
        """The value under `key`, or None."""
        return await self._store.get(self._key(key))

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store a JSON-able value, replacing the key's value and TTL."""
        await self._store.set(self._key(key), value, self._default_ttl if ttl is None else ttl)

    async def delete(self, key: str) -> None:
        """Forget `key` (a value or a list); harmless when it is missing."""
        await self._store.delete(self._key(key))

    async def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        """Add `amount` to a counter atomically and return it; see StateStore.incr."""
        return await self._store.incr(self._key(key), ttl, amount)

    async def append(
        self, key: str, value: Any, max_items: int, ttl: float | None = None
    ) -> list[Any]:
        """Append to a capped list atomically and return the list; see StateStore.append."""
        ttl = self._default_ttl if ttl is None else ttl
        return await self._store.append(self._key(key), value, max_items, ttl)

    async def items(self, key: str) -> list[Any]:
        """A list's items, oldest first ([] when there is none)."""
        return await self._store.items(self._key(key))

    async def ttl(self, key: str) -> float | None:
        """Seconds until `key` expires; None when it is missing or never expires."""
        return await self._store.ttl(self._key(key))
