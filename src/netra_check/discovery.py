"""Finding the files to scan and deciding what each one is, from paths alone.

Test modules are the ones pytest would collect when run with no arguments in the
project root: below `testpaths` (all of the root when unset), not in a folder
matching `norecursedirs`, not ignored by `--ignore`/`--ignore-glob` in `addopts` or
by a conftest's `collect_ignore`/`collect_ignore_glob`, and matching `python_files`.
"""

from __future__ import annotations

import ast
import fnmatch
import glob
import os
import re
from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from netra_check.config import ALWAYS_EXCLUDED_DIRS, CheckConfig
from netra_check.context import FileRole
from netra_check.pytest_config import DEFAULT_NORECURSEDIRS, path_matcher


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


_OWN_PYTEST_FILES = ("pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml")


class Classifier:
    """Decides the role of a file from its relative path and the configuration."""

    def __init__(self, config: CheckConfig, root: Path | None = None) -> None:
        self.config = config
        self.root = (root or Path(".")).resolve()
        self._root_posix = self.root.as_posix().rstrip("/")
        # Scanning a folder that is itself inside `tests/` (no project above it): all test code.
        self._root_is_test_dir = root is not None and root.name in ("tests", "test")
        self._python_file = path_matcher(config.python_files)
        self._support = _glob_regex(config.support_paths, prefix_match=False)
        self._exclude = _glob_regex(config.exclude, prefix_match=True)
        self._categories = sorted(
            ((name, folder.strip("/") + "/") for name, folder in config.categories.items()),
            key=lambda item: -len(item[1]),
        )
        self._scripts = tuple(p.strip("/") + "/" for p in config.script_paths)
        self._directories: dict[str, tuple[str | None, bool, bool, bool]] = {}
        self._norecurse = path_matcher(config.pytest.get("norecursedirs", DEFAULT_NORECURSEDIRS))
        self._reached: dict[str, bool] = {}
        self._pytest_files = frozenset(config.collected) if config.collected else None
        self._starts = self._testpaths()
        self._ignored: set[str] = set()
        self._ignore_globs: list[str] = []
        for path in config.pytest.get("ignore", ()):
            self._ignored.add(self._absolute(path))
        for pattern in config.pytest.get("ignore_glob", ()):
            self._ignore_globs.append(self._absolute(pattern))

    def _absolute(self, path: str) -> str:
        return os.path.normpath(os.path.join(self._root_posix, path)).replace(os.sep, "/")

    def _testpaths(self) -> tuple[str, ...]:
        """Relative folders pytest starts collecting from: `testpaths` (globbed), else the root."""
        found: list[str] = []
        for pattern in self.config.pytest.get("testpaths", ()):
            for match in sorted(glob.glob(pattern, root_dir=self.root, recursive=True)):
                rel = Path(os.path.normpath(match)).as_posix()
                found.append("" if rel == "." else rel + "/")
        return tuple(found) or ("",)

    def excluded(self, rel: str) -> bool:
        """Whether a relative path (file or folder) matches an `exclude` glob."""
        return self._exclude is not None and self._exclude.match(rel) is not None

    def read_conftest(self, rel_dir: str, path: str) -> None:
        """Adds a conftest's `collect_ignore` and `collect_ignore_glob` (relative to its folder)."""
        names, globs = conftest_ignores(path)
        base = self._root_posix + "/" + rel_dir
        self._ignored.update(os.path.normpath(base + n).replace(os.sep, "/") for n in names)
        self._ignore_globs.extend(base + g for g in globs)

    def collected(self, rel: str) -> bool:
        """Whether pytest would reach this file from its starting folders.

        pytest tests every folder on the way (and the file) against the ignore lists,
        and every folder below the starting one against `norecursedirs`.
        """
        directory = rel.rpartition("/")[0]
        return self._reaches(directory) and not self._ignores(self._root_posix + "/" + rel)

    def _ignores(self, path: str) -> bool:
        return path in self._ignored or any(fnmatch.fnmatch(path, g) for g in self._ignore_globs)

    def _reaches(self, directory: str) -> bool:
        """Whether pytest recurses into a folder (relative POSIX path, "" for the root)."""
        reached = self._reached.get(directory)
        if reached is None:
            if (directory + "/" if directory else "") in self._starts:
                reached = True  # a starting folder itself
            elif not directory or not any(directory.startswith(s) for s in self._starts):
                reached = False  # above or beside every starting folder
            else:
                path = self._root_posix + "/" + directory
                reached = (
                    self._reaches(directory.rpartition("/")[0])
                    and not self._ignores(path)
                    and not self._norecurse(path)
                )
            self._reached[directory] = reached
        return reached

    def role(self, rel: str) -> FileRole:
        """The role of the file at a relative POSIX path."""
        directory, _, basename = rel.rpartition("/")
        category, in_test_dir, is_script, separate = self._directory_facts(directory)
        absolute = self._root_posix + "/" + rel
        if self._pytest_files is not None:  # pytest itself said which files it collects
            collected = is_test_file = rel in self._pytest_files
        else:
            collected = self.collected(rel)
            is_test_file = (
                collected
                and basename not in ("conftest.py", "__init__.py")
                and self._python_file(absolute)
            )
        is_test_code = (
            is_test_file
            or (collected and in_test_dir and not separate)
            or basename == "conftest.py"
        )
        is_support = (
            is_test_code
            or in_test_dir
            or (self._support is not None and self._support.match(rel) is not None)
        )
        return FileRole(is_test_file, is_test_code, is_support, is_script, category)

    def _directory_facts(self, directory: str) -> tuple[str | None, bool, bool, bool]:
        """(category, is test code, is a script folder, has a pytest.ini of its own); memoised.

        A folder below the root with its own `pytest.ini` or `pytest.toml` (pytest's
        `testing/plugins_integration`) is run by pytest on its own, on files named on
        its command line: only its modules matching `python_files` count as tests.
        """
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
                or directory.split("/")[0] == "testing"  # pytest's own layout
            )
            separate = bool(directory) and (
                any(
                    os.path.isfile(f"{self._root_posix}/{directory}/{name}")
                    for name in _OWN_PYTEST_FILES
                )
                or self._directory_facts(directory.rpartition("/")[0])[3]
            )
            facts = (category, in_test_dir, prefix.startswith(self._scripts), separate)
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
    root: Path,
    config: CheckConfig,
    extra_paths: Iterable[str] = (),
    *,
    walk: Iterable[str] | None = None,
) -> tuple[list[SourceFile], list[str]]:
    """The Python files under the configured (and extra) paths and the CI files, sorted.

    With `walk` (relative paths), only those are walked instead, together with the files
    directly in each folder between the root and them (their conftests and helpers): the
    root is then not a project, only the common folder of the paths and the current
    folder, and its other folders are none of the run's business.
    """
    root = root.resolve()
    classifier = Classifier(config, root)
    seen: set[str] = set()
    files: list[SourceFile] = []
    root_prefix = len(os.path.join(str(root), ""))

    def add(rel: str, path: str) -> None:
        if rel in seen or classifier.excluded(rel):
            return
        seen.add(rel)
        role = classifier.role(rel)
        if role.needs_parse:
            files.append(SourceFile(rel, path, role))

    entries = list(dict.fromkeys((*config.paths, *extra_paths) if walk is None else walk))
    if walk is not None:
        for folder in _folders_above(entries):
            _add_folder_files(root, folder, classifier, add)
    for entry in entries:
        start = (root / entry).resolve() if entry not in (".", "") else root
        if start.is_file():
            rel = start.relative_to(root).as_posix()
            if rel.endswith(".py"):
                add(rel, str(start))
            continue
        for directory, dirnames, filenames in os.walk(start):
            # os.walk yields paths that start with `start`, which lies under the root.
            rel_dir = directory[root_prefix:].replace(os.sep, "/")
            rel_dir = rel_dir + "/" if rel_dir else ""
            if rel_dir and _is_nested_project(directory, filenames):
                dirnames[:] = []
                continue
            if "conftest.py" in filenames:
                classifier.read_conftest(rel_dir, os.path.join(directory, "conftest.py"))
            dirnames[:] = sorted(
                d
                for d in dirnames
                if d not in ALWAYS_EXCLUDED_DIRS
                and not d.startswith(".")
                and not d.endswith(".egg-info")
                and not classifier.excluded(rel_dir + d)
            )
            for name in filenames:
                if name.endswith(".py"):
                    add(rel_dir + name, os.path.join(directory, name))
    files.sort()
    ci_files = _ci_files(root, classifier)
    if walk is not None:
        ci_files = [rel for rel in ci_files if any(_within(rel, entry) for entry in entries)]
    return files, ci_files


class ModuleFinder:
    """The project's own modules that scanned code imports, to index them (see
    `FileRole.is_imported`): a module name is looked for under the root, `src/` and `lib/`
    (`a.b` is `a/b.py` or `a/b/__init__.py`), never in a skipped or excluded folder or a
    nested project. A file that discovery would have given a role (it was outside the
    paths walked) keeps that role, so its cached result is the same either way. With
    `walk` (a root no project marks, see `discover`), only modules inside those paths
    count: the root's other folders are none of the run's business."""

    def __init__(
        self,
        root: Path,
        config: CheckConfig,
        classifier: Classifier | None = None,
        *,
        walk: Iterable[str] | None = None,
    ):
        self.root = root.resolve()
        self.classifier = classifier or Classifier(config, self.root)
        self._walk = None if walk is None else tuple(walk)
        self._folders: dict[str, bool] = {}
        self._found: dict[str, str | None] = {}

    def source(self, module: str) -> SourceFile | None:
        """The file of a module with its role: the one discovery would give it, else
        `is_imported` (a production module)."""
        rel = self.find(module)
        if rel is None:
            return None
        role = self.classifier.role(rel)
        if not role.needs_parse:
            role = FileRole(False, False, False, False, None, is_imported=True)
        return SourceFile(rel, str(self.root / rel), role)

    def find(self, module: str) -> str | None:
        """The file of a module of the project (relative path), if it may be read."""
        found = self._found.get(module, "")
        if found == "":
            found = self._found[module] = self._find(module)
        return found

    def _find(self, module: str) -> str | None:
        parts = module.split(".")
        if not all(part.isidentifier() for part in parts):
            return None
        tail = "/".join(parts)
        for base in ("", "src/", "lib/"):
            for rel in (f"{base}{tail}.py", f"{base}{tail}/__init__.py"):
                if os.path.isfile(self.root / rel):
                    return rel if self._allowed(rel) else None
        return None

    def _allowed(self, rel: str) -> bool:
        if self.classifier.excluded(rel):
            return False
        if self._walk is not None and not any(_within(rel, entry) for entry in self._walk):
            return False
        folder = ""
        for part in rel.split("/")[:-1]:
            folder = f"{folder}/{part}" if folder else part
            allowed = self._folders.get(folder)
            if allowed is None:
                allowed = (
                    part not in ALWAYS_EXCLUDED_DIRS
                    and not part.startswith(".")
                    and not part.endswith(".egg-info")
                    and not self.classifier.excluded(folder)
                    and not _is_nested_project(str(self.root / folder), ["pyproject.toml"])
                )
                self._folders[folder] = allowed
            if not allowed:
                return False
        return True


def _within(rel: str, entry: str) -> bool:
    entry = entry.strip("/")
    return entry in ("", ".") or rel == entry or rel.startswith(entry + "/")


def _folders_above(entries: Iterable[str]) -> list[str]:
    """The folders from the root down to each entry, not the entry itself ("" is the root;
    a file's own folder is included), each once, parents first."""
    found: dict[str, None] = {}
    for entry in entries:
        parts = [p for p in entry.strip("/").split("/") if p not in ("", ".")]
        for depth in range(len(parts)):
            found.setdefault("/".join(parts[:depth]), None)
    return sorted(found, key=lambda folder: (folder.count("/"), folder))


def _add_folder_files(
    root: Path, folder: str, classifier: Classifier, add: Callable[[str, str], None]
) -> None:
    """The Python files directly in one folder (not below it): its conftest first, whose
    `collect_ignore` applies to what is walked below. Not its test modules: pytest neither
    collects nor imports them when it is given a path below."""
    directory = os.path.join(root, folder) if folder else str(root)
    try:
        names = sorted(
            entry.name
            for entry in os.scandir(directory)
            if entry.name.endswith(".py") and entry.is_file()
        )
    except OSError:
        return
    rel_dir = folder + "/" if folder else ""
    if "conftest.py" in names:
        classifier.read_conftest(rel_dir, os.path.join(directory, "conftest.py"))
    for name in names:
        rel = rel_dir + name
        if name == "conftest.py" or not classifier.role(rel).is_test_file:
            add(rel, os.path.join(directory, name))


def _strings(node: ast.expr) -> list[str]:
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return [
            e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        ]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    return []


def conftest_ignores(path: str) -> tuple[list[str], list[str]]:
    """The strings a conftest puts in `collect_ignore` and `collect_ignore_glob`.

    Read without running it: assignments, `+=`, `.append(...)` and `.extend(...)`,
    even under an `if` (a path ignored only on some Python is left out of the scan:
    the scanner prefers silence to a false finding).
    """
    found: dict[str, list[str]] = {"collect_ignore": [], "collect_ignore_glob": []}
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        if b"collect_ignore" not in data:
            return [], []
        tree = ast.parse(data)
    except (OSError, SyntaxError, ValueError, RecursionError):
        return [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in found:
                    found[target.id].extend(_strings(node.value))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in found
            and node.func.attr in ("append", "extend")
            and node.args
        ):
            found[node.func.value.id].extend(_strings(node.args[0]))
    return found["collect_ignore"], found["collect_ignore_glob"]


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
