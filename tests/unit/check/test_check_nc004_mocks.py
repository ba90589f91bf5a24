"""NC004: mocks in the categories that must use real services."""

from __future__ import annotations

import pytest

MOCKED = {
    "import-mock-module": ("from unittest import mock\n", [1]),
    "import-unittest-mock": ("import unittest.mock\n", [1]),
    "from-mock-import": (
        "from unittest.mock import MagicMock\n\ndef test_x():\n    m = MagicMock()\n"
        "    assert m is not None\n",
        [1, 4],
    ),
    "patch-decorator": (
        "from unittest.mock import patch\n\n@patch('app.db.save')\ndef test_x(save):\n"
        "    assert save\n",
        [1, 3],
    ),
    "mock-patch-object": (
        "import mock\n\ndef test_x():\n    with mock.patch.object(App, 'run'):\n"
        "        assert App\n",
        [1, 4],
    ),
    "mocker": ("def test_x(mocker):\n    assert mocker.patch('app.run')\n", [1]),
    "monkeypatch-setattr": (
        "def test_x(monkeypatch):\n    monkeypatch.setattr('app.run', print)\n    assert 1\n",
        [2],
    ),
    "fakeredis": ("import fakeredis\n", [1]),
    "respx-from": ("from respx import mock as respx_mock\n", [1]),
}

REAL = {
    "http-patch": "def test_x(client):\n    assert client.patch('/users/1').status_code == 200\n",
    "setenv": "def test_x(monkeypatch):\n    monkeypatch.setenv('A', '1')\n    assert run()\n",
    "local-function-named-patch": (
        "def patch(x):\n    return x\n\ndef test_x():\n    assert patch(1) == 1\n"
    ),
    "unittest-main-import": "import unittest\n\ndef test_x():\n    assert unittest\n",
}


@pytest.mark.parametrize(("source", "lines"), MOCKED.values(), ids=MOCKED.keys())
@pytest.mark.parametrize("category", ["integration", "e2e"])
def test_mocks_in_real_service_categories(
    workspace, source: str, lines: list[int], category: str
) -> None:
    rel = f"tests/{category}/test_sample.py"
    workspace.write(rel, source)
    assert workspace.lines("NC004") == [(rel, line) for line in lines]


@pytest.mark.parametrize("source", REAL.values(), ids=REAL.keys())
def test_real_service_code_is_clean(workspace, source: str) -> None:
    workspace.write("tests/integration/test_sample.py", source)
    assert workspace.findings("NC004") == []


@pytest.mark.parametrize("category", ["unit", "mission_critical"])
def test_mocks_are_allowed_elsewhere(workspace, category: str) -> None:
    workspace.write(f"tests/{category}/test_sample.py", MOCKED["from-mock-import"][0])
    assert workspace.findings("NC004") == []


def test_helpers_in_integration_folder_are_checked(workspace) -> None:
    workspace.write("tests/integration/conftest.py", "import pytest_mock\n")
    assert workspace.lines("NC004") == [("tests/integration/conftest.py", 1)]


def test_categories_are_configurable(workspace) -> None:
    workspace.write(
        "pyproject.toml",
        """
        [tool.netra.check]
        categories = { unit = "t/unit", system = "t/system" }
        no_mock_categories = ["system"]
        event_category = "system"
        """,
    )
    workspace.write("t/system/test_a.py", "from unittest.mock import Mock\n")
    workspace.write("tests/integration/test_a.py", "from unittest.mock import Mock\n")
    assert workspace.lines("NC004") == [("t/system/test_a.py", 1)]
