"""Build hook: put the `netra_check` package into the wheel and the sdist of `netra-check`.

The package's source lives once, in the repository's `src/netra_check/` (two folders up);
an sdist carries a copy in its own `src/netra_check/`, so a wheel builds from either.
Only `.py` and `py.typed` files are taken: no caches, no other package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class PackageFromRepository(BuildHookInterface):  # type: ignore[type-arg]
    """Adds the package's files by path, from the repository or from an unpacked sdist."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        here = Path(self.root)
        candidates = (here / "src" / "netra_check", here.parent.parent / "src" / "netra_check")
        source = next((c for c in candidates if (c / "__init__.py").is_file()), None)
        if source is None:
            raise FileNotFoundError(
                "netra-check: the netra_check package was not found in "
                + " or ".join(str(c) for c in candidates)
            )
        prefix = "src/netra_check" if self.target_name == "sdist" else "netra_check"
        files = [p for p in source.rglob("*") if p.suffix == ".py" or p.name == "py.typed"]
        for path in sorted(files):
            if "__pycache__" in path.parts:
                continue
            target = f"{prefix}/{path.relative_to(source).as_posix()}"
            build_data["force_include"][str(path)] = target
