"""NC001 uncollectable-test: a test file or test that pytest never runs.

What it does:
    Reports test code that pytest cannot collect, so its tests silently never run:
    a file that does not parse under the Python running the check (reported on the
    line of the syntax error, the message names the Python version) or is too
    deeply nested for Python to compile; a test
    class named `Test*` with an `__init__` (pytest skips the whole class with only
    a warning); a test that is a generator (`yield` tests were removed from pytest);
    a test defined twice in one module (the first definition is shadowed); and
    test functions in a module under a test folder whose name pytest does not
    collect (`helpers_test_auth.py` instead of `test_auth.py`).

Why is this bad?
    Nothing fails. The suite stays green while the file or class contributes zero
    tests, which is the quietest way for coverage to disappear.

Example:
    ```python
    class TestLogin:
        def __init__(self):
            self.client = make_client()

        def test_rejects_bad_password(self):
            assert self.client.login("ann", "wrong").status_code == 401
    ```

Use instead:
    ```python
    @pytest.fixture
    def client():
        return make_client()

    def test_rejects_bad_password(client):
        assert client.login("ann", "wrong").status_code == 401
    ```
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from netra_check.context import Definition, FileContext, matches_option
from netra_check.model import Finding, Rule

_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_YIELDS = (ast.Yield, ast.YieldFrom)


def _yields_itself(test: Definition) -> bool:
    """A `yield` statement in the test's own body (not a nested function's) makes it a generator.

    Only statement-level yields (`yield x`, `y = yield x`) are looked at, which is
    how generator tests are written, so the expressions need no walk.
    """
    nested_lines: set[int] = set()
    for stmt in test.statements:
        if isinstance(stmt, _NESTED_SCOPES):
            nested_lines.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
            continue
        value = getattr(stmt, "value", None)
        if isinstance(value, _YIELDS) and stmt.lineno not in nested_lines:
            return True
    return False


class UncollectableTest(Rule):
    """See the module docstring."""

    id = "NC001"
    name = "uncollectable-test"
    summary = "test files and tests that pytest cannot collect"
    hint = "fix the syntax error / rename the file or test / drop __init__ so pytest collects it"

    def check_file(self, ctx: FileContext) -> Iterator[Finding]:
        """Parse errors, generator tests, `__init__` test classes, shadowed tests, bad names."""
        role = ctx.role
        if not role.is_test_code:
            return
        if ctx.parse_error is not None:
            error = ctx.parse_error
            yield ctx.finding(
                self, error.line, f"file does not parse ({error.message}); none of its tests run"
            )
            return
        yield from self._generator_tests(ctx)
        yield from self._init_classes(ctx)
        yield from self._shadowed_tests(ctx)
        if not role.is_test_file:
            yield from self._misnamed_module(ctx)

    def _generator_tests(self, ctx: FileContext) -> Iterator[Finding]:
        for test in ctx.tests:
            if _yields_itself(test):
                yield ctx.test_finding(
                    self, test, f"test {test.qualname!r} is a generator; pytest does not run it"
                )

    def _init_classes(self, ctx: FileContext) -> Iterator[Finding]:
        if not ctx.role.is_test_file:
            return
        for definition in ctx.definitions:
            if definition.kind != "class" or not matches_option(
                definition.name, ctx.config.python_classes
            ):
                continue
            node = definition.node
            assert isinstance(node, ast.ClassDef)
            if any(
                isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__" for stmt in node.body
            ):
                yield ctx.finding(
                    self,
                    node.lineno,
                    f"class {definition.qualname!r} defines __init__, so pytest skips all "
                    "of its tests",
                    anchor=f"{definition.qualname}|__init__",
                    span=definition.span,
                )

    def _shadowed_tests(self, ctx: FileContext) -> Iterator[Finding]:
        seen: dict[str, Definition] = {}
        for test in ctx.tests:
            earlier = seen.get(test.qualname)
            if earlier is not None:
                yield ctx.finding(
                    self,
                    earlier.line,
                    f"test {earlier.qualname!r} is defined again on line {test.line}; "
                    "this first definition never runs",
                    anchor=f"{earlier.qualname}|shadowed",
                    span=earlier.span,
                )
            seen[test.qualname] = test

    def _misnamed_module(self, ctx: FileContext) -> Iterator[Finding]:
        basename = ctx.rel.rsplit("/", 1)[-1]
        if basename in {"conftest.py", "__init__.py"}:
            return
        # Only functions that check something: SQLAlchemy's mypy inputs under
        # test/typing/plain_files have `test_*` functions that are never meant to run.
        matcher = ctx.assertion_matcher
        names = [
            d
            for d in ctx.definitions
            if d.kind == "function" and d.name.startswith("test_") and d.asserts(matcher)
        ]
        if names:
            patterns = ", ".join(ctx.config.test_file_patterns)
            first = names[0]
            yield ctx.finding(
                self,
                first.line,
                f"{len(names)} test function(s) in a module whose name does not match "
                f"{patterns}; pytest never collects them",
                anchor="misnamed-module",
                span=first.span,
            )
