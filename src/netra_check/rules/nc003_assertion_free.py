"""NC003 assertion-free-test: a test that calls code but checks nothing.

What it does:
    Reports tests with no assertion: no `assert` that can fail (`assert True`,
    `assert x == x` or `assert f() or True` cannot; `assert False, "msg"` always
    fails, so it counts), no `pytest.raises` / `pytest.warns` / `pytest.fail`, no
    `self.assert*` (other than on constants or the same argument twice), no mock
    `assert_*` call, no `raise AssertionError`, and no call to a helper or fixture
    that asserts. Assertions that never run do not count: after `return` in the
    same block, under `if False:`, in a nested function nobody calls, and a bare
    `pytest.raises(E)` statement that is never entered. A helper named through
    the imports is followed to that module's definition: `check_reply()` after
    `from tests.logs import check_reply`, `logs.check_reply()` after `from tests
    import logs`, `Checker().verify()` after `from tests.checks import Checker`
    are those functions and that method, not others of the same name; so is a
    function or class of the test module itself. Other helpers are
    followed by name through every function, fixture and test in the scanned test
    code and testing packages, transitively (a test that calls `check_reply()` which calls
    `assert_event_order()` is fine, and so is one that calls `self.test_other()`).
    A method called on an object the scanner cannot type is not followed when its
    name is a built-in container's (`session.pop()`, `items.append()`), so a class
    that happens to define an asserting `append` hides nothing. Library helpers
    that fail the test count wherever they are called: pytester's `fnmatch_lines`,
    `no_fnmatch_line`, `re_match_lines`, `assertoutcome`, `assert_outcomes`,
    pexpect's `expect`, `subprocess.check_call` / `check_output`, numpy.testing and
    pandas.testing `assert_*`. A strict `xfail` (`strict=True`, or pytest's
    `xfail_strict = true`) fails unless the test raises, so it counts. A name
    that only looks like an assertion (`assert_*`, `assertX`) counts when the
    repository does not define it (a library helper such as `assert_frame_equal`);
    a helper the repository defines is judged by its body. Names listed in
    `assertion_helpers` (globs allowed) always count.

Why is this bad?
    The test passes as long as nothing raises. A wrong return value, a missing
    event or a swapped field all go unnoticed, so the test cannot fail when the
    behaviour it names breaks.

Example:
    ```python
    async def test_agent_streams_reply(client):
        await client.send("hello")
        await client.receive_all()
    ```

Use instead:
    ```python
    async def test_agent_streams_reply(client):
        await client.send("hello")
        events = await client.receive_all()
        assert [e.type for e in events][-1] == "agent_completed"
    ```
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from netra_check.astutil import callee_name, callee_ref, parameter_names
from netra_check.context import Definition, FileContext
from netra_check.model import Finding, Rule
from netra_check.project import Project
from netra_check.rules.nc002_placeholder import placeholder_reason

# A test with no assertion of its own, which passes only if a helper it calls asserts:
# (qualname, line, span, callees). A plain tuple: the cache loads it several times faster
# than a NamedTuple, and a large suite has tens of thousands.
Candidate = tuple[str, int, tuple[int, int], tuple[str, ...]]


def reached_names(test: Definition, state: bool | tuple[str, ...] = False) -> set[str]:
    """Names a test reaches: the functions it calls and the fixtures it requests.

    `state` is the test's `assertion_state`: when it is a tuple of names, those
    are the calls that matter and the expressions need no walk.
    """
    if isinstance(state, tuple):
        names = set(state)
    else:
        names = {name for call in test.live_calls() if (name := callee_ref(call))}  # type: ignore[arg-type]
    names.update(parameter_names(test.function))
    for dec in test.function.decorator_list:
        if isinstance(dec, ast.Call) and callee_name(dec) == "usefixtures":
            names.update(
                arg.value
                for arg in dec.args
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            )
    return names


def _strict_xfail(test: Definition, ctx: FileContext) -> bool:
    """A strict `xfail` (`strict=True`, or pytest's `xfail_strict` setting): the test fails
    if its body runs without raising."""
    default = ctx.config.pytest.get("xfail_strict", ("false",))[0].lower() in ("true", "1")
    for dec in test.function.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        if ctx.qualified(target) != "pytest.mark.xfail":
            continue
        keywords = dec.keywords if isinstance(dec, ast.Call) else []
        strict = next((k.value for k in keywords if k.arg == "strict"), None)
        if isinstance(strict, ast.Constant):
            return strict.value is True
        return default
    return False


class AssertionFreeTest(Rule):
    """See the module docstring."""

    id = "NC003"
    name = "assertion-free-test"
    summary = "tests that assert nothing, directly or through a helper"
    hint = "assert on the result, or call a helper that asserts (declare it in assertion_helpers)"

    def collect(self, ctx: FileContext) -> list[Candidate] | None:
        """The tests with no direct assertion; the project pass follows their helpers."""
        candidates = []
        matcher = ctx.assertion_matcher
        for test in ctx.tests:
            if placeholder_reason(test, ctx) or _strict_xfail(test, ctx):
                continue
            state = test.assertion_state(matcher)
            if state is True:
                continue
            callees = ctx.qualify(reached_names(test, state))
            candidates.append((test.qualname, test.line, test.span, callees))
        return candidates or None

    def check_project(self, project: Project) -> Iterator[Finding]:
        """Report the candidates none of whose helpers assert."""
        for path, candidates in project.facts(self.id):
            for qualname, line, span, callees in candidates:
                if project.reaches_assertion(callees):
                    continue
                yield Finding(
                    rule_id=self.id,
                    path=path,
                    line=line,
                    message=f"test {qualname!r} asserts nothing, and no helper or "
                    "fixture it calls asserts",
                    anchor=f"{qualname}|def",
                    span_start=span[0],
                    span_end=span[1],
                )
