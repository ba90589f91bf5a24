"""The per-project result cache: one pickle file, keyed by content hash.

An entry is reused without reading the file when its size and mtime are
unchanged, and after reading it when its content hash is unchanged (a fresh
checkout touches every mtime but changes nothing). Everything that can change
a per-file result (configuration, the checker's own code, the Python version)
is folded into the cache key; a different key starts from empty.

Writes go to a temporary file in the same folder and are renamed into place,
so concurrent runs never see a half-written cache: the last one to finish wins,
and any complete cache is correct.

The cache sits inside the checked repository, so a hostile repository could
ship one. Loading goes through an unpickler that resolves only this package's
own value classes and a few builtin containers, so a planted file can at worst
be rejected, never run code.
"""

from __future__ import annotations

import gc
import os
import pickle
import sys
from pathlib import Path
from typing import Any, NamedTuple

from netra_check.model import FileResult, blake2b

FORMAT_VERSION = 1
_PACKAGE = "netra_check"
_SAFE_BUILTINS = frozenset({"frozenset", "set", "list", "dict", "tuple"})


class _RestrictedUnpickler(pickle.Unpickler):
    """Only this package's classes and plain containers may appear in a cache file."""

    def find_class(self, module: str, name: str) -> Any:
        if (module == "builtins" and name in _SAFE_BUILTINS) or (
            (module == _PACKAGE or module.startswith(_PACKAGE + "."))
            and not name.startswith("_")
            and isinstance(getattr(sys.modules.get(module), name, None), type)
        ):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a netra check cache")


class CacheEntry(NamedTuple):
    """What is known about one file from an earlier run."""

    mtime_ns: int
    size: int
    digest: str
    result: FileResult


def content_digest(data: bytes) -> str:
    """The content hash that keys a cache entry."""
    return blake2b(data, digest_size=16).hexdigest()


def code_version() -> str:
    """A fingerprint of the checker's own source, so editing a rule invalidates the cache."""
    package = Path(__file__).parent
    digest = blake2b(digest_size=8)
    digest.update(f"{FORMAT_VERSION}:{sys.version_info[:2]}".encode())
    for path in sorted(package.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


class ResultCache:
    """Load once, update in memory, save once."""

    def __init__(self, directory: Path | None, key: str) -> None:
        self.directory = directory
        self.key = key
        self.entries: dict[str, CacheEntry] = {}
        self.dirty = False

    @property
    def path(self) -> Path | None:
        """The cache file, or None when caching is off."""
        return None if self.directory is None else self.directory / "results.pickle"

    def load(self) -> None:
        """Read the cache file; a missing, foreign or corrupt file is treated as empty."""
        path = self.path
        if path is None:
            return
        # The cache holds tens of thousands of small objects and none of them is in a
        # reference cycle: the collector would only rescan them, again and again while
        # they are being made (on pandas' tests it tripled the time to load).
        enabled = gc.isenabled()
        gc.disable()
        try:
            with path.open("rb") as handle:
                stored = _RestrictedUnpickler(handle).load()
        except (
            OSError,
            EOFError,
            pickle.UnpicklingError,
            AttributeError,
            ImportError,
            TypeError,
            ValueError,
        ):
            return
        finally:
            if enabled:
                gc.enable()
        if isinstance(stored, dict) and stored.get("key") == self.key:
            entries = stored.get("entries")
            if isinstance(entries, dict):
                self.entries = entries

    def put(self, rel: str, entry: CacheEntry) -> None:
        """Record a fresh result."""
        self.entries[rel] = entry
        self.dirty = True

    def prune(self, keep: set[str]) -> None:
        """Forget files that no longer exist."""
        stale = [rel for rel in self.entries if rel not in keep]
        for rel in stale:
            del self.entries[rel]
        self.dirty = self.dirty or bool(stale)

    def save(self) -> None:
        """Write atomically; failures (read-only checkout...) are ignored: the cache is optional."""
        path = self.path
        if path is None or not self.dirty:
            return
        import tempfile

        try:
            if not path.parent.exists():
                path.parent.mkdir(parents=True)
                # Only a folder the cache made itself may ignore everything in it: an
                # existing folder (`cache_dir = "tests"`) must not vanish from git.
                (path.parent / ".gitignore").write_text("*\n", encoding="utf-8")
            fd, tmp = tempfile.mkstemp(prefix=".results-", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    pickle.dump(
                        {"key": self.key, "entries": self.entries},
                        handle,
                        protocol=pickle.HIGHEST_PROTOCOL,
                    )
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            return
        self.dirty = False
