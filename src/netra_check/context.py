"""FileContext: one parsed file, its role in the project, and a lazily built node index.

The engine parses each file once and walks the tree once; rules ask the context
for what they need (the test functions, the calls inside a test, the imports)
instead of walking the tree again.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from netra_check.astutil import (
    BUILTIN_METHODS,
    Buckets,
    FunctionNode,
    NameMatcher,
    argument_slots,
    callee_ref,
    dotted_name,
    flatten_statements,
    has_direct_assertion,
    index_nodes,
    is_fixture,
    may_have_dead_code,
    new_buckets,
    parameter_slots,
    scan_statements,
    split_live,
    used_names,
)
from netra_check.model import BoundCall, ClassFact, Finding

if TYPE_CHECKING:
    from netra_check.config import CheckConfig
    from netra_check.model import Rule


@dataclass(frozen=True, slots=True)
class FileRole:
    """What a file is to the scanner, decided from its path alone."""

    is_test_file: bool  # named like a module pytest collects (test_*.py)
    is_test_code: bool  # a test file, a conftest, or anything in a test folder
    is_support: bool  # test code or a testing helper package; its helpers are followed
    is_script: bool  # under a scripts folder: checked for runner bypasses
    category: str | None  # the configured category folder the file lives in
    # A module of the project's own packages that test or support code imports (directly
    # or through such modules): only its classes and functions are indexed, by their
    # dotted names, so that a helper imported from it is followed; no rule checks it.
    is_imported: bool = False

    @property
    def needs_parse(self) -> bool:
        """Files with no role are never read."""
        return self.is_test_code or self.is_support or self.is_script or self.is_imported


PYTHON = f"Python {sys.version_info[0]}.{sys.version_info[1]}"
TOO_DEEP = f"too deeply nested to analyse under {PYTHON}"


@dataclass(frozen=True, slots=True)
class ParseError:
    """Where and why a file failed to parse."""

    line: int
    message: str


class Definition:
    """A function, method, class body or the module body, with the nodes it owns.

    Ownership is lexical: a nested function or class belongs to the enclosing
    top-level definition. Both indexes are built on first use, because most
    rules need only the statements, and walking every expression is the most
    expensive thing the scanner does after parsing.
    """

    __slots__ = (
        "_buckets",
        "_live_buckets",
        "_liveness",
        "_statements",
        "class_name",
        "is_test",
        "kind",
        "name",
        "node",
        "qualname",
        "roots",
        "statement_roots",
    )

    def __init__(
        self,
        node: ast.AST,
        name: str,
        qualname: str,
        kind: str,
        *,
        roots: Sequence[ast.AST],
        statement_roots: Sequence[ast.stmt],
        class_name: str | None = None,
        is_test: bool = False,
    ) -> None:
        self.node = node
        self.name = name
        self.qualname = qualname
        self.kind = kind  # "module", "class", "function" or "method"
        self.class_name = class_name
        self.is_test = is_test
        self.roots = roots  # every node this definition owns lies under one of these
        self.statement_roots = statement_roots
        self._buckets: Buckets | None = None
        self._statements: list[ast.stmt] | None = None
        self._liveness: tuple[list[ast.stmt], list[ast.stmt], bool] | None = None
        self._live_buckets: Buckets | None = None

    @property
    def function(self) -> FunctionNode:
        """The function node; only valid for kind "function" or "method"."""
        assert isinstance(self.node, ast.FunctionDef | ast.AsyncFunctionDef)
        return self.node

    @property
    def line(self) -> int:
        """The `def`/`class` line (1 for the module)."""
        return getattr(self.node, "lineno", 1)

    @property
    def span(self) -> tuple[int, int]:
        """First decorator line through the last line of the signature."""
        node = self.node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return (1, 1)
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        end = max(node.lineno, node.body[0].lineno - 1) if node.body else node.lineno
        return (start, end)

    @property
    def statements(self) -> list[ast.stmt]:
        """Every statement owned, nested blocks included, in source order."""
        if self._statements is None:
            self._statements = flatten_statements(self.statement_roots)
        return self._statements

    @property
    def buckets(self) -> Buckets:
        """Every owned node of the indexed types, by type (built by one walk on first use)."""
        if self._buckets is None:
            self._buckets = new_buckets()
            index_nodes(self.roots, self._buckets)
        return self._buckets

    def nodes(self, node_type: type[ast.AST]) -> list[ast.AST]:
        """Indexed nodes of one type owned by this definition."""
        return self.buckets[node_type]

    def _live(self, resolve: bool) -> tuple[list[ast.stmt], list[ast.stmt], bool]:
        """`split_live` of the body, resolving nested functions by a full walk if asked."""
        if self._liveness is None and not may_have_dead_code(self.statements):
            self._liveness = (self.statements, [], False)
        if self._liveness is None or (resolve and self._liveness[2]):
            names = used_names(self.roots) if resolve else None
            self._liveness = split_live(self.statement_roots, names)
            self._live_buckets = None
        return self._liveness

    def _live_index(self, dead: list[ast.stmt]) -> Buckets:
        if not dead:
            return self.buckets
        if self._live_buckets is None:
            self._live_buckets = new_buckets()
            index_nodes(self.roots, self._live_buckets, skip=frozenset(map(id, dead)))
        return self._live_buckets

    def live_calls(self) -> list[ast.AST]:
        """The calls in code that can run (see `split_live`)."""
        return self._live_index(self._live(resolve=True)[1])[ast.Call]

    def assertion_state(
        self, extra: NameMatcher | None, *, invariants: bool = False
    ) -> bool | tuple[str, ...]:
        """Whether this definition asserts by itself, not through helpers it calls.

        True when it surely does, False when nothing in it asserts, and a tuple of
        names when it asserts only if one of them does: the `assert_*`-looking
        helpers it calls, which the project pass judges against the repository's
        own helpers (with the other names its statements call). Assertions in code
        that never runs (after `return`, under `if False:`, in a nested function
        nobody calls) do not count; see `split_live`. With `invariants` (production code),
        neither do `assert` statements: they state what the code takes for granted.
        """
        state = self._state(extra, resolve=False, invariants=invariants)
        if state is not True and self._live(resolve=False)[2]:
            state = self._state(extra, resolve=True, invariants=invariants)
        return state

    def _state(
        self, extra: NameMatcher | None, *, resolve: bool, invariants: bool = False
    ) -> bool | tuple[str, ...]:
        live, dead, _ = self._live(resolve)
        sure, names, called = scan_statements(live, extra, asserts=not invariants)
        if sure:
            return True
        if names:
            return tuple(sorted(called))
        return has_direct_assertion(self._live_index(dead), extra, statements=not invariants)

    def asserts(self, extra: NameMatcher | None) -> bool:
        """Whether this definition surely asserts by itself (see `assertion_state`)."""
        return self.assertion_state(extra) is True


_SUPPRESSION = re.compile(r"#\s*netra:\s*ignore(?:\[([^\]]*)\])?")


def parse_suppressions(text: str) -> dict[int, frozenset[str]]:
    """Map line number to suppressed rule ids; an empty set means every rule."""
    found: dict[int, frozenset[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if "netra:" not in line:
            continue
        match = _SUPPRESSION.search(line)
        if match is None:
            continue
        ids = match.group(1)
        found[number] = (
            frozenset(i.strip().upper() for i in ids.split(",") if i.strip())
            if ids is not None
            else frozenset()
        )
    return found


def module_names(rel: str) -> tuple[str, ...]:
    """The dotted names a module at a relative path is imported by (`src/` and `lib/` layouts
    too): `src/pkg/testing/asserts.py` is `src.pkg.testing.asserts` and `pkg.testing.asserts`."""
    parts = rel.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    names = [".".join(parts)]
    if len(parts) > 1 and parts[0] in ("src", "lib"):
        names.append(".".join(parts[1:]))
    return tuple(n for n in names if n)


@lru_cache(maxsize=16)
def name_matcher(patterns: tuple[str, ...]) -> NameMatcher | None:
    """One compiled matcher for the configured assertion-helper names (globs allowed)."""
    if not patterns:
        return None
    import fnmatch

    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
    return lambda name: regex.match(name) is not None


def matches_option(name: str, options: tuple[str, ...]) -> bool:
    """pytest's rule for python_classes / python_functions: a prefix, or a glob if it has one."""
    return any(
        name.startswith(option)
        or (any(c in option for c in "*?[") and fnmatch.fnmatch(name, option))
        for option in options
    )


def _is_test_class(node: ast.ClassDef, python_classes: tuple[str, ...]) -> bool:
    return matches_option(node.name, python_classes) or _is_unittest_class(node)


_UNKNOWN = ast.Constant(None)  # an assigned value whose class is not known
_BINDING_STATEMENTS = frozenset(
    {ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor, ast.With, ast.AsyncWith}
)


def _instance_attribute(target: ast.expr, in_body: bool) -> str | None:
    """The attribute an assignment target sets on an instance of the class: `self.x` or
    `cls.x` in a method, `x` in the class body."""
    if in_body:
        return target.id if isinstance(target, ast.Name) else None
    if (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id in ("self", "cls")
    ):
        return target.attr
    return None


def _is_unittest_class(node: ast.ClassDef) -> bool:
    return any((dotted_name(b) or "").endswith("TestCase") for b in node.bases)


class FileContext:
    """A file as the rules see it."""

    def __init__(self, rel: str, source: bytes, role: FileRole, config: CheckConfig) -> None:
        self.rel = rel
        self.source = source
        self.role = role
        self.config = config
        self.tree: ast.Module | None = None
        self.parse_error: ParseError | None = None
        try:
            self.tree = ast.parse(source, filename=rel)
        except SyntaxError as exc:
            self.parse_error = ParseError(exc.lineno or 1, f"{exc.msg} under {PYTHON}")
        except ValueError as exc:  # null bytes in the source
            self.parse_error = ParseError(1, str(exc))
        except (RecursionError, MemoryError):
            self.parse_error = ParseError(1, TOO_DEEP)

    @cached_property
    def text(self) -> str:
        """The decoded source (undecodable bytes replaced)."""
        return self.source.decode("utf-8", errors="replace")

    @cached_property
    def lines(self) -> list[str]:
        """The source lines, without line endings."""
        return self.text.splitlines()

    @cached_property
    def assertion_matcher(self) -> NameMatcher | None:
        """Matcher for the configured custom assertion helpers."""
        return name_matcher(self.config.assertion_helpers)

    @cached_property
    def definitions(self) -> list[Definition]:
        """The module body, every class and every function or method."""
        tree = self.tree
        if tree is None:
            return []
        loose: list[ast.stmt] = []
        module = Definition(
            tree, "<module>", "<module>", "module", roots=loose, statement_roots=loose
        )
        result = [module]
        test_file = self.role.is_test_file
        functions = self.config.python_functions
        for stmt in tree.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                result.append(
                    Definition(
                        stmt,
                        stmt.name,
                        stmt.name,
                        "function",
                        roots=[stmt],
                        statement_roots=stmt.body,
                        is_test=test_file
                        and matches_option(stmt.name, functions)
                        and not is_fixture(stmt),
                    )
                )
            elif isinstance(stmt, ast.ClassDef):
                self._add_class(stmt, "", result)
            else:
                loose.append(stmt)
        return result

    def _add_class(self, node: ast.ClassDef, prefix: str, out: list[Definition]) -> None:
        qualname = prefix + node.name
        loose: list[ast.stmt] = []
        roots: list[ast.AST] = [*node.bases, *node.keywords, *node.decorator_list]
        definition = Definition(
            node, node.name, qualname, "class", roots=roots, statement_roots=loose
        )
        out.append(definition)
        tests_inside = self.role.is_test_file and _is_test_class(node, self.config.python_classes)
        # unittest collects its own TestCase methods by the `test` prefix, whatever pytest says.
        functions = ("test",) if _is_unittest_class(node) else self.config.python_functions
        for stmt in node.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                out.append(
                    Definition(
                        stmt,
                        stmt.name,
                        f"{qualname}.{stmt.name}",
                        "method",
                        roots=[stmt],
                        statement_roots=stmt.body,
                        class_name=node.name,
                        is_test=tests_inside
                        and matches_option(stmt.name, functions)
                        and not is_fixture(stmt),
                    )
                )
            elif isinstance(stmt, ast.ClassDef):
                self._add_class(stmt, qualname + ".", out)
            else:
                loose.append(stmt)
        roots.extend(loose)

    @cached_property
    def imports(self) -> dict[str, str]:
        """Module-level imports: local name -> what it names (`skip` -> `unittest.skip`).

        Relative imports are made absolute from the file's folder (`from . import mock`
        in `tests/unit/x.py` gives `tests.unit.mock`).
        """
        found: dict[str, str] = {}
        package = self.rel.split("/")[:-1]
        for stmt in self.module.statements:
            if isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    if alias.asname:
                        found[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        found[top] = top
            elif isinstance(stmt, ast.ImportFrom):
                parts = [stmt.module] if stmt.module else []
                if stmt.level:
                    parts = [*package[: max(len(package) - stmt.level + 1, 0)], *parts]
                module = ".".join(parts)
                for alias in stmt.names:
                    local = alias.asname or alias.name
                    found[local] = f"{module}.{alias.name}" if module else alias.name
        return found

    def qualify(self, names: Iterable[str], *, method: bool = False) -> tuple[str, ...]:
        """Called names (see `callee_ref`) as the project pass follows them, sorted.

        A name whose head was imported becomes the dotted name it was imported as:
        `check_reply` after `from tests.helpers import check_reply` is
        `tests.helpers.check_reply`, `checks.verify` after `from tests import checks`
        is `tests.checks.verify`, and `Checker().verify` after `from tests.helpers
        import Checker` is `tests.helpers.Checker.verify`; the project pass follows
        such a name to that function or method rather than to any of that name. An
        attribute of anything else (a local object) is its last part, and dropped when
        that is a built-in container's method (`items.append`). This module's own
        functions and classes are qualified the same way. In a method (`method`),
        `self.check()` stays `self.check`: the project pass looks it up in the class
        of the object the method runs on and its bases; elsewhere it is `check`. So does
        `self.checker.verify()`: through the class of the attribute, when the receiver's
        class knows it (see `ClassFact.attributes`), else by name.
        """
        imports = self.imports
        local = self.local_names
        out: set[str] = set()
        for name in names:
            head, dot, rest = name.partition(".")
            if head == "self" and dot and rest.count(".") <= 1:
                if method:  # `self.check`, `self.checker.verify`: through the receiver's class
                    out.add(name)
                elif (attr := rest.rpartition(".")[2]) not in BUILTIN_METHODS or "." not in rest:
                    out.add(attr)
                continue
            origin = imports.get(head) or local.get(head)
            if origin is not None and (dot or "." in origin):
                out.add(origin + dot + rest)
            elif not dot:
                out.add(name)
            elif (attr := rest.rpartition(".")[2]) not in BUILTIN_METHODS:
                out.add(attr)
        # Interned: the same few thousand names recur across a suite, and the cache's pickle
        # then stores each once (it shares objects, not equal strings).
        return tuple(sorted(map(sys.intern, out)))

    def bound_calls(self, calls: Iterable[ast.AST], *, method: bool = False) -> set[str]:
        """The functions a definition hands to the helpers it calls, as followed when the
        helper calls that parameter: `run_case(data, check=assert_valid)` gives
        `tests.cases.run_case#check=tests.checks.assert_valid` (the helper and the function
        qualified as `qualify` does), `retry(assert_ready)` gives `retry#0=assert_ready`.
        Only functions named through the imports, of this module, or methods on `self`
        count: a local variable or a parameter could hold anything."""
        known = self._module_names
        found: set[str] = set()
        for call in calls:
            if not isinstance(call, ast.Call) or not (call.args or call.keywords):
                continue
            bound = []
            for slot, arg in argument_slots(call):
                # A function's name, not a class's (`Column(Integer)`, `select(User)`).
                kind = type(arg)
                if kind is ast.Name:
                    name = arg.id  # type: ignore[attr-defined]
                    if name in known and not name[0].isupper():
                        bound.append((slot, name))
                elif kind is ast.Attribute and (name := dotted_name(arg)) is not None:
                    head, _, rest = name.partition(".")
                    if (head in known or (head == "self" and "." not in rest)) and not (
                        name.rpartition(".")[2][:1].isupper()
                    ):
                        bound.append((slot, name))
            if not bound:
                continue
            callee = callee_ref(call)
            helper = self._qualify_one(callee, method) if callee else None
            if helper is None:
                continue
            for slot, name in bound:
                function = self._qualify_one(name, method)
                if function is not None:
                    found.add(sys.intern(BoundCall(helper, slot, function).format()))
        return found

    def _qualify_one(self, name: str, method: bool) -> str | None:
        """`qualify` of one name (None when it is dropped), memoised for the file."""
        key = (name, method)
        memo = self._qualified_memo
        if key not in memo:
            qualified = self.qualify([name], method=method)
            memo[key] = qualified[0] if qualified else None
        return memo[key]

    @cached_property
    def _qualified_memo(self) -> dict[tuple[str, bool], str | None]:
        return {}

    @cached_property
    def _module_names(self) -> frozenset[str]:
        """Names bound at module level to an import, a function or a class."""
        return frozenset(self.imports.keys() | self.local_names.keys())

    def called_parameters(self, definition: Definition, names: Iterable[str]) -> set[str]:
        """`#slot` markers for the parameters a function calls among `names` (see
        `parameter_slots`): a call site's `helper#slot=function` is followed to that
        function when the helper has the marker."""
        node = definition.function
        slots = parameter_slots(node, method=definition.kind == "method")
        return {BoundCall.marker(slot) for name in names for slot in slots.get(name, ())}

    @cached_property
    def local_names(self) -> dict[str, str]:
        """This module's top-level functions and classes as their dotted names
        (`tests.unit.test_x.helper`), so a call to one follows this module's definition."""
        modules = module_names(self.rel)
        if not modules:
            return {}
        return {
            d.name: f"{modules[-1]}.{d.name}"
            for d in self.definitions
            if d.kind in ("function", "class") and d.qualname == d.name
        }

    def qualified(self, node: ast.AST) -> str | None:
        """The dotted name of an expression with its first part resolved through the imports.

        `mark.skip` after `from pytest import mark` is `pytest.mark.skip`; a name that
        was not imported stays as written (a local or builtin name).
        """
        name = dotted_name(node)
        if name is None:
            return None
        head, dot, rest = name.partition(".")
        origin = self.imports.get(head)
        return name if origin is None else origin + dot + rest

    def class_facts(self) -> list[ClassFact]:
        """Every class with its bases and test methods, for counting inherited tests."""
        facts = []
        parametrizers = bool(self.config.class_parametrizers)
        for definition in self.definitions:
            node = definition.node
            if definition.kind != "class" or not isinstance(node, ast.ClassDef):
                continue
            unittest_class = _is_unittest_class(node)
            functions = ("test",) if unittest_class else self.config.python_functions
            tests = tuple(
                stmt.name
                for stmt in node.body
                if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef)
                and matches_option(stmt.name, functions)
                and not is_fixture(stmt)
            )
            has_init = any(
                isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__" for stmt in node.body
            )
            candidate = definition.qualname == node.name and not has_init
            collectable = candidate and _is_test_class(node, self.config.python_classes)
            collected = self.role.is_test_file and collectable
            local = self.local_names
            bases = tuple(local.get(name, name) for b in node.bases if (name := self.qualified(b)))
            copies = self._copies(node) if parametrizers else 1
            candidate = candidate and not node.name.startswith("_")
            attributes = self._attribute_classes(node)
            facts.append(
                ClassFact(
                    node.name, bases, tests, collected, collectable, copies, candidate, attributes
                )
            )
        return facts

    def _class_of(self, call: ast.Call) -> str:
        """The dotted name a constructor call calls ("" when it names none: `Checker()()`,
        `make()[0]`); a factory function's name too, which names no scanned class."""
        node = call.func
        if not isinstance(node, ast.Name | ast.Attribute):
            return ""
        name = self.qualified(node)
        if name is None:
            return ""
        return self.local_names.get(name, name)

    @cached_property
    def _methods(self) -> dict[int, Definition]:
        """Each method's definition by the id of its node (their statements are shared)."""
        return {id(d.node): d for d in self.definitions if d.kind == "method"}

    def _attribute_classes(self, node: ast.ClassDef) -> tuple[tuple[str, str], ...]:
        """(attribute, class) for the attributes of the class's instances whose class is
        known (see `ClassFact.attributes`); an attribute given anything else is ("attr", "").
        An annotation is not enough: it bounds the class (a base, a Protocol), and the
        method that runs is that of the class the object was built from."""
        assigned: dict[str, set[str]] = {}

        def note(target: ast.expr, value: ast.expr, in_body: bool) -> None:
            if isinstance(target, ast.Tuple | ast.List | ast.Starred):  # `self.a, self.b = ...`
                parts = target.elts if not isinstance(target, ast.Starred) else [target.value]
                for part in parts:
                    note(part, _UNKNOWN, in_body)
                return
            name = _instance_attribute(target, in_body)
            if name is not None:
                assigned.setdefault(name, set()).add(
                    self._class_of(value) if isinstance(value, ast.Call) else ""
                )

        def assignments(statement: ast.stmt, in_body: bool) -> None:
            if isinstance(statement, ast.Assign):
                for target in statement.targets:
                    note(target, statement.value, in_body)
            elif isinstance(statement, ast.AnnAssign):
                if statement.value is not None:
                    note(statement.target, statement.value, in_body)
            elif not in_body and isinstance(statement, ast.AugAssign | ast.For | ast.AsyncFor):
                note(statement.target, _UNKNOWN, in_body)
            elif not in_body and isinstance(statement, ast.With | ast.AsyncWith):
                for item in statement.items:
                    if item.optional_vars is not None:
                        note(item.optional_vars, _UNKNOWN, in_body)

        methods = self._methods
        for stmt in node.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                method = methods.get(id(stmt))
                for inner in method.statements if method else flatten_statements(stmt.body):
                    if type(inner) in _BINDING_STATEMENTS:
                        assignments(inner, False)
            else:
                assignments(stmt, True)
        return tuple(
            (name, next(iter(classes)) if len(classes) == 1 else "")
            for name, classes in sorted(assigned.items())
        )

    def _copies(self, node: ast.ClassDef) -> int:
        """How many copies of the class the configured class parametrizers make (a product)."""
        wanted = self.config.class_parametrizers
        copies = 1
        for decorator in node.decorator_list:
            if not isinstance(decorator, ast.Call):
                continue
            func = decorator.func
            named = dotted_name(func) in wanted or self.qualified(func) in wanted
            args = decorator.args
            if named and args and not any(isinstance(a, ast.Starred) for a in args):
                copies *= len(args)
        return copies

    def imported_modules(self) -> tuple[str, ...]:
        """The modules the module-level imports may name: `import a.b` gives `a.b`, `from
        a.b import c` gives `a.b` and `a.b.c` (which may be a module), relative imports made
        absolute; for indexing the project's own modules the tests import."""
        found: set[str] = set()
        package = self.rel.split("/")[:-1]
        for stmt in self.module.statements:
            if isinstance(stmt, ast.Import):
                found.update(alias.name for alias in stmt.names)
            elif isinstance(stmt, ast.ImportFrom):
                parts = [stmt.module] if stmt.module else []
                if stmt.level:
                    parts = [*package[: max(len(package) - stmt.level + 1, 0)], *parts]
                module = ".".join(parts)
                if module:
                    found.add(module)
                found.update(
                    f"{module}.{a.name}" if module else a.name for a in stmt.names if a.name != "*"
                )
        return tuple(sorted(found))

    def class_imports(self) -> tuple[tuple[str, str], ...]:
        """`(module, name)` for each module-level `from module import name` that may bring a
        test class into this module's namespace: star imports (name "*"), and names pytest
        would collect as classes (`from tests.base import TestShared`)."""
        found: list[tuple[str, str]] = []
        package = self.rel.split("/")[:-1]
        classes = self.config.python_classes
        for stmt in self.module.statements:
            if not isinstance(stmt, ast.ImportFrom):
                continue
            parts = [stmt.module] if stmt.module else []
            if stmt.level:
                parts = [*package[: max(len(package) - stmt.level + 1, 0)], *parts]
            module = ".".join(parts)
            for alias in stmt.names:
                local = alias.asname or alias.name
                # A private alias (`import X as _X`) is how suites keep a class uncollected.
                if alias.name == "*" or (
                    not local.startswith("_") and matches_option(local, classes)
                ):
                    found.append((module, alias.name))
        return tuple(found)

    def exports(self) -> tuple[str, ...] | None:
        """The module's `__all__` when it is a literal list or tuple of strings."""
        for stmt in self.module.statements:
            if (
                isinstance(stmt, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__all__" for t in stmt.targets)
                and isinstance(stmt.value, ast.List | ast.Tuple)
            ):
                names = [e.value for e in stmt.value.elts if isinstance(e, ast.Constant)]
                return tuple(n for n in names if isinstance(n, str))
        return None

    @property
    def module(self) -> Definition:
        """The module-level owner (imports, top-level statements)."""
        return self.definitions[0]

    @cached_property
    def tests(self) -> list[Definition]:
        """The test functions and test methods pytest would collect from this file."""
        return [d for d in self.definitions if d.is_test]

    def functions(self) -> Iterator[Definition]:
        """Every function and method."""
        return (d for d in self.definitions if d.kind in ("function", "method"))

    def owned(self, node_type: type[ast.AST]) -> Iterator[tuple[Definition, ast.AST]]:
        """Every indexed node of a type in the file, with its owner (walks every expression)."""
        for definition in self.definitions:
            for node in definition.buckets[node_type]:
                yield definition, node

    def owned_statements(
        self, *node_types: type[ast.stmt]
    ) -> Iterator[tuple[Definition, ast.stmt]]:
        """Statements of the given types anywhere in the file, with their owner (cheap)."""
        for definition in self.definitions:
            for stmt in definition.statements:
                if isinstance(stmt, node_types):
                    yield definition, stmt

    def line_text(self, line: int | None) -> str:
        """The stripped source of a line ('' if out of range)."""
        if line is None or not 0 < line <= len(self.lines):
            return ""
        return self.lines[line - 1].strip()

    def finding(
        self,
        rule: Rule,
        line: int | None,
        message: str,
        *,
        owner: Definition | None = None,
        anchor: str | None = None,
        span: tuple[int, int] | None = None,
    ) -> Finding:
        """A finding in this file, anchored to its owner and source text (not its line)."""
        if anchor is None:
            qualname = owner.qualname if owner is not None else "<module>"
            anchor = f"{qualname}|{self.line_text(line)}"
        return Finding(
            rule_id=rule.id,
            path=self.rel,
            line=line,
            message=message,
            anchor=anchor,
            span_start=span[0] if span else None,
            span_end=span[1] if span else None,
        )

    def test_finding(self, rule: Rule, test: Definition, message: str) -> Finding:
        """A finding about a whole test: on its `def` line, suppressible on its signature."""
        return self.finding(rule, test.line, message, anchor=f"{test.qualname}|def", span=test.span)
