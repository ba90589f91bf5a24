"""Configuration: defaults, pyproject parsing, validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from netra.testing.check.config import CheckConfig, ConfigError, find_project_root, load_config

KNOWN = frozenset({"NC001", "NC002"})


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_follow_the_design(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config == CheckConfig()
    assert config.categories["mission_critical"] == "tests/mission_critical"
    assert config.canonical_bases == ("SSotBaseTestCase", "SSotAsyncTestCase")
    assert config.canonical_runner == "netra test"
    assert len(config.required_events) == 5


def test_table_is_read_with_dashes_or_underscores(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        """
[tool.netra.check]
canonical-bases = ["Base"]
assertion_helpers = "expect_*"
severity = { NC001 = "warning" }
""",
    )
    config = load_config(tmp_path, known_rules=KNOWN)
    assert config.canonical_bases == ("Base",)
    assert config.assertion_helpers == ("expect_*",)
    assert config.severity_of("NC001") == "warning"
    assert config.severity_of("NC002") == "error"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("colour = 'red'", "unknown key 'colour'"),
        ("paths = 3", "must be a list of strings"),
        ("canonical_runner = ''", "must be a non-empty string"),
        ("severity = { NC001 = 'fatal' }", "use one of: error, warning, off"),
        ("severity = { NC999 = 'off' }", "unknown rule 'NC999'"),
        ("no_mock_categories = ['smoke']", "category 'smoke'"),
        ("paths = ['../elsewhere']", "stay inside it"),
        ("categories = 'tests'", "must be a table of strings"),
    ],
)
def test_bad_configuration_says_what_and_where(tmp_path: Path, table: str, message: str) -> None:
    write(tmp_path / "pyproject.toml", f"[tool.netra.check]\n{table}\n")
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(tmp_path, known_rules=KNOWN)
    assert "pyproject.toml" in str(caught.value)


def test_invalid_toml(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.netra.check\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path)


def test_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path, tmp_path / "missing.toml")
    bare = write(tmp_path / "check.toml", 'canonical_runner = "make test"\n')
    assert load_config(tmp_path, bare).canonical_runner == "make test"
    nested = write(tmp_path / "other.toml", '[tool.netra.check]\ncanonical_runner = "tox"\n')
    assert load_config(tmp_path, nested).canonical_runner == "tox"


def test_project_root_is_found_upward(tmp_path: Path) -> None:
    write(tmp_path / "repo" / "pyproject.toml", "")
    deep = tmp_path / "repo" / "tests" / "unit"
    deep.mkdir(parents=True)
    assert find_project_root(deep) == (tmp_path / "repo").resolve()
    assert find_project_root(tmp_path / "repo" / "pyproject.toml") == (tmp_path / "repo").resolve()
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    assert find_project_root(lonely) in {lonely.resolve(), *lonely.resolve().parents}


def test_digest_changes_with_settings() -> None:
    assert CheckConfig().digest() == CheckConfig().digest()
    assert CheckConfig().digest() != CheckConfig(canonical_runner="tox").digest()
