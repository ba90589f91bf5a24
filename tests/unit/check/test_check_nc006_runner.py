"""NC006: running pytest around the canonical runner."""

from __future__ import annotations

import pytest

from netra_check.rules.nc006_runner_bypass import line_runs_pytest

BYPASSES = {
    "pytest-main": "import pytest\nif __name__ == '__main__':\n    pytest.main([__file__])\n",
    "unittest-main": "import unittest\nif __name__ == '__main__':\n    unittest.main()\n",
    "from-pytest-import-main": "from pytest import main\nmain(['-q'])\n",
    "subprocess-list": "import subprocess, sys\nsubprocess.run([sys.executable, '-m', 'pytest'])\n",
    "subprocess-shell": (
        "import subprocess\nsubprocess.check_call('cd x && pytest -q', shell=True)\n"
    ),
    "os-system": "import os\nos.system('python3 -m pytest tests')\n",
    "popen": "from subprocess import Popen\nPopen(['pytest', '-x'])\n",
}
CLEAN = {
    "pip-install": "import subprocess\nsubprocess.run(['pip', 'install', 'pytest'])\n",
    "canonical": "import subprocess\nsubprocess.run(['netra', 'test'])\n",
    "echo": "import os\nos.system('echo pytest')\n",
    "other-main": "def main():\n    return 1\nmain()\n",
}


@pytest.mark.parametrize("source", BYPASSES.values(), ids=BYPASSES.keys())
@pytest.mark.parametrize("rel", ["tests/unit/test_run.py", "scripts/run_suite.py"])
def test_bypass_in_tests_and_scripts(workspace, source: str, rel: str) -> None:
    workspace.write(rel, source)
    last_line = len(source.splitlines())
    assert workspace.lines("NC006") == [(rel, last_line)]


@pytest.mark.parametrize("source", CLEAN.values(), ids=CLEAN.keys())
def test_clean_calls(workspace, source: str) -> None:
    workspace.write("scripts/run_suite.py", source)
    assert workspace.findings("NC006") == []


def test_production_code_is_not_checked(workspace) -> None:
    workspace.write("src/app/runner.py", "import pytest\npytest.main(['-q'])\n")
    assert workspace.findings("NC006") == []


@pytest.mark.parametrize(
    "line",
    [
        "pytest",
        "      - run: pytest -q",
        "  run: python -m pytest tests/unit -x",
        "PYTHONPATH=src pytest tests",
        "cd tests && py.test",
        "uv run pytest",
        "coverage run -m pytest",
        "script: python3.11 -X dev -m pytest",
        "\tpytest -n auto",
    ],
)
def test_ci_lines_that_run_pytest(line: str) -> None:
    assert line_runs_pytest(line)


@pytest.mark.parametrize(
    "line",
    [
        "- run: netra test",
        "pip install pytest pytest-xdist",
        "# pytest is not used here",
        "echo 'pytest done'",
        "python -m pip install pytest",
        "uses: pytest-dev/action@v1",
    ],
)
def test_ci_lines_that_do_not(line: str) -> None:
    assert not line_runs_pytest(line)


def test_ci_files_are_scanned_with_line_numbers(workspace) -> None:
    workspace.write(
        ".github/workflows/ci.yml",
        """
        jobs:
          test:
            steps:
              - run: netra test
              - run: pytest -q
        """,
    )
    workspace.write(".ci/run", "#!/bin/sh\nnetra test\npython -m pytest\n")
    workspace.write("Makefile", "test:\n\tpytest  # netra: ignore[NC006]\n")
    assert workspace.lines("NC006") == [(".ci/run", 3), (".github/workflows/ci.yml", 5)]


def test_makefile_and_tox_ini_are_ci_files_by_default(workspace) -> None:
    workspace.write("Makefile", "test:\n\tpytest -q tests\n\ncheck:\n\tnetra test unit\n")
    workspace.write(
        "tox.ini",
        "[testenv]\ncommands = pytest {posargs}\n\n[testenv:ok]\ncommands = netra test\n",
    )
    assert workspace.lines("NC006") == [("Makefile", 2), ("tox.ini", 2)]
