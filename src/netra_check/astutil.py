"""Small, fast helpers over `ast` nodes shared by the engine and the rules."""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

# For each node class, the fields that may hold child nodes. `ctx` (Load/Store) is
# skipped: it is a leaf shared by every Name and walking it costs a third of the time.
_SKIP_FIELDS = frozenset({"ctx", "type_comment", "kind", "type_ignores"})
CHILD_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f for f in cls._fields if f not in _SKIP_FIELDS)
    for cls in (getattr(ast, name) for name in dir(ast))
    if isinstance(cls, type) and issubclass(cls, ast.AST)
}

# Node types the engine files per owner (test, helper, class body, module) in its one walk.
INDEXED_TYPES: tuple[type[ast.AST], ...] = (
    ast.Call,
    ast.Attribute,
    ast.Assert,
    ast.Import,
    ast.ImportFrom,
    ast.Raise,
    ast.Yield,
    ast.YieldFrom,
)

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
Buckets = dict[type, list[ast.AST]]


def new_buckets() -> Buckets:
    """An empty per-owner index, one list per indexed node type."""
    return {t: [] for t in INDEXED_TYPES}


def index_nodes(
    roots: Iterable[ast.AST], buckets: Buckets, skip: frozenset[int] | None = None
) -> None:
    """Walk every node under `roots` once, appending the indexed types to `buckets`.

    Subtrees whose root's `id()` is in `skip` are left out (see `split_live`).
    """
    if skip:
        _index_nodes_skipping(roots, buckets, skip)
        return
    fields = CHILD_FIELDS
    stack: list[object] = list(roots)
    pop = stack.pop
    push = stack.append
    extend = stack.extend
    get_bucket = buckets.get
    while stack:
        node = pop()
        node_type = type(node)
        names = fields.get(node_type)
        if names is None:
            continue
        bucket = get_bucket(node_type)
        if bucket is not None:
            bucket.append(node)  # type: ignore[arg-type]
        for name in names:
            value = getattr(node, name, None)
            if type(value) is list:
                extend(value)
            elif value is not None and type(value) in fields:
                push(value)


def _index_nodes_skipping(roots: Iterable[ast.AST], buckets: Buckets, skip: frozenset[int]) -> None:
    fields = CHILD_FIELDS
    stack: list[object] = list(roots)
    while stack:
        node = stack.pop()
        names = fields.get(type(node))
        if names is None or id(node) in skip:
            continue
        bucket = buckets.get(type(node))
        if bucket is not None:
            bucket.append(node)  # type: ignore[arg-type]
        for name in names:
            value = getattr(node, name, None)
            if type(value) is list:
                stack.extend(value)
            elif value is not None and type(value) in fields:
                stack.append(value)


def dotted_name(node: ast.AST) -> str | None:
    """`os.environ` for `Attribute(Name('os'), 'environ')`; None for anything dynamic."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    if isinstance(node, ast.Call):
        # `pytest.mark.skip(...)` used as a decorator: name the called thing.
        inner = dotted_name(node.func)
        if inner is not None:
            parts.append(inner)
            return ".".join(reversed(parts))
    return None


def callee_name(call: ast.Call) -> str | None:
    """The last component of what is called: `assert_called` for `m.assert_called()`."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


# Methods of the built-in containers and strings. `session.pop(k)` or `items.append(x)`
# on an object the scanner cannot type is almost never a helper of the repository, so
# such a call is not followed to whichever class happens to define a method of that name.
BUILTIN_METHODS = frozenset(
    name
    for kind in (list, dict, set, frozenset, tuple, str, bytes, bytearray, int)
    for name in dir(kind)
    if not name.startswith("_")
)


def callee_ref(call: ast.Call) -> str | None:
    """The name a call is followed by: a plain name, a method on `self`/`cls` (`self.name`
    for both) or on one of their attributes (`self.attr.name`), the dotted
    name of an attribute of a name (`checks.verify`, `Checker().verify`: the file's
    imports decide what its head is, see `FileContext.qualify`), or a method on another
    object unless it is a built-in container's method (see BUILTIN_METHODS)."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        owner = func.value
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            return "self." + func.attr  # resolved through the receiver's class, see Project
        if (
            isinstance(owner, ast.Attribute)
            and isinstance(owner.value, ast.Name)
            and owner.value.id in ("self", "cls")
        ):
            # `self.checker.verify()`: through the class of the attribute when it is known
            return f"self.{owner.attr}.{func.attr}"
        dotted = dotted_name(func)
        if dotted is not None:
            return dotted
        return None if func.attr in BUILTIN_METHODS else func.attr
    return None


def last_part(name: str) -> str:
    """`verify` for `tests.checks.verify`."""
    return name.rpartition(".")[2]


def is_constant_expr(node: ast.expr) -> bool:
    """True when the expression is built from constants only (its value cannot vary).

    Iterative, so a pathologically deep expression (`1+1+...+1`) cannot exhaust the stack.
    """
    stack: list[ast.AST] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Constant | ast.Tuple):
            continue  # a non-empty tuple is truthy whatever it holds
        if isinstance(current, ast.List | ast.Set):
            stack.extend(current.elts)
        elif isinstance(current, ast.UnaryOp):
            stack.append(current.operand)
        elif isinstance(current, ast.BoolOp):
            stack.extend(current.values)
        elif isinstance(current, ast.BinOp):
            stack.extend((current.left, current.right))
        elif isinstance(current, ast.Compare):
            stack.append(current.left)
            stack.extend(current.comparators)
        else:
            return False
    return True


# Expressions deeper than this are not evaluated for truth (they are never tautologies).
_TRUTH_DEPTH = 64
_SIMPLE_CONSTANTS = (int, float, complex, str, bytes, bool, type(None))
_SINGLETONS = (None, True, False, Ellipsis)
_COMPARISONS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
# Comparisons that hold whenever both sides are the same expression.
_REFLEXIVE = (ast.Eq, ast.Is, ast.LtE, ast.GtE)
# Nodes whose value may differ each time they are evaluated: `f() == f()` can fail.
_IMPURE = (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)
_NO_VALUE = object()


def _constant_value(node: ast.AST) -> Any:
    """The value of a plain constant (or a signed number), else `_NO_VALUE`."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = node.operand
        if not isinstance(operand, ast.Constant):
            return _NO_VALUE
        number = operand.value
        if type(number) not in (int, float, complex):  # not bool: `-True` is a trick
            return _NO_VALUE
        assert isinstance(number, int | float | complex)
        return -number if isinstance(node.op, ast.USub) else number
    if isinstance(node, ast.Constant) and isinstance(node.value, _SIMPLE_CONSTANTS):
        return node.value
    return _NO_VALUE


def same_pure_expr(left: ast.AST, right: ast.AST) -> bool:
    """Whether two expressions are the same code and evaluating them has no effect.

    `x == x` and `a.b[0] == a.b[0]` are; `f() == f()` is not (each call may differ).
    Compared node by node without recursion, stopping at the first difference.
    """
    stack: list[tuple[Any, Any]] = [(left, right)]
    while stack:
        a, b = stack.pop()
        if type(a) is not type(b):
            return False
        if isinstance(a, ast.AST):
            if isinstance(a, _IMPURE):
                return False
            if isinstance(a, ast.Constant):
                if type(a.value) is not type(b.value) or a.value != b.value:
                    return False
                continue
            for name in CHILD_FIELDS.get(type(a), a._fields):
                stack.append((getattr(a, name, None), getattr(b, name, None)))
        elif isinstance(a, list):
            if len(a) != len(b):
                return False
            stack.extend(zip(a, b, strict=True))
        elif a != b:
            return False
    return True


def _compare_truth(op: ast.cmpop, left: ast.expr, right: ast.expr) -> bool | None:
    """The result of `left <op> right` when it cannot depend on the code under test."""
    a, b = _constant_value(left), _constant_value(right)
    if a is not _NO_VALUE and b is not _NO_VALUE:
        if isinstance(op, ast.Is | ast.IsNot):
            if a not in _SINGLETONS or b not in _SINGLETONS:
                return None
            same = a is b
            return same if isinstance(op, ast.Is) else not same
        function = _COMPARISONS.get(type(op))
        if function is None:
            return None
        try:
            return bool(function(a, b))
        except (TypeError, ValueError):
            return None
    if isinstance(op, _REFLEXIVE) and same_pure_expr(left, right):
        return True
    return None


def truth_value(node: ast.expr, depth: int = 0) -> bool | None:
    """True or False when the expression's truth cannot depend on the code under test.

    Constants (`True`, `0`, `"x"`), displays (a non-empty tuple is truthy whatever it
    holds), `not` of those, `x or True`, comparisons of constants and of an
    expression with itself (`x == x`). None when the value is unknown.
    """
    if depth > _TRUTH_DEPTH:
        return None
    if isinstance(node, ast.Constant):
        return bool(node.value)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        if any(not isinstance(e, ast.Starred) for e in node.elts):
            return True
        return False if not node.elts else None
    if isinstance(node, ast.Dict):
        if any(k is not None for k in node.keys):
            return True
        return False if not node.keys else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = truth_value(node.operand, depth + 1)
        return None if inner is None else not inner
    if isinstance(node, ast.BoolOp):
        values = [truth_value(v, depth + 1) for v in node.values]
        decisive = isinstance(node.op, ast.Or)  # `or` is true once any part is, `and` false
        if decisive in values:
            return decisive
        if all(v is (not decisive) for v in values):
            return not decisive
        return None
    if isinstance(node, ast.Compare):
        left = node.left
        result: bool | None = True
        for op, right in zip(node.ops, node.comparators, strict=True):
            step = _compare_truth(op, left, right)
            if step is False:
                return False
            if step is None:
                result = None
            left = right
        return result
    return None


def is_tautology(node: ast.expr) -> bool:
    """Whether `assert node` can never fail: `assert True`, `assert (x, "msg")`, `x == x`.

    A falsy constant is not a tautology: `assert False, "unreachable"` always fails,
    so it is a real assertion.
    """
    return truth_value(node) is True


def body_without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements of a body after a leading docstring."""
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        return body[1:]
    return body


_ASSERT_NAME = re.compile(r"assert(?:$|_|[A-Z])")
# Calls that count as an assertion whatever object they are called on.
ASSERTION_CALLS = frozenset(
    {
        "raises",
        "warns",
        "deprecated_call",
        "fail",
        "assertRaises",
        # pytest's pytester and LineMatcher: each fails the test when the output does not match
        "fnmatch_lines",
        "no_fnmatch_line",
        "re_match_lines",
        "no_re_match_line",
        "assertoutcome",
        "fnmatch_lines_random",
        "re_match_lines_random",
        # subprocess: raises CalledProcessError when the command fails
        "check_call",
        "check_output",
        # pexpect: raises TIMEOUT or EOF when the expected output never comes
        "expect",
        "expect_exact",
        "expect_list",
    }
)
# The assertion methods of unittest.TestCase: assertions whatever the repository defines
# (unless they check a constant, see `is_tautological_call`).
UNITTEST_ASSERTIONS = frozenset(
    {
        "assertAlmostEqual",
        "assertAlmostEquals",
        "assertCountEqual",
        "assertDictContainsSubset",
        "assertDictEqual",
        "assertEqual",
        "assertEquals",
        "assertFalse",
        "assertGreater",
        "assertGreaterEqual",
        "assertIn",
        "assertIs",
        "assertIsInstance",
        "assertIsNone",
        "assertIsNot",
        "assertIsNotNone",
        "assertLess",
        "assertLessEqual",
        "assertListEqual",
        "assertLogs",
        "assertMultiLineEqual",
        "assertNoLogs",
        "assertNotAlmostEqual",
        "assertNotAlmostEquals",
        "assertNotEqual",
        "assertNotEquals",
        "assertNotIn",
        "assertNotIsInstance",
        "assertNotRegex",
        "assertNotRegexpMatches",
        "assertRaisesRegex",
        "assertRaisesRegexp",
        "assertRegex",
        "assertRegexpMatches",
        "assertSequenceEqual",
        "assertSetEqual",
        "assertTrue",
        "assertTupleEqual",
        "assertWarns",
        "assertWarnsRegex",
        "assert_",
        "failIf",
        "failIfEqual",
        "failUnless",
        "failUnlessEqual",
    }
)
# The assertion methods of unittest.mock objects.
MOCK_ASSERTIONS = frozenset(
    {
        "assert_any_await",
        "assert_any_call",
        "assert_awaited",
        "assert_awaited_once",
        "assert_awaited_once_with",
        "assert_awaited_with",
        "assert_called",
        "assert_called_once",
        "assert_called_once_with",
        "assert_called_with",
        "assert_has_awaits",
        "assert_has_calls",
        "assert_not_awaited",
        "assert_not_called",
    }
)
NameMatcher = Callable[[str], bool]


def is_assert_name(name: str) -> bool:
    """Whether a called name only looks like an assertion helper (`assert_valid`, `assertOk`).

    Such names are not trusted per file: the project pass counts them as assertions
    only when the scanned repository does not define a helper of that name (then the
    helper's own body decides), see `Project.reaches_assertion`. The unittest and
    mock assertion methods are decided per call instead (`is_assertion_call`).
    """
    return (
        _ASSERT_NAME.match(name) is not None
        and name not in UNITTEST_ASSERTIONS
        and name not in MOCK_ASSERTIONS
        and name not in ASSERTION_CALLS
    )


_TRUTH_CHECKS = {
    "assertTrue": True,
    "assert_": True,
    "failUnless": True,
    "assertFalse": False,
    "failIf": False,
}
_EQ, _NOT_EQ = ast.Eq(), ast.NotEq()
_PAIR_CHECKS: dict[str, ast.cmpop] = {
    **dict.fromkeys(
        (
            "assertEqual",
            "assertEquals",
            "failUnlessEqual",
            "assertListEqual",
            "assertTupleEqual",
            "assertDictEqual",
            "assertSetEqual",
            "assertSequenceEqual",
            "assertMultiLineEqual",
            "assertCountEqual",
            "assertAlmostEqual",
            "assertAlmostEquals",
        ),
        _EQ,
    ),
    **dict.fromkeys(("assertNotEqual", "assertNotEquals", "failIfEqual"), _NOT_EQ),
    "assertIs": ast.Is(),
    "assertIsNot": ast.IsNot(),
    "assertIn": ast.In(),
    "assertNotIn": ast.NotIn(),
    "assertLess": ast.Lt(),
    "assertLessEqual": ast.LtE(),
    "assertGreater": ast.Gt(),
    "assertGreaterEqual": ast.GtE(),
}
_NONE_CHECKS: dict[str, ast.cmpop] = {"assertIsNone": ast.Is(), "assertIsNotNone": ast.IsNot()}
_NONE = ast.Constant(None)


def is_tautological_call(call: ast.Call) -> bool:
    """A unittest assertion that cannot fail: `assertTrue(True)`, `assertEqual(x, x)`."""
    name = callee_name(call)
    args = call.args
    if name is None or any(isinstance(a, ast.Starred) for a in args):
        return False
    expected = _TRUTH_CHECKS.get(name)
    if expected is not None:
        return bool(args) and truth_value(args[0]) is expected
    op = _PAIR_CHECKS.get(name)
    if op is not None:
        return len(args) >= 2 and _compare_truth(op, args[0], args[1]) is True
    op = _NONE_CHECKS.get(name)
    if op is not None:
        return bool(args) and _compare_truth(op, args[0], _NONE) is True
    return False


def is_assertion_call(call: ast.Call, extra: NameMatcher | None = None) -> bool:
    """A call that surely asserts: `pytest.raises`/`warns`/`fail`, `self.assert*`, mock `assert_*`.

    Configured helpers (`extra`) count too. Other names that merely look like
    assertions (`assert_valid()`) are left to the project pass (see `is_assert_name`).
    """
    name = callee_name(call)
    if name is None:
        return False
    if name in ASSERTION_CALLS or name in MOCK_ASSERTIONS:
        return True
    if name in UNITTEST_ASSERTIONS:
        return not is_tautological_call(call)
    if extra is not None:
        if extra(name):
            return True
        dotted = dotted_name(call.func)
        return dotted is not None and dotted != name and extra(dotted)
    return False


def is_assertion_raise(node: ast.Raise) -> bool:
    """`raise AssertionError(...)` is an assertion written by hand."""
    exc = node.exc
    if isinstance(exc, ast.Call):
        exc = exc.func
    return exc is not None and dotted_name(exc) in {"AssertionError", "builtins.AssertionError"}


def has_direct_assertion(
    buckets: Buckets, extra: NameMatcher | None = None, *, statements: bool = True
) -> bool:
    """Whether the owner of `buckets` asserts something itself (not through helpers);
    without `statements`, an `assert` statement does not count (see `scan_statements`)."""
    for node in buckets[ast.Assert] if statements else ():
        if not is_tautology(node.test):  # type: ignore[attr-defined]
            return True
    for node in buckets[ast.Call]:
        if is_assertion_call(node, extra):  # type: ignore[arg-type]
            return True
    return any(is_assertion_raise(node) for node in buckets[ast.Raise])  # type: ignore[arg-type]


_BLOCK_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")


def flatten_statements(roots: Iterable[ast.stmt]) -> list[ast.stmt]:
    """Every statement under `roots`, descending into blocks (if, for, with, try, def...)."""
    out: list[ast.stmt] = []
    stack: list[ast.AST] = list(reversed(list(roots)))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.stmt):
            out.append(node)
        for name in _BLOCK_FIELDS:
            block = getattr(node, name, None)
            if block:
                stack.extend(reversed(block))
    return out


# Context-manager-only checks and how many positional arguments their callable form needs.
_CONTEXT_CHECKS: dict[str, int | None] = {
    "raises": 2,
    "warns": 2,
    "assertRaises": 2,
    "assertWarns": 2,
    "assertRaisesRegex": 3,
    "assertRaisesRegexp": 3,
    "assertWarnsRegex": 3,
    "deprecated_call": 1,
    "assertLogs": None,
    "assertNoLogs": None,
}


def is_unentered_check(stmt: ast.stmt) -> bool:
    """`pytest.raises(E)` as a bare statement: a context manager nobody enters checks nothing."""
    if not isinstance(stmt, ast.Expr) or not isinstance(stmt.value, ast.Call):
        return False
    call = stmt.value
    name = callee_name(call)
    if name not in _CONTEXT_CHECKS or any(isinstance(a, ast.Starred) for a in call.args):
        return False
    needed = _CONTEXT_CHECKS[name]
    return needed is None or len(call.args) < needed


_TERMINATORS = frozenset({ast.Return, ast.Raise, ast.Continue, ast.Break})
_DEFS = frozenset({ast.FunctionDef, ast.AsyncFunctionDef})
_CONTAINERS = frozenset({ast.ExceptHandler, ast.match_case})
_COMPOUND = frozenset(
    {
        ast.If,
        ast.For,
        ast.AsyncFor,
        ast.While,
        ast.With,
        ast.AsyncWith,
        ast.Try,
        ast.Match,
        ast.ClassDef,
        *_DEFS,
        *([ast.TryStar] if hasattr(ast, "TryStar") else []),
    }
)


def split_live(
    roots: Sequence[ast.stmt], used_names: set[str] | None = None
) -> tuple[list[ast.stmt], list[ast.stmt], bool]:
    """(statements that can run, roots of the subtrees that never check anything, guessed).

    Never run: statements after `return`/`raise`/`continue`/`break` in the same
    block, the body of `if False:` (the `else` of `if True:`), `while False:`,
    and an undecorated nested function whose name is not in `used_names` (methods
    of a nested class are always live). A bare
    `pytest.raises(E)` statement runs but checks nothing, so it is set aside too.
    Without `used_names` every undecorated nested function is taken as never
    called, and `guessed` says whether there was one (finding the names used costs
    a walk of every expression, so callers do it only when the answer matters).
    """
    live: list[ast.stmt] = []
    dead: list[ast.stmt] = []
    guessed = False
    blocks: list[Sequence[ast.AST]] = [roots]
    # Methods of a class defined in the test are called through the class (often by a
    # framework: `fixture_session(query_cls=TQuery)`), never by their bare name.
    class_bodies: set[int] = set()
    while blocks:
        block = blocks.pop()
        in_class = id(block) in class_bodies
        for index, node in enumerate(block):
            kind = type(node)
            if kind not in _COMPOUND:
                if kind in _CONTAINERS:  # except handler or match case
                    blocks.append(node.body)  # type: ignore[attr-defined]
                elif kind is ast.Expr and is_unentered_check(node):  # type: ignore[arg-type]
                    dead.append(node)  # type: ignore[arg-type]
                else:
                    live.append(node)  # type: ignore[arg-type]
                    if kind in _TERMINATORS:
                        dead.extend(block[index + 1 :])  # type: ignore[arg-type]
                        break
                continue
            assert isinstance(node, ast.stmt)
            if (
                kind in _DEFS
                and not in_class
                and not node.decorator_list  # type: ignore[attr-defined]
                and (used_names is None or node.name not in used_names)  # type: ignore[attr-defined]
            ):
                guessed = guessed or used_names is None
                dead.append(node)
                continue
            live.append(node)
            if kind is ast.If or kind is ast.While:
                truth = truth_value(node.test)  # type: ignore[attr-defined]
                if truth is False:
                    dead.extend(node.body)  # type: ignore[attr-defined]
                    blocks.append(node.orelse)  # type: ignore[attr-defined]
                    continue
                if truth is True and kind is ast.If:
                    dead.extend(node.orelse)  # type: ignore[attr-defined]
                    blocks.append(node.body)  # type: ignore[attr-defined]
                    continue
            if kind is ast.ClassDef:
                class_bodies.add(id(node.body))  # type: ignore[attr-defined]
            for name in _BLOCK_FIELDS:
                inner = getattr(node, name, None)
                if inner:
                    blocks.append(inner)
    return live, dead, guessed


_MAYBE_DEAD = _TERMINATORS | _DEFS


def may_have_dead_code(statements: Iterable[ast.stmt]) -> bool:
    """A cheap look at flattened statements: False when `split_live` would find nothing."""
    for stmt in statements:
        kind = type(stmt)
        if kind in _MAYBE_DEAD:
            return True
        if kind is ast.If or kind is ast.While:
            if truth_value(stmt.test) is not None:  # type: ignore[attr-defined]
                return True
        elif kind is ast.Expr:
            value = stmt.value  # type: ignore[attr-defined]
            if type(value) is ast.Call and callee_name(value) in _CONTEXT_CHECKS:
                return True
    return False


def used_names(roots: Iterable[ast.AST]) -> set[str]:
    """Every name read or written under `roots` (a full walk: call it sparingly)."""
    return {n.id for root in roots for n in ast.walk(root) if isinstance(n, ast.Name)}


def scan_statements(
    statements: Iterable[ast.stmt], extra: NameMatcher | None = None, *, asserts: bool = True
) -> tuple[bool, set[str], set[str]]:
    """(an assertion visible at statement level, `assert_*`-looking names, every called name).

    Statement-level assertions are `assert` (unless not `asserts`: in production code it
    states an invariant), `x.assert_*()`, `with raises()` and `raise AssertionError`.
    Names that only look like assertions (`is_assert_name`) are returned for the project
    pass to judge, with the names every statement calls directly (`f()`, `x = f()`,
    `with f():`, `return f()`); both are complete only when no assertion was found.
    """
    names: set[str] = set()
    called: set[str] = set()
    for stmt in statements:
        kind = type(stmt)
        value: ast.AST | None = None
        if kind is ast.Assert:
            if asserts and not is_tautology(stmt.test):  # type: ignore[attr-defined]
                return True, names, called
            continue
        if kind is ast.With or kind is ast.AsyncWith:
            for item in stmt.items:  # type: ignore[attr-defined]
                context = item.context_expr
                if isinstance(context, ast.Call):
                    if is_assertion_call(context, extra):
                        return True, names, called
                    if name := callee_ref(context):
                        called.add(name)
            continue
        if kind is ast.Raise:
            if is_assertion_raise(stmt):  # type: ignore[arg-type]
                return True, names, called
            continue
        value = getattr(stmt, "value", None)
        if type(value) is ast.Await:
            value = value.value
        if type(value) is not ast.Call:
            continue
        assert isinstance(value, ast.Call)
        if kind is ast.Expr and is_assertion_call(value, extra):
            return True, names, called
        name = callee_ref(value)
        if name is not None:
            called.add(name)
            if kind is ast.Expr and is_assert_name(last_part(name)):
                names.add(name)
    return False, names, called


def statement_assertion(statements: Iterable[ast.stmt], extra: NameMatcher | None = None) -> bool:
    """Whether an assertion is visible at statement level (see `scan_statements`)."""
    return scan_statements(statements, extra)[0]


def decorator_names(node: FunctionNode | ast.ClassDef) -> list[str]:
    """Dotted names of the decorators (`pytest.fixture`, `pytest.mark.skip`...)."""
    names = []
    for dec in node.decorator_list:
        name = dotted_name(dec.func if isinstance(dec, ast.Call) else dec)
        if name is not None:
            names.append(name)
    return names


def fixture_alias(node: FunctionNode) -> str | None:
    """The `name=` of `@pytest.fixture(name="...")`, which is how tests ask for it."""
    for dec in node.decorator_list:
        if isinstance(dec, ast.Call) and (dotted_name(dec.func) or "").endswith("fixture"):
            for kw in dec.keywords:
                if (
                    kw.arg == "name"
                    and isinstance(kw.value, ast.Constant)
                    and isinstance(kw.value.value, str)
                ):
                    return kw.value.value
    return None


def is_fixture(node: FunctionNode) -> bool:
    """Decorated with `pytest.fixture` / `fixture` / `pytest_asyncio.fixture`."""
    return any(name.endswith("fixture") for name in decorator_names(node))


def parameter_names(node: FunctionNode) -> list[str]:
    """Every parameter name except `self` and `cls`."""
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    return [n for n in names if n not in {"self", "cls"}]


def callable_defaults(node: FunctionNode) -> dict[str, str]:
    """Parameters whose default is a named function: `compare_fn=assert_equal` gives
    `{"compare_fn": "assert_equal"}`. A helper that calls such a parameter runs the
    default unless a caller passes another function."""
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    pairs = [
        *zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True),
        *((a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d),
    ]
    found = {}
    for arg, default in pairs:
        if isinstance(default, ast.Name | ast.Attribute) and (name := dotted_name(default)):
            found[arg.arg] = name
    return found


def parameter_slots(node: FunctionNode, *, method: bool) -> dict[str, tuple[str, ...]]:
    """Each parameter's slots at a call site: its position (`self`/`cls` of a method not
    counted) and, unless positional-only, its name; `def run(data, check)` gives
    `{"data": ("0", "data"), "check": ("1", "check")}`."""
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    if method and positional and positional[0].arg in ("self", "cls"):
        positional = positional[1:]
    only = {a.arg for a in args.posonlyargs}
    slots: dict[str, tuple[str, ...]] = {
        a.arg: (str(i),) if a.arg in only else (str(i), a.arg) for i, a in enumerate(positional)
    }
    slots.update((a.arg, (a.arg,)) for a in args.kwonlyargs)
    return slots


def argument_slots(call: ast.Call) -> Iterator[tuple[str, ast.expr]]:
    """(slot, argument) for a call's arguments: positions up to the first `*args`, and
    keywords by name."""
    for index, arg in enumerate(call.args):
        if type(arg) is ast.Starred:
            break
        yield _POSITIONS[index] if index < len(_POSITIONS) else str(index), arg
    for keyword in call.keywords:
        if keyword.arg is not None:
            yield keyword.arg, keyword.value


_POSITIONS = tuple(map(str, range(16)))


def string_constants(nodes: Iterable[ast.AST]) -> Iterable[str]:
    """Every string constant directly among `nodes` or nested inside them."""
    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield node.value
