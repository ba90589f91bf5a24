"""Configuration for `netra check`: `[tool.netra.check]` in pyproject.toml.

Every key has a default that follows DESIGN section 7, so a repository laid out
that way needs no configuration at all. Validation is done by hand (no
pydantic) because this module is imported on every run and a warm run has to
finish in well under half a second.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

SEVERITIES = ("error", "warning", "off")

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


class ConfigError(Exception):
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
    support_paths: tuple[str, ...] = ("**/testing/**", "**/testutils/**", "**/test_utils/**")
    script_paths: tuple[str, ...] = ("scripts", "bin", "tools")
    ci_files: tuple[str, ...] = DEFAULT_CI_FILES
    severity: dict[str, str] = field(default_factory=dict)
    cache_dir: str = ".netra/check-cache"

    def digest(self) -> str:
        """A stable hash of every setting that can change a per-file result."""
        payload = json.dumps(asdict(self), sort_keys=True, default=list)
        return hashlib.blake2b(payload.encode(), digest_size=12).hexdigest()

    def severity_of(self, rule_id: str, default: str = "error") -> str:
        """The configured severity of a rule: error, warning or off."""
        return self.severity.get(rule_id, default)


_KEYS = {f.name for f in fields(CheckConfig)}
_STR_LISTS = {
    "paths",
    "exclude",
    "no_mock_categories",
    "canonical_bases",
    "required_events",
    "assertion_helpers",
    "test_file_patterns",
    "support_paths",
    "script_paths",
    "ci_files",
}
_STRS = {"canonical_runner", "event_category", "cache_dir"}
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
        elif key in _STR_MAPS:
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ConfigError(f"{where} must be a table of strings, got {value!r}")
            values[key] = dict(value)
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


def find_project_root(start: Path) -> Path:
    """The nearest directory at or above `start` holding a pyproject.toml, else `start` itself."""
    start = start.resolve()
    base = start if start.is_dir() else start.parent
    for directory in (base, *base.parents):
        if (directory / "pyproject.toml").is_file():
            return directory
    return base


def _pytest_python_files(document: dict[str, Any]) -> tuple[str, ...] | None:
    """pytest's own `python_files` setting, so the scanner agrees with the collector."""
    ini = document.get("tool", {}).get("pytest", {}).get("ini_options", {})
    value = ini.get("python_files")
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def load_config(
    root: Path, config_file: Path | None = None, *, known_rules: frozenset[str] = frozenset()
) -> CheckConfig:
    """Read `[tool.netra.check]` from `config_file` or `root/pyproject.toml`.

    A missing pyproject.toml or a missing table gives the defaults. A file passed
    explicitly must exist; it may be a pyproject.toml or a TOML file whose top
    level is the check table itself.
    """
    path = config_file if config_file is not None else root / "pyproject.toml"
    if not path.is_file():
        if config_file is not None:
            raise ConfigError(f"config file {str(config_file)!r} does not exist")
        return CheckConfig()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    if "tool" in document or config_file is None:
        table = document.get("tool", {}).get("netra", {}).get("check", {})
    else:
        table = document
    if not isinstance(table, dict):
        raise ConfigError(f"[tool.netra.check] in {path} must be a table")
    config = parse_table(table, source=str(path), known_rules=known_rules)
    if "test_file_patterns" not in table and "test-file-patterns" not in table:
        python_files = _pytest_python_files(document)
        if python_files:
            config = replace(config, test_file_patterns=python_files)
    return config
