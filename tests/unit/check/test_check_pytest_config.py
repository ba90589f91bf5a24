"""pytest's configuration as pytest reads it: which file, which root, its collection settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from netra_check.pytest_config import fnmatch_ex, locate


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("files", "configfile"),
    [
        ({"pytest.ini": "", "pyproject.toml": "[tool.pytest.ini_options]\n"}, "pytest.ini"),
        ({"pytest.toml": "", "pytest.ini": "[pytest]\n"}, "pytest.toml"),
        ({".pytest.ini": "", "tox.ini": "[pytest]\n"}, ".pytest.ini"),
        ({"pyproject.toml": "[tool.pytest]\n", "tox.ini": "[pytest]\n"}, "pyproject.toml"),
        ({"pyproject.toml": "[project]\n", "tox.ini": "[pytest]\n"}, "tox.ini"),
        ({"tox.ini": "[tox]\n", "setup.cfg": "[tool:pytest]\n"}, "setup.cfg"),
    ],
)
def test_configfile_precedence_within_a_folder(
    tmp_path: Path, files: dict[str, str], configfile: str
) -> None:
    for name, text in files.items():
        write(tmp_path / name, text)
    found = locate([tmp_path], tmp_path)
    assert (found.rootdir, found.configfile) == (
        tmp_path.resolve(),
        tmp_path.resolve() / configfile,
    )


def test_a_pytest_configuration_upward_wins_over_a_nearer_bare_pyproject(tmp_path: Path) -> None:
    write(tmp_path / "tox.ini", "[pytest]\ntestpaths = tests\n")
    write(tmp_path / "pkg" / "pyproject.toml", "[project]\nname = 'pkg'\n")
    write(tmp_path / "pkg" / "tests" / "test_a.py")
    found = locate([tmp_path / "pkg" / "tests"], tmp_path / "pkg")
    assert found.rootdir == tmp_path.resolve()
    assert found.settings["testpaths"] == ("tests",)


def test_without_configuration_the_nearest_pyproject_then_setup_py_then_the_cwd(
    tmp_path: Path,
) -> None:
    write(tmp_path / "a" / "pyproject.toml", "[project]\n")
    write(tmp_path / "a" / "tests" / "test_x.py")
    assert locate([tmp_path / "a" / "tests"], tmp_path).rootdir == (tmp_path / "a").resolve()
    write(tmp_path / "b" / "setup.py")
    write(tmp_path / "b" / "tests" / "test_x.py")
    assert locate([tmp_path / "b" / "tests"], tmp_path).rootdir == (tmp_path / "b").resolve()
    write(tmp_path / "c" / "tests" / "test_x.py")
    found = locate([tmp_path / "c" / "tests"], tmp_path / "c")
    assert (found.rootdir, found.configfile) == ((tmp_path / "c").resolve(), None)
    # Only this last root marks no project (pytest then collects only the paths given).
    assert not found.marked
    assert locate([tmp_path / "b" / "tests"], tmp_path).marked


def test_a_netra_check_table_marks_a_nested_project(tmp_path: Path) -> None:
    write(tmp_path / "pytest.ini", "[pytest]\n")
    write(tmp_path / "corpus" / "pyproject.toml", "[tool.netra.check]\n")
    write(tmp_path / "corpus" / "tox.ini", "[pytest]\nnorecursedirs = data\n")
    assert locate([tmp_path / "corpus"], tmp_path).rootdir == (tmp_path / "corpus").resolve()
    assert locate([tmp_path / "corpus"], tmp_path).settings == {
        "norecursedirs": ("data",),
        "ignore": (),
        "ignore_glob": (),
    }


def test_settings_from_ini_and_toml_with_ignores_in_addopts(tmp_path: Path) -> None:
    write(
        tmp_path / "setup.cfg",
        "[tool:pytest]\n"
        "testpaths = testing doc\n"
        "python_classes = Test *Suite\n"
        "addopts = -ra --ignore=testing/data --ignore-glob '*_py2.py' --ignore testing/old\n",
    )
    settings = locate([], tmp_path).settings
    assert settings["testpaths"] == ("testing", "doc")
    assert settings["python_classes"] == ("Test", "*Suite")
    assert settings["ignore"] == ("testing/data", "testing/old")
    assert settings["ignore_glob"] == ("*_py2.py",)
    write(tmp_path / "pyproject.toml", '[tool.pytest.ini_options]\nnorecursedirs = ["a b", "c"]\n')
    assert locate([], tmp_path).settings["norecursedirs"] == ("a b", "c")


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("test_*.py", "/r/testing/test_a.py", True),
        ("test_*.py", "/r/test_dir/a.py", False),
        ("testing/python/*.py", "/r/testing/python/approx.py", True),
        ("testing/python/*.py", "/r/testing/approx.py", False),
        ("testing/example_scripts", "/r/testing/example_scripts", True),
        ("testing/example_scripts", "/r/src/testing/example_scripts", True),
        ("*.egg", "/r/x.egg", True),
    ],
)
def test_fnmatch_ex_matches_like_pytest(pattern: str, path: str, matches: bool) -> None:
    assert fnmatch_ex(pattern, path) is matches
