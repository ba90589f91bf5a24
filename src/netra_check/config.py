"""Configuration for `netra check`: `[tool.netra.check]` in pyproject.toml.

Every key has a default that follows DESIGN section 7, so a repository laid out
that way needs no configuration at all. Validation is done by hand (no
pydantic) because this module is imported on every run and a warm run has to
finish in well under half a second.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from netra_check.errors import CheckError
from netra_check.model import blake2b
from netra_check.pytest_config import PytestConfigError, read_settings

SEVERITIES = ("error", "warning", "off")
# Rules that check Netra's own conventions (DESIGN section 7), not what holds for any
# pytest suite: off unless the repository opts in (a [tool.netra.check] table, or
# `conventions = true`, or a severity for the rule).
CONVENTION_RULES = frozenset({"NC005", "NC006", "NC007", "NC010"})

DEFAULT_CATEGORIES: dict[str, str] = {
    "unit": "tests/unit",
    "integration": "tests/integration",
    "e2e": "tests/e2e",
    "mission_critical": "tests/mission_critical",
}
DEFAULT_REQUIRED_EVENTS = (
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "agent_completed",
)
DEFAULT_CI_FILES = (
    ".github/workflows/*.yml",
    ".github/workflows/*.yaml",
    ".ci/*",
    ".gitlab-ci.yml",
    ".circleci/*.yml",
    "azure-pipelines.yml",
    "Jenkinsfile",
    "Makefile",
    "tox.ini",
)
# Directories that are never worth descending into, whatever the configuration says.
ALWAYS_EXCLUDED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".netra",
        "site-packages",
        "build",
        "dist",
    }
)


class ConfigError(CheckError):
    """The configuration cannot be used; the message says which key and how to fix it."""


@dataclass(frozen=True)
class CheckConfig:
    """Resolved settings for one run. Paths are relative to the project root."""

    paths: tuple[str, ...] = (".",)
    exclude: tuple[str, ...] = ()
    categories: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CATEGORIES))
    no_mock_categories: tuple[str, ...] = ("integration", "e2e")
    canonical_bases: tuple[str, ...] = ("SSotBaseTestCase", "SSotAsyncTestCase")
    canonical_runner: str = "netra test"
    required_events: tuple[str, ...] = DEFAULT_REQUIRED_EVENTS
    event_category: str = "mission_critical"
    assertion_helpers: tuple[str, ...] = ()
    test_file_patterns: tuple[str, ...] = ("test_*.py", "*_test.py")
    # Collection a pytest plugin adds, on top of pytest's own python_classes/_functions/_files.
    extra_python_classes: tuple[str, ...] = ()
    extra_python_functions: tuple[str, ...] = ()
    extra_python_files: tuple[str, ...] = ()
    # Class decorators a plugin turns into one collected copy of the class per positional
    # argument (SQLAlchemy's `testing.combinations` on a class); stacked ones multiply.
    class_parametrizers: tuple[str, ...] = ()
    # Base classes whose subclasses a plugin collects whatever their name (SQLAlchemy's
    # collects every subclass of fixtures.TestBase).
    extra_python_bases: tuple[str, ...] = ()
    support_paths: tuple[str, ...] = (
        "**/testing/**",
        "**/testutils/**",
        "**/test_utils/**",
        "**/testing.py",
        "**/testutils.py",
        "**/test_utils.py",
    )
    script_paths: tuple[str, ...] = ("scripts", "bin", "tools")
    ci_files: tuple[str, ...] = DEFAULT_CI_FILES
    severity: dict[str, str] = field(default_factory=dict)
    conventions: bool = False
    cache_dir: str = ".netra/check-cache"
    # Read from pytest's own configuration (see pytest_config), never from [tool.netra.check].
    pytest: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The test files pytest itself reported (--collect-with-pytest); empty: decide statically.
    collected: tuple[str, ...] = ()

    @property
    def python_files(self) -> tuple[str, ...]:
        """The module patterns pytest collects, and any a plugin adds."""
        return (*self.test_file_patterns, *self.extra_python_files)

    @property
    def python_classes(self) -> tuple[str, ...]:
        """The class name prefixes or globs pytest collects, and any a plugin adds."""
        return (*self.pytest.get("python_classes", ("Test",)), *self.extra_python_classes)

    @property
    def python_functions(self) -> tuple[str, ...]:
        """The function name prefixes or globs pytest collects, and any a plugin adds."""
        return (*self.pytest.get("python_functions", ("test",)), *self.extra_python_functions)

    def digest(self) -> str:
        """A stable hash of every setting that can change a per-file result."""
        payload = json.dumps(asdict(self), sort_keys=True, default=list)
        return blake2b(payload.encode(), digest_size=12).hexdigest()

    def severity_of(self, rule_id: str, default: str = "error") -> str:
        """The configured severity of a rule: error, warning or off."""
        if rule_id in CONVENTION_RULES and not self.conventions:
            default = "off"
        return self.severity.get(rule_id, default)


_KEYS = {f.name for f in fields(CheckConfig)} - {"pytest", "collected"}
_STR_LISTS = {
    "paths",
    "exclude",
    "no_mock_categories",
    "canonical_bases",
    "required_events",
    "assertion_helpers",
    "test_file_patterns",
    "extra_python_classes",
    "extra_python_functions",
    "extra_python_files",
    "class_parametrizers",
    "extra_python_bases",
    "support_paths",
    "script_paths",
    "ci_files",
}
_STRS = {"canonical_runner", "event_category", "cache_dir"}
_BOOLS = {"conventions"}
_STR_MAPS = {"categories", "severity"}


def _key_name(key: str) -> str:
    return key.replace("-", "_")


def parse_table(
    table: dict[str, Any], *, source: str, known_rules: frozenset[str] = frozenset()
) -> CheckConfig:
    """Build a CheckConfig from a `[tool.netra.check]` table, raising ConfigError on bad input."""
    values: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = _key_name(raw_key)
        where = f"[tool.netra.check] {raw_key!r} in {source}"
        if key not in _KEYS:
            known = ", ".join(sorted(_KEYS))
            raise ConfigError(
                f"unknown key {raw_key!r} in [tool.netra.check] ({source}); known keys: {known}"
            )
        if key in _STR_LISTS:
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where} must be a list of strings, got {value!r}")
            values[key] = tuple(value)
        elif key in _STRS:
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{where} must be a non-empty string, got {value!r}")
            values[key] = value
        elif key in _BOOLS:
            if not isinstance(value, bool):
                raise ConfigError(f"{where} must be true or false, got {value!r}")
            values[key] = value
        elif key in _STR_MAPS:
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ConfigError(f"{where} must be a table of strings, got {value!r}")
            values[key] = dict(value)
    if "categories" in values:
        # Added to the default folders; a category set to "" is removed.
        merged = {**DEFAULT_CATEGORIES, **values["categories"]}
        values["categories"] = {name: folder for name, folder in merged.items() if folder}
    config = replace(CheckConfig(), **values)
    _validate(config, source=source, known_rules=known_rules)
    return config


def _validate(config: CheckConfig, *, source: str, known_rules: frozenset[str]) -> None:
    for rule_id, level in config.severity.items():
        if known_rules and rule_id not in known_rules:
            raise ConfigError(
                f"[tool.netra.check] severity names unknown rule {rule_id!r} ({source}); "
                f"known rules: {', '.join(sorted(known_rules))}"
            )
        if level not in SEVERITIES:
            raise ConfigError(
                f"[tool.netra.check] severity.{rule_id} = {level!r} ({source}); "
                f"use one of: {', '.join(SEVERITIES)}"
            )
    for name in (*config.no_mock_categories, config.event_category):
        if name not in config.categories:
            raise ConfigError(
                f"[tool.netra.check] refers to category {name!r}, which is not in "
                f"categories ({', '.join(sorted(config.categories))}) ({source})"
            )
    for path in config.paths:
        if Path(path).is_absolute() or ".." in Path(path).parts:
            raise ConfigError(
                f"[tool.netra.check] paths entry {path!r} must be relative to the project "
                f"root and stay inside it ({source})"
            )
    cache_dir = Path(config.cache_dir)
    if cache_dir.is_absolute() or ".." in cache_dir.parts or cache_dir.parts in ((), (".",)):
        raise ConfigError(
            f"[tool.netra.check] cache_dir {config.cache_dir!r} must be a folder inside the "
            f"project root, relative to it ({source})"
        )


def _table(document: dict[str, Any], *keys: str, source: str) -> dict[str, Any]:
    """`document[k1][k2]...`, {} where a key is missing; a non-table on the way is an error."""
    current: Any = document
    for depth, key in enumerate(keys):
        current = current.get(key, {})
        if not isinstance(current, dict):
            name = ".".join(keys[: depth + 1])
            raise ConfigError(f"[{name}] in {source} must be a table, got {current!r}")
    return current  # type: ignore[no-any-return]


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # only when there is a file to read: a tenth of the warm run's imports

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def load_config(
    root: Path, config_file: Path | None = None, *, known_rules: frozenset[str] = frozenset()
) -> CheckConfig:
    """Read `[tool.netra.check]` from `config_file` or `root/pyproject.toml`.

    A missing pyproject.toml or a missing table gives the defaults, with the
    convention rules (CONVENTION_RULES) off; a table turns them on unless it says
    `conventions = false`. A file passed
    explicitly must exist; it may be a pyproject.toml or a TOML file whose top
    level is the check table itself. pytest's own collection settings are read
    from the file pytest would use in `root` (see `pytest_config`); unless
    `test_file_patterns` is set, pytest's `python_files` is used.
    """
    path = config_file if config_file is not None else root / "pyproject.toml"
    present = config_file is not None  # a table in a file passed explicitly is an opt-in
    if not path.is_file():
        if config_file is not None:
            raise ConfigError(f"config file {str(config_file)!r} does not exist")
        table: dict[str, Any] = {}
        source = str(path)
    else:
        document = _read_toml(path)
        source = str(path)
        if "tool" in document or config_file is None:
            table = _table(document, "tool", "netra", "check", source=source)
            present = present or "check" in _table(document, "tool", "netra", source=source)
        else:
            table = document
    config = parse_table(table, source=source, known_rules=known_rules)
    if present and "conventions" not in table:
        config = replace(config, conventions=True)
    _check_paths_exist(config, root, source)

    try:
        pytest = read_settings(root) or {}
    except PytestConfigError as exc:
        raise ConfigError(str(exc)) from exc
    config = replace(config, pytest=pytest)
    explicit = "test_file_patterns" in table or "test-file-patterns" in table
    if not explicit and pytest.get("python_files"):
        config = replace(config, test_file_patterns=pytest["python_files"])
    return config


def _check_paths_exist(config: CheckConfig, root: Path, source: str) -> None:
    missing = [p for p in config.paths if not (root / p).exists()]
    if missing:
        raise ConfigError(
            f"[tool.netra.check] paths entries do not exist under {root}: "
            f"{', '.join(repr(p) for p in missing)} ({source})"
        )
