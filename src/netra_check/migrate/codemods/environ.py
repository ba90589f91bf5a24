"""`os.environ` and `os.getenv` in SSot test methods go through the isolated environment.

What it does:
    In a method of an SSot test class (one taking `self`, run inside the test's
    environment overlay: a test, `setUp`, `tearDown`, `asyncSetUp`...):
    - reads go through `self.env`: `os.environ.get(K, D)` and `os.getenv(K, D)`
      become `self.env.get(K, D)`, `os.environ[K]` becomes `self.env[K]`, and
      `K in os.environ` (or `self.assertIn(K, os.environ)`) uses `self.env`;
    - writes go through `self.set_process_env`: `os.environ[K] = V` becomes
      `self.set_process_env(K, V)`, and `del os.environ[K]` or a statement
      `os.environ.pop(K)` becomes `self.set_process_env(K, None)`.
    Writes keep reaching the process environment, because the code an outside
    suite tests reads `os.environ` itself and an overlay would hide the value
    from it; `set_process_env` undoes them after the test (pytest's
    MonkeyPatch), so they no longer leak into the next test, and `self.env`
    sees them. A Netra test whose code takes an IsolatedEnvironment should use
    `self.set_env`, which never touches the process.

Left alone, and reported:
    Module-level code, plain functions, classmethods (`setUpClass`), nested
    functions and lambdas (they may run after the test), pytest fixtures
    defined as methods, and classes that are not SSot classes (no per-test
    environment there: use the `netra_env` fixture or `monkeypatch`);
    `os.environ` used as an object (passed to a function or `mock.patch.dict`,
    copied, iterated, updated); `from os import environ`; `os.putenv`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import libcst as cst
import libcst.matchers as m
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import RemoveImportsVisitor
from libcst.metadata import ExpressionContext, ExpressionContextProvider

from netra_check.migrate.codemods.base import MigrationCodemod, dotted
from netra_check.migrate.model import Refusal

SSOT_BASES = frozenset({"SSotBaseTestCase", "SSotAsyncTestCase"})
ENV_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})
MEMBERSHIP_ASSERTS = frozenset({"assertIn", "assertNotIn"})
# Names that, defined on the class, would shadow what the rewrites call.
SHADOWING = frozenset({"env", "set_process_env"})

NOWHERE = "no per-test environment here ({where}): use the netra_env fixture or monkeypatch"


class _Scope:
    def __init__(self, kind: str, ok: bool, where: str) -> None:
        self.kind = kind  # "class" or "function"
        self.ok = ok  # inside an SSot test method, where self.env is the test's
        self.where = where


def _ssot_classes(module: cst.Module) -> dict[str, str | None]:
    """Module-level classes deriving (here) from an SSot base: name -> why unusable, or None."""
    bases: dict[str, list[str]] = {}
    nodes: dict[str, cst.ClassDef] = {}
    for statement in module.body:
        if isinstance(statement, cst.ClassDef):
            name = statement.name.value
            bases[name] = [(dotted(a.value) or "").rpartition(".")[2] for a in statement.bases]
            nodes[name] = statement

    def is_ssot(name: str, seen: frozenset[str]) -> bool:
        return any(
            b in SSOT_BASES or (b in bases and b not in seen and is_ssot(b, seen | {b}))
            for b in bases.get(name, ())
        )

    found: dict[str, str | None] = {}
    for name, node in nodes.items():
        if not is_ssot(name, frozenset({name})):
            continue
        shadowed = {
            s.name.value
            for s in node.body.body
            if isinstance(s, cst.FunctionDef) and s.name.value in SHADOWING
        }
        for attribute in m.findall(node, m.Attribute(value=m.Name("self"), attr=m.Name())):
            assert isinstance(attribute, cst.Attribute)
            if attribute.attr.value in SHADOWING and m.findall(
                node,
                m.AssignTarget(
                    target=m.Attribute(value=m.Name("self"), attr=m.Name(attribute.attr.value))
                ),
            ):
                shadowed.add(attribute.attr.value)
        found[name] = f"{name} defines its own {', '.join(sorted(shadowed))}" if shadowed else None
    return found


class EnvironToIsolated(MigrationCodemod):
    """See the module docstring."""

    name = "environ"
    DESCRIPTION = "os.environ in SSot test methods goes through self.env / set_process_env"

    def __init__(self, context: CodemodContext, refusals: list[Refusal]) -> None:
        super().__init__(context, refusals)
        self._scopes: list[_Scope] = []
        self._ssot: dict[str, str | None] = {}
        self._handled: set[int] = set()  # ids of os.environ nodes a pattern took care of
        self._rewrite: dict[int, Callable[[Any], cst.CSTNode]] = {}

    # -- scopes ------------------------------------------------------------------------
    def visit_Module(self, node: cst.Module) -> None:
        self._ssot = _ssot_classes(node)

    def _where(self) -> tuple[bool, str]:
        if not self._scopes:
            return False, NOWHERE.format(where="module level")
        scope = self._scopes[-1]
        if scope.kind == "class":  # the class body runs once, at import
            return False, NOWHERE.format(where="a class body, run at import")
        return scope.ok, scope.where

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        name = node.name.value
        if self._scopes:
            where = NOWHERE.format(where="a nested class")
        elif name not in self._ssot:
            where = NOWHERE.format(where=f"{name} is not an SSot test class")
        else:
            where = self._ssot[name] or ""
        ok = not self._scopes and name in self._ssot and self._ssot[name] is None
        self._scopes.append(_Scope("class", ok, where))

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        self._scopes.pop()
        return updated_node

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        parent = self._scopes[-1] if self._scopes else None
        ok, where = False, NOWHERE.format(where="a plain function")
        if parent is not None and parent.kind == "function":
            where = NOWHERE.format(where="a nested function, which may run after the test")
        elif parent is not None and parent.kind == "class":
            decorators = [dotted(d.decorator) or "" for d in node.decorators] + [
                dotted(d.decorator.func) or ""
                for d in node.decorators
                if isinstance(d.decorator, cst.Call)
            ]
            params = node.params.params
            if not parent.ok:
                where = parent.where
            elif any(d.rpartition(".")[2] in ("classmethod", "staticmethod") for d in decorators):
                where = NOWHERE.format(where=f"{node.name.value} is a class or static method")
            elif any("fixture" in d for d in decorators):
                where = NOWHERE.format(where=f"{node.name.value} is a fixture")
            elif not params or params[0].name.value != "self":
                where = NOWHERE.format(where=f"{node.name.value} takes no self")
            else:
                ok, where = True, ""
        self._scopes.append(_Scope("function", ok, where))

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        self._scopes.pop()
        return updated_node

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._scopes.append(_Scope("function", False, NOWHERE.format(where="a lambda")))

    def leave_Lambda(self, original_node: cst.Lambda, updated_node: cst.Lambda) -> cst.Lambda:
        self._scopes.pop()
        return updated_node

    # -- patterns ------------------------------------------------------------------------
    def _is_environ(self, node: cst.CSTNode) -> bool:
        return isinstance(node, cst.Attribute | cst.Name) and "os.environ" in self.qualified(node)

    def _take(
        self, original: cst.CSTNode, environ: cst.CSTNode, build: Callable[[Any], cst.CSTNode]
    ) -> None:
        """Rewrite `original` (as `build(updated node)`) in an SSot test method, else refuse."""
        self._handled.add(id(environ))
        ok, where = self._where()
        if not ok:
            self.refuse(original, where)
            return
        self._rewrite[id(original)] = build
        RemoveImportsVisitor.remove_unused_import_by_node(self.context, environ)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        names = self.qualified(func)
        if "os.getenv" in names or (
            isinstance(func, cst.Attribute)
            and func.attr.value == "get"
            and self._is_environ(func.value)
        ):
            environ = func if "os.getenv" in names else func.value  # type: ignore[attr-defined]
            self._take(node, environ, lambda u: cst.Call(func=_self_env("get"), args=u.args))
        elif (
            m.matches(func, m.Attribute(value=m.Name("self"), attr=m.Name()))
            and isinstance(func, cst.Attribute)
            and func.attr.value in MEMBERSHIP_ASSERTS
            and len(node.args) >= 2
            and node.args[1].keyword is None
            and self._is_environ(node.args[1].value)
        ):  # self.assertIn(K, os.environ): membership, as `K in os.environ`
            self._take(
                node,
                node.args[1].value,
                lambda u: u.with_changes(
                    args=[u.args[0], u.args[1].with_changes(value=_self_env()), *u.args[2:]]
                ),
            )
        elif names & {"os.putenv", "os.unsetenv", "os.getenvb"}:
            self._handled.add(id(func))
            self.refuse(node, "os.putenv/unsetenv bypass os.environ: change them by hand")

    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if (
            isinstance(call, cst.Call)
            and isinstance(call.func, cst.Attribute)
            and call.func.attr.value == "pop"
            and self._is_environ(call.func.value)
            and call.args
        ):
            self._take(
                node,
                call.func.value,
                lambda u: _set_process_env(u.value.args[0].value, cst.Name("None")),
            )

    def visit_Subscript(self, node: cst.Subscript) -> None:
        if self._is_environ(node.value) and id(node.value) not in self._handled:
            key = _subscript_key(node)
            if key is None:
                return
            if self.get_metadata(ExpressionContextProvider, node, None) != ExpressionContext.LOAD:
                self._handled.add(id(node.value))
                self.refuse(node, "a write to os.environ other than `os.environ[K] = V` or `del`")
                return
            self._take(node, node.value, lambda u: cst.Subscript(value=_self_env(), slice=u.slice))

    def visit_Assign(self, node: cst.Assign) -> None:
        targets = node.targets
        for target in targets:
            t = target.target
            if isinstance(t, cst.Subscript) and self._is_environ(t.value):
                key = _subscript_key(t)
                if len(targets) != 1 or key is None:
                    self._handled.add(id(t.value))
                    self.refuse(node, "a chained or sliced os.environ assignment")
                    return
                self._take(
                    node,
                    t.value,
                    lambda u: _set_process_env(_subscript_key(u.targets[0].target), u.value),
                )
                self._handled.add(id(t))  # the target is not a read

    def visit_Del(self, node: cst.Del) -> None:
        t = node.target
        if isinstance(t, cst.Subscript) and self._is_environ(t.value):
            key = _subscript_key(t)
            self._handled.add(id(t))
            if key is None:
                self._handled.add(id(t.value))
                self.refuse(node, "a sliced os.environ deletion")
                return
            self._take(
                node,
                t.value,
                lambda u: _set_process_env(_subscript_key(u.target), cst.Name("None")),
            )

    def visit_Comparison(self, node: cst.Comparison) -> None:
        if len(node.comparisons) != 1:
            return
        target = node.comparisons[0]
        if isinstance(target.operator, cst.In | cst.NotIn) and self._is_environ(target.comparator):
            self._take(
                node,
                target.comparator,
                lambda u: u.with_changes(
                    comparisons=[u.comparisons[0].with_changes(comparator=_self_env())]
                ),
            )

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None or dotted(node.module) != "os":
            return
        if isinstance(node.names, cst.ImportStar):
            return
        names = [a.name.value for a in node.names if isinstance(a.name, cst.Name)]
        taken = [n for n in names if n in ENV_NAMES]
        if taken:
            self.refuse(
                node, f"imports {', '.join(taken)} from os: use os.{taken[0]} (then re-run)"
            )

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if id(node) in self._handled or not self._is_environ(node):
            return
        if node.attr.value != "environ":  # os.environ.get... is seen at os.environ
            return
        self.refuse(node, "os.environ used as an object (passed, patched, copied or updated)")

    # -- rewriting -----------------------------------------------------------------------
    def on_leave(  # type: ignore[override]
        self, original_node: cst.CSTNode, updated_node: cst.CSTNode
    ) -> cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel[cst.CSTNode]:
        build = self._rewrite.get(id(original_node))
        result = super().on_leave(original_node, updated_node)
        return build(result) if build is not None else result


def _self_env(method: str | None = None) -> cst.Attribute:
    env = cst.Attribute(value=cst.Name("self"), attr=cst.Name("env"))
    return env if method is None else cst.Attribute(value=env, attr=cst.Name(method))


def _set_process_env(key: cst.BaseExpression | None, value: cst.BaseExpression) -> cst.Expr:
    assert key is not None  # checked on the original node
    call = cst.Call(
        func=cst.Attribute(value=cst.Name("self"), attr=cst.Name("set_process_env")),
        args=[
            cst.Arg(key, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
            cst.Arg(value),
        ],
    )
    return cst.Expr(call)


def _subscript_key(node: cst.Subscript) -> cst.BaseExpression | None:
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return None
    return node.slice[0].slice.value
