"""NC002 placeholder-test: a test whose body cannot fail.

What it does:
    Reports tests whose body is empty or a stand-in: only a docstring or comments,
    `pass`, `...`, only assertions that are always true (`assert True`, a truthy
    constant, the always-true `assert (x, "message")`, `assert x == x`,
    `assert f() or True`, `self.assertTrue(True)`, `self.assertEqual(1, 1)`), only
    `raise NotImplementedError`, or a test that is skipped unconditionally
    (`@pytest.mark.skip`, `@unittest.skip`, `skipif(True)`, or a first statement
    `pytest.skip(...)` / `self.skipTest(...)`). `assert False, "TODO"` is not a
    placeholder: it always fails. A `skipif` with a string condition is evaluated
    by pytest, so it is not unconditional. A test of a class pytest does not
    collect itself (a base class, a suite class in a helper module) is reported
    at its definition when a collected class inherits it.

Why is this bad?
    A placeholder counts as a passing (or skipped) test in every report while it
    checks nothing. It tells readers a behaviour is covered when it is not.

Example:
    ```python
    def test_refresh_token_rotates():
        # TODO: write this once the token store lands
        pass

    @pytest.mark.skip(reason="flaky")
    def test_reconnect_resumes_stream(client):
        ...
    ```

Use instead:
    ```python
    def test_refresh_token_rotates(auth):
        first = auth.refresh("ann")
        assert auth.refresh("ann") != first
    ```
    Delete tests you cannot write yet, or track them in an issue, not in the suite.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from netra_check.astutil import (
    body_without_docstring,
    dotted_name,
    is_fixture,
    is_tautological_call,
    is_tautology,
)
from netra_check.classes import run_by
from netra_check.context import Definition, FileContext, matches_option, module_names
from netra_check.model import Finding, Rule
from netra_check.project import Project

# Names after resolving imports (`FileContext.qualified`): a `skip` imported from
# elsewhere (SQLAlchemy's `skip(db)`) is conditional and does not count.
_SKIP_DECORATORS = frozenset({"pytest.mark.skip", "unittest.skip"})
_SKIPIF_DECORATORS = frozenset({"pytest.mark.skipif", "unittest.skipIf"})
_SKIP_CALLS = frozenset({"pytest.skip", "self.skipTest", "pytest.xfail", "self.skip"})
_SKIP_EXCEPTIONS = frozenset({"unittest.SkipTest", "pytest.skip.Exception"})


def _skipif_condition(dec: ast.Call) -> ast.expr | None:
    """The condition of `skipif(condition, ...)`, positional or `condition=`."""
    if dec.args:
        return dec.args[0]
    return next((kw.value for kw in dec.keywords if kw.arg == "condition"), None)


def _always_true(condition: ast.expr | None) -> bool:
    """A truthy constant that is not a string: pytest evaluates a string condition as code."""
    return (
        isinstance(condition, ast.Constant)
        and not isinstance(condition.value, str)
        and bool(condition.value)
    )


def _skip_decorator(node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: FileContext) -> str | None:
    for dec in node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        name = ctx.qualified(target)
        if name in _SKIP_DECORATORS:
            return f"@{name}"
        if name in _SKIPIF_DECORATORS and isinstance(dec, ast.Call):
            condition = _skipif_condition(dec)
            if _always_true(condition):
                assert isinstance(condition, ast.Constant)
                return f"@{name}({condition.value!r})"
    return None


def _is_noop(stmt: ast.stmt) -> bool:
    """`pass`, `...` and bare string statements (comment-like) do nothing."""
    return isinstance(stmt, ast.Pass) or (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and (stmt.value.value is Ellipsis or isinstance(stmt.value.value, str))
    )


def _raises_not_implemented(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.Raise) or stmt.exc is None:
        return False
    exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
    return dotted_name(exc) == "NotImplementedError"


def _skips(stmt: ast.stmt, ctx: FileContext) -> bool:
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        return ctx.qualified(stmt.value.func) in _SKIP_CALLS
    if isinstance(stmt, ast.Raise) and stmt.exc is not None:
        exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
        return ctx.qualified(exc) in _SKIP_EXCEPTIONS
    return False


def _always_passes(stmt: ast.stmt) -> bool:
    """`assert True`, `assert x == x`, `self.assertTrue(True)`, `self.assertEqual(1, 1)`."""
    if isinstance(stmt, ast.Assert):
        return is_tautology(stmt.test)
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and is_tautological_call(stmt.value)
    )


def placeholder_reason(test: Definition, ctx: FileContext) -> str | None:
    """Why a test is a placeholder, or None if its body can do real work."""
    node = test.function
    decorator = _skip_decorator(node, ctx)
    if decorator is not None:
        return f"is skipped unconditionally by {decorator}"
    body = body_without_docstring(node.body)
    if not body:
        return "has only a docstring"
    if _skips(body[0], ctx):
        return "skips unconditionally before doing anything"
    meaningful = [stmt for stmt in body if not _is_noop(stmt)]
    if not meaningful:
        return "has an empty body (pass, ..., comments or a docstring only)"
    if all(_always_passes(stmt) for stmt in meaningful):
        return "only asserts something that is always true, so it cannot fail"
    if len(meaningful) == 1 and _raises_not_implemented(meaningful[0]):
        return "only raises NotImplementedError"
    return None


def is_inherited_test(definition: Definition, ctx: FileContext) -> bool:
    """A test-named method of a class pytest does not collect where it is defined (a base
    class, a suite class in a helper module): a test in each collected class that inherits
    it, which the project pass finds (`ClassIndex.runners`)."""
    return (
        not definition.is_test
        and definition.kind == "method"
        and ctx.role.is_support
        and (
            matches_option(definition.name, ctx.config.python_functions)
            or definition.name.startswith("test")
        )
        and not is_fixture(definition.function)
    )


class PlaceholderTest(Rule):
    """See the module docstring."""

    id = "NC002"
    name = "placeholder-test"
    summary = "placeholder tests: empty, pass, ..., assert True, unconditional skip"
    hint = "write the assertion the test's name promises, or delete the test"

    def check_file(self, ctx: FileContext) -> Iterator[Finding]:
        """One finding per placeholder test, on its `def` line."""
        for test in ctx.tests:
            reason = placeholder_reason(test, ctx)
            if reason is not None:
                yield ctx.test_finding(self, test, f"test {test.qualname!r} {reason}")

    def collect(self, ctx: FileContext) -> list[tuple[str, int, tuple[int, int], str]] | None:
        """Placeholders among the tests of classes that are collected only where inherited."""
        found = []
        for definition in ctx.definitions:
            if is_inherited_test(definition, ctx):
                reason = placeholder_reason(definition, ctx)
                if reason is not None:
                    found.append((definition.qualname, definition.line, definition.span, reason))
        return found or None

    def check_project(self, project: Project) -> Iterator[Finding]:
        """The inherited placeholders that some collected class runs, at their definition."""
        for path, found in project.facts(self.id):
            module = module_names(path)
            for qualname, line, span, reason in found:
                owner, _, name = qualname.rpartition(".")
                if not module:
                    continue
                key = f"{module[-1]}.{owner}"
                runs = project.classes.runners(key, name)
                if runs:
                    where = run_by(runs, key)
                    yield Finding(
                        rule_id=self.id,
                        path=path,
                        line=line,
                        message=f"test {qualname!r}{where} {reason}",
                        anchor=f"{qualname}|def",
                        span_start=span[0],
                        span_end=span[1],
                    )
