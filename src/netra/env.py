"""IsolatedEnvironment: the only module in Netra that reads `os.environ`.

Everything else receives an `IsolatedEnvironment` and asks it for values.
Tests push overlays on top of the process environment and pop them again, so
one test's variables never leak into the next; every write is recorded so a
test can see which keys it changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


def _read_dotenv(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines; blank lines, comments and `export ` prefixes are allowed."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


class IsolatedEnvironment:
    """A layered view of environment variables.

    Lookups go through the overlays (newest first), then the base mapping
    (the process environment unless another is given), then an optional
    `.env` file. Overlays never write to the base mapping.
    """

    def __init__(
        self, base: Mapping[str, str] | None = None, *, dotenv: Path | None = None
    ) -> None:
        self._base: Mapping[str, str] = os.environ if base is None else base
        self._dotenv = _read_dotenv(dotenv) if dotenv is not None and dotenv.is_file() else {}
        # Each overlay maps key -> value, or key -> None for a key removed in that layer.
        self._overlays: list[dict[str, str | None]] = []
        self._changed: set[str] = set()

    def get(self, key: str, default: str | None = None) -> str | None:
        for layer in reversed(self._overlays):
            if key in layer:
                value = layer[key]
                return default if value is None else value
        if key in self._base:
            return self._base[key]
        return self._dotenv.get(key, default)

    def __getitem__(self, key: str) -> str:
        """The value of `key`, or KeyError when it is unset, as `os.environ[key]`."""
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def as_dict(self) -> dict[str, str]:
        """The effective environment, all layers applied."""
        merged: dict[str, str | None] = {**self._dotenv, **self._base}
        for layer in self._overlays:
            merged.update(layer)
        return {k: v for k, v in merged.items() if v is not None}

    def with_prefix(self, prefix: str) -> dict[str, str]:
        """Effective variables whose name starts with `prefix` (case-sensitive)."""
        return {k: v for k, v in self.as_dict().items() if k.startswith(prefix)}

    # -- overlays -----------------------------------------------------------
    def push(self, values: Mapping[str, str | None] | None = None) -> None:
        """Start a new overlay; `None` as a value hides that key."""
        self._overlays.append(dict(values or {}))
        self._changed.update(values or {})

    def pop(self) -> None:
        if not self._overlays:
            raise RuntimeError("IsolatedEnvironment.pop() without a matching push()")
        self._overlays.pop()

    @contextmanager
    def overlay(self, values: Mapping[str, str | None] | None = None) -> Iterator[None]:
        """Apply `values` for the duration of a `with` block.

        On exit the environment is back to what it was, also when the block pushed
        overlays of its own and never popped them.
        """
        depth = len(self._overlays)
        self.push(values)
        try:
            yield
        finally:
            del self._overlays[depth:]

    def set(self, key: str, value: str | None) -> None:
        """Set (or with None, hide) a key in the newest overlay."""
        if not self._overlays:
            raise RuntimeError("IsolatedEnvironment.set() needs an overlay; call push() first")
        self._overlays[-1][key] = value
        self._changed.add(key)

    @property
    def depth(self) -> int:
        return len(self._overlays)

    @property
    def changed_keys(self) -> frozenset[str]:
        """Every key set or hidden through an overlay since this object was made."""
        return frozenset(self._changed)


def process_environment(dotenv: Path | None = None) -> IsolatedEnvironment:
    """An environment backed by this process's variables and an optional `.env` file."""
    return IsolatedEnvironment(os.environ, dotenv=dotenv)
