"""pytest's own configuration, read the way pytest reads it, so the scanner collects what it does.

Which file: pytest's "rootdir and configfile" rules (docs: reference/customize).
From the common ancestor of the paths given (or the current directory) upwards,
the first directory holding, in this order, `pytest.toml`, `.pytest.toml`,
`pytest.ini`, `.pytest.ini` (even when empty), `pyproject.toml` with a
`[tool.pytest]` or `[tool.pytest.ini_options]` table, `tox.ini` with `[pytest]`,
or `setup.cfg` with `[tool:pytest]`. We add one match of our own: a
`pyproject.toml` with `[tool.netra.check]`. Failing that, the nearest
`pyproject.toml` (pytest 8.1+), then the nearest folder with a `setup.py`, then
the common ancestor of the current directory and the paths.

What it says: the collection settings (`testpaths`, `norecursedirs`,
`python_files`, `python_classes`, `python_functions`) and the `--ignore` /
`--ignore-glob` options of `addopts`. Patterns are matched as pytest does
(`fnmatch_ex`, below).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import configparser

import fnmatch
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_NORECURSEDIRS = (
    "*.egg",
    ".*",
    "_darcs",
    "build",
    "CVS",
    "dist",
    "node_modules",
    "venv",
    "{arch}",
)
_INI_NAMES = ("pytest.ini", ".pytest.ini")
_TOML_NAMES = ("pytest.toml", ".pytest.toml")
_SETTINGS = (
    "testpaths",
    "norecursedirs",
    "python_files",
    "python_classes",
    "python_functions",
    "xfail_strict",
)


class PytestConfigError(Exception):
    """pytest's configuration file cannot be read."""


@dataclass(frozen=True)
class PytestConfig:
    """Where pytest's configuration is and the collection settings it holds (None: unset)."""

    rootdir: Path
    configfile: Path | None
    settings: dict[str, tuple[str, ...]]
    # False when nothing marks a project (no configuration file, pyproject.toml or setup.py
    # above the paths): the rootdir is only the common folder of the current folder and
    # the paths, and pytest then collects the paths given, nothing else under it.
    marked: bool = True

    def get(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """A setting, or `default` when the file does not set it."""
        value = self.settings.get(key)
        return default if value is None else value


def fnmatch_ex(pattern: str, path: str) -> bool:
    """pytest's `fnmatch_ex`: a pattern without `/` matches the base name, else the path's tail.

    `testing/python/*.py` matches `/repo/testing/python/approx.py`; `*` crosses `/`
    as in `fnmatch`.
    """
    return path_matcher((pattern,))(path)


def path_matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    """`fnmatch_ex` for any of `patterns`, compiled once (it runs for every folder and file)."""
    names = [fnmatch.translate(p) for p in patterns if "/" not in p]
    paths = [fnmatch.translate(p if p.startswith("/") else "*/" + p) for p in patterns if "/" in p]
    name_regex = re.compile("|".join(names)) if names else None
    path_regex = re.compile("|".join(paths)) if paths else None

    def matches(path: str) -> bool:
        if name_regex is not None and name_regex.match(path.rpartition("/")[2]):
            return True
        return path_regex is not None and path_regex.match(path) is not None

    return matches


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # only when there is a file to read

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PytestConfigError(f"{path} cannot be read as TOML: {exc}") from exc


def _read_ini(path: Path) -> configparser.ConfigParser:
    import configparser  # only for tox.ini and setup.cfg

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise PytestConfigError(f"{path} cannot be read as an ini file: {exc}") from exc
    return parser


def _section(path: Path) -> dict[str, Any] | None:
    """The pytest settings in a candidate file, or None when it is not pytest's configuration."""
    name = path.name
    if name in _TOML_NAMES:
        return dict(_read_toml(path).get("pytest", {}))
    if name in _INI_NAMES:
        parser = _read_ini(path)
        return dict(parser["pytest"]) if parser.has_section("pytest") else {}
    if name == "pyproject.toml":
        tool = _read_toml(path).get("tool", {})
        pytest = tool.get("pytest")
        if isinstance(pytest, dict):
            ini = pytest.get("ini_options")
            if isinstance(ini, dict):
                return ini
            return pytest
        return None
    section = {"tox.ini": "pytest", "setup.cfg": "tool:pytest"}[name]
    parser = _read_ini(path)
    return dict(parser[section]) if parser.has_section(section) else None


def _split(value: Any) -> tuple[str, ...]:
    """An `args`-type setting: a TOML list as it is, an ini string split like a shell would."""
    if isinstance(value, bool):  # xfail_strict in TOML
        return (str(value).lower(),)
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError:
            return tuple(value.split())
    return ()


def _ignores(addopts: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """`--ignore` and `--ignore-glob` from `addopts` (either `--opt=v` or `--opt v`)."""
    found: dict[str, list[str]] = {"ignore": [], "ignore_glob": []}
    pending: str | None = None
    for arg in addopts:
        if pending is not None:
            found[pending].append(arg)
            pending = None
            continue
        for option, key in (("--ignore-glob", "ignore_glob"), ("--ignore", "ignore")):
            if arg == option:
                pending = key
                break
            if arg.startswith(option + "="):
                found[key].append(arg.split("=", 1)[1])
                break
    return {k: tuple(v) for k, v in found.items()}


def _settings(section: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    settings = {key: _split(section[key]) for key in _SETTINGS if key in section}
    settings.update(_ignores(_split(section.get("addopts", ""))))
    return settings


def _candidates(directory: Path) -> list[Path]:
    names = (*_TOML_NAMES, *_INI_NAMES, "pyproject.toml", "tox.ini", "setup.cfg")
    return [directory / n for n in names if (directory / n).is_file()]


def _is_netra_project(pyproject: Path) -> bool:
    netra = _read_toml(pyproject).get("tool", {}).get("netra")
    return isinstance(netra, dict) and "check" in netra


def read_settings(directory: Path) -> dict[str, tuple[str, ...]] | None:
    """The collection settings of the pytest configuration file in `directory`, if it has one."""
    for candidate in _candidates(directory):
        section = _section(candidate)
        if section is not None:
            return _settings(section)
    return None


def locate(paths: list[Path], cwd: Path) -> PytestConfig:
    """pytest's rootdir and configuration file for a run on `paths` (none: `cwd`) from `cwd`."""
    cwd = cwd.resolve()
    targets = [p.resolve() for p in paths] or [cwd]
    ancestor = Path(os.path.commonpath(targets))
    if ancestor.is_file() or not ancestor.exists():
        ancestor = ancestor.parent
    nearest_pyproject: Path | None = None
    for directory in (ancestor, *ancestor.parents):
        for candidate in _candidates(directory):
            section = _section(candidate)
            if section is not None:
                return PytestConfig(directory, candidate, _settings(section))
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            if _is_netra_project(pyproject):
                return PytestConfig(directory, pyproject, {})
            nearest_pyproject = nearest_pyproject or pyproject
    if nearest_pyproject is not None:
        return PytestConfig(nearest_pyproject.parent, nearest_pyproject, {})
    for directory in (ancestor, *ancestor.parents):
        if (directory / "setup.py").is_file():
            return PytestConfig(directory, None, {})
    common = Path(os.path.commonpath([cwd, ancestor]))
    return PytestConfig(
        ancestor if common == Path(common.anchor) else common, None, {}, marked=False
    )
