"""NC007 (direct os.environ) and NC008 (relative imports) in test code."""

from __future__ import annotations

import pytest

ENV_USES = {
    "environ-subscript": ("import os\nx = os.environ['A']\n", [2]),
    "environ-get": ("import os\nx = os.environ.get('A')\n", [2]),
    "getenv": ("import os\nx = os.getenv('A')\n", [2]),
    "putenv-in-test": ("import os\ndef test_x():\n    os.putenv('A', '1')\n    assert 1\n", [3]),
    "from-os-import": ("from os import environ, path\n", [1]),
    "two-on-one-line": ("import os\nx = os.environ['A'] + os.getenv('B')\n", [2]),
}
ENV_CLEAN = {
    "monkeypatch": "def test_x(monkeypatch):\n    monkeypatch.setenv('A', '1')\n    assert 1\n",
    "isolated": "from netra.env import IsolatedEnvironment\nenv = IsolatedEnvironment(base={})\n",
    "string-mention": "NOTE = 'do not use os.environ'\n",
    "other-environ": "x = settings.environ\n",
}


@pytest.mark.parametrize(("source", "lines"), ENV_USES.values(), ids=ENV_USES.keys())
def test_direct_environment_access(workspace, source: str, lines: list[int]) -> None:
    workspace.write("tests/unit/test_env.py", source)
    assert workspace.lines("NC007") == [("tests/unit/test_env.py", n) for n in lines]


@pytest.mark.parametrize("source", ENV_CLEAN.values(), ids=ENV_CLEAN.keys())
def test_no_direct_environment_access(workspace, source: str) -> None:
    workspace.write("tests/unit/test_env.py", source)
    assert workspace.findings("NC007") == []


def test_environment_outside_tests_is_not_checked(workspace) -> None:
    workspace.write("src/app/env.py", "import os\nx = os.environ\n")
    assert workspace.findings("NC007") == []


@pytest.mark.parametrize(
    ("source", "lines"),
    [
        ("from . import helpers\n", [1]),
        ("from .helpers import make\n", [1]),
        ("from ..support.db import connect\n", [1]),
        ("def test_x():\n    from .helpers import make\n    assert make()\n", [2]),
    ],
    ids=["dot", "dot-module", "dot-dot", "inside-test"],
)
def test_relative_imports(workspace, source: str, lines: list[int]) -> None:
    workspace.write("tests/unit/test_rel.py", source)
    assert workspace.lines("NC008") == [("tests/unit/test_rel.py", n) for n in lines]


def test_absolute_imports_are_clean(workspace) -> None:
    workspace.write("tests/unit/test_abs.py", "from netra.ids import new_id\nimport json\n")
    workspace.write("src/app/pkg.py", "from . import other\n")
    assert workspace.findings("NC008") == []
