"""Small, fast helpers over `ast` nodes shared by the engine and the rules."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable

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


def index_nodes(roots: Iterable[ast.AST], buckets: Buckets) -> None:
    """Walk every node under `roots` once, appending the indexed types to `buckets`."""
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


def is_constant_expr(node: ast.expr) -> bool:
    """True when the expression's truth value cannot depend on the code under test.

    A non-empty tuple is always truthy, so `assert (x, "message")` is constant too.
    """
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Tuple):
        return True
    if isinstance(node, ast.List | ast.Set):
        return all(is_constant_expr(e) for e in node.elts)
    if isinstance(node, ast.UnaryOp):
        return is_constant_expr(node.operand)
    if isinstance(node, ast.BoolOp):
        return all(is_constant_expr(v) for v in node.values)
    if isinstance(node, ast.BinOp):
        return is_constant_expr(node.left) and is_constant_expr(node.right)
    if isinstance(node, ast.Compare):
        return is_constant_expr(node.left) and all(is_constant_expr(c) for c in node.comparators)
    return False


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
ASSERTION_CALLS = frozenset({"raises", "warns", "deprecated_call", "fail", "assertRaises"})
NameMatcher = Callable[[str], bool]


def is_assertion_call(call: ast.Call, extra: NameMatcher | None = None) -> bool:
    """`assert*` and `self.assert*`, mock `assert_*`, `pytest.raises`/`warns`/`fail`, custom."""
    name = callee_name(call)
    if name is None:
        return False
    if name in ASSERTION_CALLS or _ASSERT_NAME.match(name):
        return True
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


def has_direct_assertion(buckets: Buckets, extra: NameMatcher | None = None) -> bool:
    """Whether the owner of `buckets` asserts something itself (not through helpers)."""
    for node in buckets[ast.Assert]:
        if not is_constant_expr(node.test):  # type: ignore[attr-defined]
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


def statement_assertion(statements: Iterable[ast.stmt], extra: NameMatcher | None = None) -> bool:
    """Assertions visible at statement level: `assert`, `x.assert_*()`, `with raises()`."""
    for stmt in statements:
        kind = type(stmt)
        if kind is ast.Assert:
            if not is_constant_expr(stmt.test):  # type: ignore[attr-defined]
                return True
        elif kind is ast.Expr:
            value = stmt.value  # type: ignore[attr-defined]
            if isinstance(value, ast.Await):
                value = value.value
            if isinstance(value, ast.Call) and is_assertion_call(value, extra):
                return True
        elif kind is ast.With or kind is ast.AsyncWith:
            for item in stmt.items:  # type: ignore[attr-defined]
                call = item.context_expr
                if isinstance(call, ast.Call) and is_assertion_call(call, extra):
                    return True
        elif kind is ast.Raise and is_assertion_raise(stmt):  # type: ignore[arg-type]
            return True
    return False


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


def string_constants(nodes: Iterable[ast.AST]) -> Iterable[str]:
    """Every string constant directly among `nodes` or nested inside them."""
    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield node.value
