"""Finding the files to scan and deciding what each one is, from paths alone."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from netra_check.config import ALWAYS_EXCLUDED_DIRS, CheckConfig
from netra_check.context import FileRole


class SourceFile(NamedTuple):
    """A Python file to scan: its path relative to the root (POSIX), absolute path, role."""

    rel: str
    path: str
    role: FileRole


def _glob_regex(patterns: Iterable[str], *, prefix_match: bool) -> re.Pattern[str] | None:
    """One regex for a list of globs over relative POSIX paths (`*` crosses `/`).

    `**/x/**` also matches `x/...` at the root; with `prefix_match` a plain
    `tests/fixtures` also matches everything below it.
    """
    parts: list[str] = []
    for raw in patterns:
        pattern = raw.strip().strip("/")
        if pattern.startswith("./"):
            pattern = pattern[2:]
        if not pattern:
            continue
        variants = [pattern]
        if pattern.startswith("**/"):
            variants.append(pattern[3:])
        if prefix_match:
            variants.extend([v + "/*" for v in variants])
        parts.extend(fnmatch.translate(v) for v in variants)
    if not parts:
        return None
    return re.compile("|".join(f"(?:{p})" for p in parts))


class Classifier:
    """Decides the role of a file from its relative path and the configuration."""

    def __init__(self, config: CheckConfig, root: Path | None = None) -> None:
        self.config = config
        # Scanning a folder that is itself inside `tests/` (no pyproject above it): all test code.
        self._root_is_test_dir = root is not None and root.name in ("tests", "test")
        self._tests = _glob_regex(config.test_file_patterns, prefix_match=False)
        self._support = _glob_regex(config.support_paths, prefix_match=False)
        self._exclude = _glob_regex(config.exclude, prefix_match=True)
        self._categories = sorted(
            ((name, folder.strip("/") + "/") for name, folder in config.categories.items()),
            key=lambda item: -len(item[1]),
        )
        self._scripts = tuple(p.strip("/") + "/" for p in config.script_paths)
        self._directories: dict[str, tuple[str | None, bool, bool]] = {}

    def excluded(self, rel: str) -> bool:
        """Whether a relative path (file or folder) matches an `exclude` glob."""
        return self._exclude is not None and self._exclude.match(rel) is not None

    def role(self, rel: str) -> FileRole:
        """The role of the file at a relative POSIX path."""
        directory, _, basename = rel.rpartition("/")
        category, in_test_dir, is_script = self._directory_facts(directory)
        is_test_file = self._tests is not None and self._tests.match(basename) is not None
        is_test_code = is_test_file or in_test_dir or basename == "conftest.py"
        is_support = is_test_code or (
            self._support is not None and self._support.match(rel) is not None
        )
        return FileRole(is_test_file, is_test_code, is_support, is_script, category)

    def _directory_facts(self, directory: str) -> tuple[str | None, bool, bool]:
        """(category, is test code, is a script folder) for every file in a folder; memoised."""
        facts = self._directories.get(directory)
        if facts is None:
            prefix = directory + "/" if directory else ""
            category = next(
                (name for name, folder in self._categories if prefix.startswith(folder)), None
            )
            in_test_dir = (
                self._root_is_test_dir
                or category is not None
                or any(part in ("tests", "test") for part in directory.split("/"))
            )
            facts = (category, in_test_dir, prefix.startswith(self._scripts))
            self._directories[directory] = facts
        return facts

    @cached_property
    def ci_regex(self) -> re.Pattern[str] | None:
        """The CI-file globs as one regex."""
        return _glob_regex(self.config.ci_files, prefix_match=False)


def _is_nested_project(directory: str, filenames: list[str]) -> bool:
    """A sub-folder with its own `[tool.netra.check]` is a separate project: skip it."""
    if "pyproject.toml" not in filenames:
        return False
    try:
        text = Path(directory, "pyproject.toml").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "[tool.netra.check]" in text


def discover(
    root: Path, config: CheckConfig, extra_paths: Iterable[str] = ()
) -> tuple[list[SourceFile], list[str]]:
    """The Python files under the configured (and extra) paths and the CI files, sorted."""
    root = root.resolve()
    classifier = Classifier(config, root)
    seen: set[str] = set()
    files: list[SourceFile] = []
    root_prefix = len(os.path.join(str(root), ""))
    for entry in dict.fromkeys((*config.paths, *extra_paths)):
        start = (root / entry).resolve() if entry not in (".", "") else root
        if start.is_file():
            rel = start.relative_to(root).as_posix()
            if rel.endswith(".py") and rel not in seen and not classifier.excluded(rel):
                seen.add(rel)
                role = classifier.role(rel)
                if role.needs_parse:
                    files.append(SourceFile(rel, str(start), role))
            continue
        for directory, dirnames, filenames in os.walk(start):
            # os.walk yields paths that start with `start`, which lies under the root.
            rel_dir = directory[root_prefix:].replace(os.sep, "/")
            rel_dir = rel_dir + "/" if rel_dir else ""
            if rel_dir and _is_nested_project(directory, filenames):
                dirnames[:] = []
                continue
            dirnames[:] = sorted(
                d
                for d in dirnames
                if d not in ALWAYS_EXCLUDED_DIRS
                and not d.startswith(".")
                and not d.endswith(".egg-info")
                and not classifier.excluded(rel_dir + d)
            )
            for name in filenames:
                if not name.endswith(".py"):
                    continue
                rel = rel_dir + name
                if rel in seen or classifier.excluded(rel):
                    continue
                seen.add(rel)
                role = classifier.role(rel)
                if role.needs_parse:
                    files.append(SourceFile(rel, os.path.join(directory, name), role))
    files.sort()
    return files, _ci_files(root, classifier)


def _ci_files(root: Path, classifier: Classifier) -> list[str]:
    regex = classifier.ci_regex
    if regex is None:
        return []
    found: set[str] = set()
    # CI files live in a few well-known places; look only there instead of walking the tree.
    for pattern in classifier.config.ci_files:
        for path in root.glob(pattern.replace("**/", "")):
            rel = path.relative_to(root).as_posix()
            if path.is_file() and regex.match(rel) and not classifier.excluded(rel):
                found.add(rel)
    return sorted(found)
