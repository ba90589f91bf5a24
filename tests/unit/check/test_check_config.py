"""Configuration: defaults, pyproject parsing, validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from netra_check.config import CheckConfig, ConfigError, load_config

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


def test_digest_changes_with_settings() -> None:
    assert CheckConfig().digest() == CheckConfig().digest()
    assert CheckConfig().digest() != CheckConfig(canonical_runner="tox").digest()


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"pytest.ini": "[pytest]\npython_files = check_*.py\n"}, ("check_*.py",)),
        (
            {"pytest.ini": "[pytest]\npython_files =\n    a_*.py\n    b_*.py\n"},
            ("a_*.py", "b_*.py"),
        ),
        ({"tox.ini": "[tox]\nenvlist = py\n[pytest]\npython_files = t_*.py\n"}, ("t_*.py",)),
        ({"setup.cfg": "[tool:pytest]\npython_files = s_*.py\n"}, ("s_*.py",)),
        ({"setup.cfg": "[metadata]\nname = x\n"}, ("test_*.py", "*_test.py")),
        ({"tox.ini": "[tox]\nenvlist = py\n"}, ("test_*.py", "*_test.py")),
        (
            {
                "pyproject.toml": '[tool.pytest.ini_options]\npython_files = ["p_*.py"]\n',
                "tox.ini": "[pytest]\npython_files = t_*.py\n",
            },
            ("p_*.py",),
        ),
        (
            {
                "pytest.ini": "[pytest]\npython_files = i_*.py\n",
                "pyproject.toml": '[tool.pytest.ini_options]\npython_files = ["p_*.py"]\n',
            },
            ("i_*.py",),
        ),
        (
            # pytest.ini is pytest's configuration even without the setting: nothing else is read.
            {"pytest.ini": "[pytest]\n", "setup.cfg": "[tool:pytest]\npython_files = s_*.py\n"},
            ("test_*.py", "*_test.py"),
        ),
        (
            {
                "tox.ini": "[pytest]\npython_files = t_*.py\n",
                "setup.cfg": "[tool:pytest]\npython_files = s_*.py\n",
            },
            ("t_*.py",),
        ),
        (
            {
                "pyproject.toml": '[tool.netra.check]\ntest_file_patterns = ["mine_*.py"]\n',
                "pytest.ini": "[pytest]\npython_files = i_*.py\n",
            },
            ("mine_*.py",),
        ),
    ],
)
def test_python_files_is_read_where_pytest_reads_it(
    tmp_path: Path, files: dict[str, str], expected: tuple[str, ...]
) -> None:
    for name, text in files.items():
        write(tmp_path / name, text)
    assert load_config(tmp_path).test_file_patterns == expected


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[tool]\nnetra = 3\n", r"\[tool.netra\] .* must be a table"),
        ("tool = 3\n", r"\[tool\] .* must be a table"),
        ("[tool.netra]\ncheck = 'x'\n", r"\[tool.netra.check\] .* must be a table"),
        ("[tool.netra.check]\npaths = ['tests', 'nowhere']\n", "do not exist.*'nowhere'"),
        ("[tool.netra.check]\ncache_dir = '/tmp/cache'\n", "cache_dir '/tmp/cache' must be"),
        ("[tool.netra.check]\ncache_dir = '../cache'\n", "cache_dir '../cache' must be"),
        ("[tool.netra.check]\ncache_dir = '.'\n", "cache_dir '.' must be"),
    ],
)
def test_malformed_tables_and_paths_are_config_errors(
    tmp_path: Path, document: str, message: str
) -> None:
    (tmp_path / "tests").mkdir()
    write(tmp_path / "pyproject.toml", document)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path)


def test_existing_paths_and_relative_cache_dir_are_fine(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    write(tmp_path / "pyproject.toml", "[tool.netra.check]\npaths = ['tests']\ncache_dir = 'c'\n")
    assert load_config(tmp_path).paths == ("tests",)


CONVENTIONS = {"NC005", "NC006", "NC007", "NC010"}


def test_netra_conventions_are_opt_in(tmp_path: Path) -> None:
    every = {f"NC{n:03}" for n in range(1, 11)}
    bare = load_config(tmp_path)
    assert {r for r in every if bare.severity_of(r) == "off"} == CONVENTIONS
    write(tmp_path / "pyproject.toml", "[tool.netra.check]\n")
    assert {r for r in every if load_config(tmp_path).severity_of(r) == "off"} == set()
    write(tmp_path / "pyproject.toml", "[tool.netra.check]\nconventions = false\n")
    assert {r for r in every if load_config(tmp_path).severity_of(r) == "off"} == CONVENTIONS
    write(
        tmp_path / "pyproject.toml",
        '[tool.netra.check]\nconventions = false\nseverity = {NC007 = "warning"}\n',
    )
    assert load_config(tmp_path).severity_of("NC007") == "warning"


def test_categories_are_added_to_the_defaults(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[tool.netra.check]\ncategories = {smoke = "tests/smoke", unit = ""}\n',
    )
    categories = load_config(tmp_path).categories
    assert categories == {
        "integration": "tests/integration",
        "e2e": "tests/e2e",
        "mission_critical": "tests/mission_critical",
        "smoke": "tests/smoke",
    }
