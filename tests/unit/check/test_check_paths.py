"""Report paths open from where the command ran; rules apply by the path from the project root."""

from __future__ import annotations

import json
from pathlib import Path

MOCKED = """
from unittest.mock import MagicMock

def test_orders():
    client = MagicMock()
    assert client.get("/orders") is not None
"""


def test_without_a_project_file_paths_and_categories_follow_the_current_folder(
    workspace, cli, monkeypatch
) -> None:
    workspace.write("tests/integration/test_orders.py", MOCKED)
    monkeypatch.chdir(workspace.root)
    text = cli("tests", "--no-cache")
    assert "tests/integration/test_orders.py:4: NC004" in text.output
    github = cli("tests", "--no-cache", "--format", "github")
    assert "file=tests/integration/test_orders.py,line=4" in github.stdout
    # Narrowing the path changes what is reported, not which rules apply where.
    narrow = cli("tests/integration/test_orders.py", "--no-cache", "--format", "json")
    findings = json.loads(narrow.stdout)["findings"]
    assert [(f["rule"], f["path"], f["line"]) for f in findings] == [
        ("NC004", "tests/integration/test_orders.py", 1),
        ("NC004", "tests/integration/test_orders.py", 4),
    ]


def test_a_monorepo_package_is_reported_from_the_repository_root(
    workspace, cli, monkeypatch
) -> None:
    (workspace.root / ".git").mkdir(parents=True)
    workspace.write(
        "packages/httpx/pyproject.toml", '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
    )
    workspace.write("packages/httpx/tests/test_client.py", "def test_get():\n    pass\n")
    monkeypatch.chdir(workspace.root)
    github = cli("packages/httpx/tests", "--no-cache", "--format", "github")
    assert github.exit_code == 1
    assert "file=packages/httpx/tests/test_client.py,line=1" in github.stdout
    sarif = json.loads(cli("packages/httpx/tests", "--no-cache", "--format", "sarif").stdout)
    run = sarif["runs"][0]
    location = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location["uri"] == "packages/httpx/tests/test_client.py"
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == workspace.root.resolve().as_uri() + "/"

    monkeypatch.chdir(workspace.root / "packages" / "httpx" / "tests")
    inside = cli("--no-cache")
    assert "test_client.py:1: NC002" in inside.output
    assert "tests/test_client.py" not in inside.output
    sarif_inside = json.loads(cli("--no-cache", "--format", "sarif").stdout)["runs"][0]
    uri = sarif_inside["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "packages/httpx/tests/test_client.py"
    assert Path(workspace.root, uri).is_file()


def test_a_root_that_no_project_marks_is_walked_only_along_the_given_paths(
    workspace, cli, monkeypatch
) -> None:
    # No configuration file, pyproject.toml or setup.py: pytest's rootdir is the common
    # folder of the current folder and the path (here `outer`), and pytest collects only
    # the path. A sibling folder is never read: its syntax error and its test that asserts
    # nothing are not reported, and its files are not counted.
    workspace.write(
        "outer/conftest.py",
        """
        import pytest

        @pytest.fixture
        def checked():
            value = compute()
            assert value is not None
            return value
        """,
    )
    workspace.write("outer/proj/tests/test_orders.py", "def test_order(checked):\n    place()\n")
    workspace.write("outer/proj/tests/test_plain.py", "def test_plain():\n    place()\n")
    workspace.write("outer/other/tests/test_broken.py", "def test_x(:\n")
    workspace.write("outer/other/tests/test_loose.py", "def test_loose():\n    place()\n")
    monkeypatch.chdir(workspace.root / "outer")
    report = json.loads(cli("proj/tests", "--no-cache", "--format", "json").stdout)
    assert [(f["rule"], f["path"], f["line"]) for f in report["findings"]] == [
        ("NC003", "proj/tests/test_plain.py", 1)
    ]
    # The two test modules and the conftest between the root and them.
    assert (report["files"], report["tests"]) == (3, 2)


def test_a_root_that_no_project_marks_never_reads_modules_outside_the_given_paths(
    workspace, cli, monkeypatch
) -> None:
    # The tests import `shop.checks`; the root (the current folder, no project marker)
    # happens to hold an unrelated `shop/checks.py` whose `verify` asserts. It lies outside
    # the path given, so it is not read, and the test that asserts nothing is reported.
    workspace.write("outer/shop/__init__.py", "")
    workspace.write(
        "outer/shop/checks.py",
        """
        class Checker:
            def verify(self, reply):
                assert reply == "ok"
        """,
    )
    workspace.write(
        "outer/proj/tests/test_replies.py",
        """
        from shop.checks import Checker

        def test_recorded_only():
            Checker().verify("ok")
        """,
    )
    monkeypatch.chdir(workspace.root / "outer")
    report = json.loads(cli("proj/tests", "--no-cache", "--format", "json").stdout)
    assert [(f["rule"], f["path"], f["line"]) for f in report["findings"]] == [
        ("NC003", "proj/tests/test_replies.py", 3)
    ]
    assert report["files"] == 1


def test_a_test_module_between_the_root_and_the_given_path_is_not_read(
    workspace, cli, monkeypatch
) -> None:
    # pytest collects only the path given; a test module in a folder above it is neither
    # collected nor imported, so its tests do not count and its helpers decide nothing
    # (here its `check_reply` would stand for the library's function of that name).
    workspace.write(
        "outer/test_scratch.py",
        """
        def check_reply(reply):
            assert reply

        def test_scratch():
            check_reply(1)
        """,
    )
    workspace.write(
        "outer/proj/tests/test_replies.py",
        """
        from replylib import check_reply

        def test_replied(reply):
            check_reply(reply)
        """,
    )
    monkeypatch.chdir(workspace.root / "outer")
    report = json.loads(cli("proj/tests", "--no-cache", "--format", "json").stdout)
    assert [(f["rule"], f["path"], f["line"]) for f in report["findings"]] == [
        ("NC003", "proj/tests/test_replies.py", 3)
    ]
    assert (report["files"], report["tests"]) == (1, 1)
