"""NC001: files and tests pytest cannot collect."""

from __future__ import annotations

import pytest


def test_syntax_error_points_at_the_error_line(workspace) -> None:
    workspace.write(
        "tests/unit/test_broken.py",
        """
        def test_ok():
            assert 1 + 1 == 2

        x = [1, 2
        def test_never_runs():
            assert True
        """,
    )
    findings = workspace.findings("NC001")
    assert len(findings) == 1
    assert findings[0].path == "tests/unit/test_broken.py"
    assert findings[0].line in (4, 5)
    assert "does not parse" in findings[0].message


def test_null_bytes_are_a_parse_error(workspace) -> None:
    path = workspace.write("tests/unit/test_nul.py", "x = 1\n")
    path.write_bytes(b"def test_x():\n    assert f(\x00)\n")
    assert workspace.lines("NC001") == [("tests/unit/test_nul.py", 1)]


def test_syntax_error_outside_test_code_is_not_reported(workspace) -> None:
    workspace.write("src/app/broken.py", "def f(:\n")
    assert workspace.findings("NC001") == []


@pytest.mark.parametrize(
    ("source", "line"),
    [
        (
            """
            class TestCart:
                def __init__(self):
                    self.items = []

                def test_empty(self):
                    assert self.items == []
            """,
            1,
        ),
        (
            """
            def test_cases():
                for n in range(3):
                    yield check, n
            """,
            1,
        ),
        (
            """
            def test_twice():
                assert len("a") == 1

            def test_twice():
                assert len("ab") == 2
            """,
            1,
        ),
    ],
    ids=["init-class", "generator-test", "shadowed-test"],
)
def test_uncollectable_tests(workspace, source: str, line: int) -> None:
    workspace.write("tests/unit/test_sample.py", source)
    assert workspace.lines("NC001") == [("tests/unit/test_sample.py", line)]


@pytest.mark.parametrize(
    "source",
    [
        """
        class TestCart:
            def setup_method(self):
                self.items = []

            def test_empty(self):
                assert self.items == []
        """,
        """
        import pytest

        @pytest.fixture
        def resource():
            yield 1

        def test_uses(resource):
            def inner():
                yield resource
            assert list(inner()) == [1]
        """,
        """
        class Helper:
            def __init__(self):
                self.value = 1
        """,
    ],
    ids=["setup-method", "yield-in-fixture-and-nested", "non-test-class-init"],
)
def test_collectable_code_is_clean(workspace, source: str) -> None:
    workspace.write("tests/unit/test_sample.py", source)
    assert workspace.findings("NC001") == []


def test_misnamed_test_module(workspace) -> None:
    workspace.write(
        "tests/unit/checks_for_auth.py",
        """
        def helper():
            return 1

        def test_login():
            assert helper() == 1
        """,
    )
    workspace.write("tests/unit/conftest.py", "def test_like_name_in_conftest():\n    pass\n")
    assert workspace.lines("NC001") == [("tests/unit/checks_for_auth.py", 4)]


def test_pytest_python_files_setting_is_respected(workspace) -> None:
    workspace.write(
        "pyproject.toml",
        """
        [tool.pytest.ini_options]
        python_files = ["check_*.py"]
        """,
    )
    workspace.write("tests/unit/check_auth.py", "def test_login():\n    assert 2 > 1\n")
    assert workspace.findings("NC001") == []
