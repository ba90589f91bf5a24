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
    function or class of the test module itself. The project's own modules that
    test code imports (under the root, `src/` or `lib/`, and the modules they
    import in turn) are indexed by their dotted names only, even outside the
    testing packages, each when a call first needs it: `Checker().verify()` after
    `from mypkg.checks import Checker` is that method (or that of the first of its
    bases defining it), followed into the functions it calls. That is production
    code, whose `assert` states an invariant: there, an `assert` statement is not a check (an
    assertion call or `raise AssertionError` is), so `Order().process()` and
    `self.order.process()` check nothing however `process` asserts, and a function
    of such a module that a test calls directly (`process_order()`) is not
    followed; declare a package of test helpers in `support_paths` to have its
    `assert` count. `self.check()` (and `cls.check()`)
    is the method of the class the test runs in or of the first of its bases that
    defines it, bases followed through the imports and re-exports, and so are the
    `self` calls of that method in turn: an unrelated class's `check` neither hides
    nor supplies an assertion, and a subclass's override is the one that runs.
    `self.checker.verify()` is the `verify` of the attribute's class, found the
    same way, when the class the test runs in (or the first of its bases that
    sets the attribute) gives it one scanned class: every assignment to it in the
    class body or any method builds that class (`self.checker = Checker()` in
    `setUp`, `setup_method` or `__init__`; an annotation alone does not count:
    `checker: Verifier` may name a base or a Protocol of the class that runs);
    otherwise `verify` is followed by name.
    A method no known class defines is unknown: it asserts only if its name says
    so; in a class with a base that could be any of several classes of its name,
    methods are followed by name. Tests of a class pytest does not collect itself
    (a base class, a suite class in a helper module) are analysed for every
    collected class that inherits them, and reported at their definition when they
    assert in none of them; a set-up hook that registers an asserting callback
    (`@compiles(...)` in `setup_test_class`) counts for the tests of its class, and
    a helper that calls a parameter runs that parameter's default
    (`compare(result, expected)` with `compare=expect_equal`) and the function a
    caller passes for it (`run_case(data, check=assert_valid)`,
    `retry(assert_ready)`): a function named through the imports or defined in the
    calling module, or a method on `self` (a name not written like a class),
    passed by position or keyword to a helper whose own body calls that parameter
    (one that only hands it on to another call does not count; nor does a call
    from a test or helper whose statements call an `assert_*`-looking name, which
    is judged by those). Other helpers are followed by name through every
    function, fixture and test in the scanned test code and testing packages,
    transitively (a test that calls `check_reply()` which
    calls `assert_event_order()` is fine, and so is one that calls
    `self.test_other()`).
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
from netra_check.classes import run_by
from netra_check.context import Definition, FileContext, module_names
from netra_check.model import Finding, Rule
from netra_check.project import Project
from netra_check.rules.nc002_placeholder import is_inherited_test, placeholder_reason

# A test with no assertion of its own, which passes only if a helper it calls asserts:
# (qualname, line, span, callees, collected where it is defined, calls a method on self).
# The fifth is False for a test method of a class pytest does not collect itself (a base
# class, a suite class in a helper module): it is a test only in the collected classes
# that inherit it. Only the tests that call methods on `self` depend on the class they
# run in. A plain
# tuple: the cache loads it several times faster than a NamedTuple, and a large suite has
# tens of thousands.
Candidate = tuple[str, int, tuple[int, int], tuple[str, ...], bool, bool]


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
        """The tests with no direct assertion, and in support code the test-named methods of
        classes that are not collected themselves (their subclasses may be); the project
        pass follows their helpers."""
        candidates = []
        matcher = ctx.assertion_matcher
        hooked = _classes_with_checking_hooks(ctx)
        for test in ctx.definitions:
            if not test.is_test and not is_inherited_test(test, ctx):
                continue
            if placeholder_reason(test, ctx) or _strict_xfail(test, ctx):
                continue
            if hooked and test.qualname.rpartition(".")[0] in hooked:
                continue
            state = test.assertion_state(matcher)
            if state is True:
                continue
            method = test.kind == "method"
            callees = ctx.qualify(reached_names(test, state), method=method)
            bound = (
                ()
                if isinstance(state, tuple)
                else ctx.bound_calls(test.live_calls(), method=method)
            )
            if bound:  # `retry(assert_ready)`: followed if `retry` calls that parameter
                callees = tuple(sorted({*callees, *bound}))
            on_self = any(c.startswith("self.") for c in callees)
            candidates.append((test.qualname, test.line, test.span, callees, test.is_test, on_self))
        return candidates or None

    def check_project(self, project: Project) -> Iterator[Finding]:
        """Report the candidates none of whose helpers assert, in any class that runs them."""
        reaches = project.reaches_assertion
        for path, candidates in project.facts(self.id):
            module = module_names(path)
            for qualname, line, span, callees, collected, on_self in candidates:
                owner, _, name = qualname.rpartition(".")
                if not owner or not module:  # a test function
                    if collected and not reaches(callees):
                        yield _finding(path, qualname, line, span, "")
                    continue
                key = f"{module[-1]}.{owner}"
                if collected and reaches(callees, key):
                    continue
                if collected and not on_self:
                    yield _finding(path, qualname, line, span, "")
                    continue
                runs = project.classes.runners(key, name)
                if not collected and not runs:
                    continue  # no collected class runs it
                if not collected and not on_self:
                    if reaches(callees):
                        continue
                elif any(reaches(callees, r) for r in runs if not (collected and r == key)):
                    continue  # (the class itself, when collected, was asked above)
                yield _finding(path, qualname, line, span, "" if collected else run_by(runs, key))


# Set-up methods that run around every test of their class.
SETUP_HOOKS = frozenset(
    {"setup_method", "setup_class", "setUp", "setUpClass", "setup_test", "setup_test_class"}
)


def _classes_with_checking_hooks(ctx: FileContext) -> set[str]:
    """Classes whose set-up registers a callback that asserts (`@compiles(...)` or an event
    listener defined in `setup_test_class`): a library calls it while each test runs, so
    the check is part of every test of the class (SQLAlchemy's KwargPropagationTest)."""
    found: set[str] = set()
    for definition in ctx.definitions:
        if definition.kind != "method" or definition.name not in SETUP_HOOKS:
            continue
        for node in ast.walk(definition.function):
            if (
                node is not definition.node
                and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and node.decorator_list
                and any(isinstance(inner, ast.Assert) for inner in ast.walk(node))
            ):
                found.add(definition.qualname.rpartition(".")[0])
                break
    return found


def _finding(path: str, qualname: str, line: int, span: tuple[int, int], where: str) -> Finding:
    return Finding(
        rule_id=AssertionFreeTest.id,
        path=path,
        line=line,
        message=f"test {qualname!r}{where} asserts nothing, and no helper or "
        "fixture it calls asserts",
        anchor=f"{qualname}|def",
        span_start=span[0],
        span_end=span[1],
    )
