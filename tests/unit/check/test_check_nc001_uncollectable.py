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


def test_parse_error_names_the_python_version(workspace) -> None:
    import sys

    workspace.write("tests/unit/test_broken.py", "def test_x(:\n    pass\n")
    (finding,) = workspace.findings("NC001")
    assert f"under Python {sys.version_info[0]}.{sys.version_info[1]}" in finding.message


def deep_sum(terms: int) -> str:
    return "def test_deep():\n    assert " + "+".join(["1"] * terms) + "\n"


def test_deep_expression_python_parses_does_not_crash_the_run(workspace) -> None:
    workspace.write("tests/unit/test_deep.py", deep_sum(1500))
    workspace.write("tests/unit/test_todo.py", "def test_todo():\n    pass\n")
    findings = workspace.findings()
    assert [(f.rule_id, f.path) for f in findings] == [("NC002", "tests/unit/test_todo.py")]


@pytest.mark.parametrize("terms", [5000, 50000])
def test_expression_too_deep_to_parse_is_a_parse_problem(workspace, terms: int) -> None:
    workspace.write("tests/unit/test_deep.py", deep_sum(terms))
    workspace.write("tests/unit/test_todo.py", "def test_todo():\n    pass\n")
    findings = workspace.findings()
    assert [(f.rule_id, f.path, f.line) for f in findings] == [
        ("NC001", "tests/unit/test_deep.py", 1),
        ("NC002", "tests/unit/test_todo.py", 1),
    ]
    assert "too deeply nested to analyse" in findings[0].message


def test_recursion_in_a_rule_is_reported_not_raised(workspace, monkeypatch) -> None:
    from netra_check.rules.nc007_direct_environ import DirectEnviron

    def explode(self, ctx):
        if ctx.rel.endswith("test_deep.py"):
            raise RecursionError("maximum recursion depth exceeded")
        return iter(())

    monkeypatch.setattr(DirectEnviron, "check_file", explode)
    workspace.write("tests/unit/test_deep.py", "def test_x():\n    assert f() == 1\n")
    workspace.write("tests/unit/test_todo.py", "def test_todo():\n    pass\n")
    findings = workspace.findings()
    assert [(f.rule_id, f.path, f.line) for f in findings] == [
        ("NC001", "tests/unit/test_deep.py", 1),
        ("NC002", "tests/unit/test_todo.py", 1),
    ]
    assert "too deeply nested to analyse" in findings[0].message


def test_deep_trees_do_not_exhaust_the_stack() -> None:
    import ast

    from netra_check.astutil import is_constant_expr, is_tautology
    from netra_check.rules.nc009_duplicated_orchestration import normalised_digest

    deep: ast.expr = ast.Constant(1)
    for _ in range(20000):
        deep = ast.BinOp(deep, ast.Add(), ast.Constant(1))
    assert is_constant_expr(deep)
    assert not is_constant_expr(ast.BinOp(deep, ast.Add(), ast.Name("x", ast.Load())))
    assert not is_tautology(ast.BoolOp(ast.Or(), [deep, deep]))
    function = ast.parse("def helper():\n    x = 1\n").body[0]
    assert isinstance(function, ast.FunctionDef)
    function.body.append(ast.Expr(deep))
    assert normalised_digest(function) is None
