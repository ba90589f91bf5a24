"""Reporters turn a CheckResult into text for people, CI logs and code-scanning tools.

Each format is one module with a `render(result, comparison) -> str` function,
imported only when that format is asked for.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from netra_check.baseline import BaselineComparison
    from netra_check.engine import CheckResult
    from netra_check.model import Finding

FORMATS: dict[str, str] = {
    "text": "text",
    "json": "json_report",
    "sarif": "sarif",
    "markdown": "markdown",
    "github": "github",
    "html": "html",
}


class Render(Protocol):
    """The signature every reporter module's `render` has."""

    def __call__(self, result: CheckResult, comparison: BaselineComparison | None) -> str: ...


def render(name: str, result: CheckResult, comparison: BaselineComparison | None) -> str:
    """Render `result` in the named format."""
    module = importlib.import_module(f"netra_check.reporters.{FORMATS[name]}")
    function: Render = module.render
    return function(result, comparison)


def shown_findings(result: CheckResult, comparison: BaselineComparison | None) -> list[Finding]:
    """What to list: every finding, or only the new ones when comparing to a baseline."""
    return result.findings if comparison is None else comparison.new


def file_location(result: CheckResult, finding: Finding) -> tuple[str, int]:
    """A file and line for tools that need both (SARIF, GitHub annotations).

    A finding with a line is returned as is. One about a folder (NC010 event
    coverage) points at the first test file in that folder, else at
    `pyproject.toml`, on line 1.
    """
    if finding.line:
        return finding.path, finding.line
    import fnmatch

    root = result.root
    target = root / finding.path
    if target.is_file():
        return finding.path, 1
    if target.is_dir():
        patterns = result.config.test_file_patterns
        for path in sorted(target.rglob("*.py")):
            if any(fnmatch.fnmatch(path.name, p) for p in patterns):
                return path.relative_to(root).as_posix(), 1
    if (root / "pyproject.toml").is_file():
        return "pyproject.toml", 1
    return finding.path, 1


def shown_path(result: CheckResult, path: str) -> str:
    """A project-relative path as reports show it: relative to where the command ran.

    Like ruff, so that `path:line` opens from the shell it was printed in whatever
    the project root is (`tests/unit/x.py` run from the root, `unit/x.py` run from
    `tests/`, `packages/a/tests/x.py` run from a monorepo's root).
    """
    if result.base is None or result.base == result.root:
        return path
    return Path(os.path.relpath(result.root / path, result.base)).as_posix()


def location(result: CheckResult, finding: Finding) -> str:
    """`path:line` (or just the path) as reports show it."""
    path = shown_path(result, finding.path)
    return f"{path}:{finding.line}" if finding.line else path


def repository_root(root: Path) -> Path:
    """The git work tree holding `root` (SARIF paths resolve from it), else `root` itself."""
    for directory in (root, *root.parents):
        if (directory / ".git").exists():
            return directory
    return root
