"""`unittest.TestCase` subclasses derive from `SSotBaseTestCase` instead.

What it does:
    A module-level class deriving from `unittest.TestCase` (however it was
    imported) derives from `netra.testing.base.SSotBaseTestCase`, and one
    deriving from `unittest.IsolatedAsyncioTestCase` from `SSotAsyncTestCase`.
    The import is added and `unittest` imports that are no longer used are
    removed. The SSot classes keep unittest's hooks (`setUp`, `setUpClass`,
    `asyncSetUp`, cleanups), assertions, `subTest`, `maxDiff`, `longMessage` and
    decorators (`skip`, `skipIf`, `skipUnless`, `expectedFailure`), so the
    test bodies stay as they are. pytest collects a `unittest.TestCase` of any
    name, but a plain class only by its name (`python_classes`, `Test` by
    default): a class named otherwise gets `__test__ = True`, so the same tests
    are collected.

Left alone, and reported:
    A class (or a subclass of it in the same module) that relies on how
    unittest runs a test: it defines `__init__`, `run`, `debug`,
    `defaultTestResult`, `__call__` or unittest's private runners; it uses
    `self.run()`, `self._outcome`, `self.doCleanups()` and the like; it has a
    metaclass or a class decorator other than unittest's, `mock.patch` and
    pytest marks; it defines `env`, `temp_dir` or `metrics`, which the SSot
    base sets on each test; its test is `runTest`; the module makes an instance of it or
    hands it to a test loader, suite or runner; or it is defined inside a
    function or another class (run by that code, not collected).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst
import libcst.matchers as m
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor

from netra_check.context import matches_option
from netra_check.migrate.codemods.base import MigrationCodemod, code, dotted
from netra_check.migrate.model import Refusal

SYNC_BASES = frozenset({"unittest.TestCase", "unittest.case.TestCase"})
ASYNC_BASES = frozenset(
    {"unittest.IsolatedAsyncioTestCase", "unittest.async_case.IsolatedAsyncioTestCase"}
)
CANONICAL_MODULE = "netra.testing.base"
SYNC_CANONICAL = "SSotBaseTestCase"
ASYNC_CANONICAL = "SSotAsyncTestCase"

# Methods whose override means the class takes part in running itself.
RUNNER_METHODS = frozenset(
    {
        "__init__",
        "__new__",
        "__call__",
        "run",
        "debug",
        "defaultTestResult",
        "countTestCases",
        "doCleanups",
        "doClassCleanups",
        "_callSetUp",
        "_callTestMethod",
        "_callTearDown",
        "_callCleanup",
        "_callAsync",
        "_callMaybeAsync",
        "_setupAsyncioRunner",
        "_tearDownAsyncioRunner",
    }
)
# unittest internals a test may touch on self (or cls) that the SSot classes do not have.
RUNNER_ATTRIBUTES = RUNNER_METHODS | frozenset(
    {
        "_outcome",
        "_cleanups",
        "_class_cleanups",
        "_subtest",
        "_type_equality_funcs",
        "_testMethodDoc",
        "_asyncioRunner",
        "_asyncioTestContext",
        "shortDescription",
    }
)
# What the SSot base sets on each test before setUp: a class that defines one of these
# itself (an attribute, a method, a property) would see the base's value instead.
TEST_ATTRIBUTES = ("env", "temp_dir", "metrics")
# Names the SSot classes use for their own machinery.
RESERVED = frozenset(
    {"_request", "_node", "_cleanups", "_asserts", "_async_cleanups", "_ssot_class_cleanups"}
)
SAFE_CLASS_DECORATORS = (
    "unittest.skip",
    "unittest.expectedFailure",
    "skip",
    "skipIf",
    "skipUnless",
    "expectedFailure",
    "pytest.mark.",
    "mark.",
    "mock.patch",
    "unittest.mock.patch",
    "patch",
)
_TESTCASE_NAMES = frozenset(
    {"TestCase", "IsolatedAsyncioTestCase", SYNC_CANONICAL, ASYNC_CANONICAL}
)
SUITE_WORDS = ("suite", "loadtests", "testloader", "addtest", "runner", "run")


@dataclass
class _ClassFacts:
    bases: list[str]
    blockers: list[str] = field(default_factory=list)


def _blockers(node: cst.ClassDef) -> list[str]:
    """Why the class cannot leave unittest's runner, if it cannot."""
    found = []
    defined = _defined_names(node)
    if clashing := [name for name in TEST_ATTRIBUTES if name in defined]:
        found.append(
            f"it defines {', '.join(clashing)}, which the SSot base sets on each test "
            "(self.env, self.temp_dir, self.metrics)"
        )
    for statement in node.body.body:
        if isinstance(statement, cst.FunctionDef) and statement.name.value in RUNNER_METHODS:
            found.append(f"it defines {statement.name.value}(), which unittest's runner calls")
        if isinstance(statement, cst.FunctionDef) and statement.name.value == "runTest":
            found.append("its test is runTest(), which pytest collects from unittest classes only")
    for keyword in node.keywords:
        if keyword.keyword is not None and keyword.keyword.value == "metaclass":
            found.append("it has a metaclass")
    for decorator in node.decorators:
        target = decorator.decorator
        name = dotted(target.func if isinstance(target, cst.Call) else target) or code(target)
        if not name.startswith(SAFE_CLASS_DECORATORS):
            found.append(f"its class decorator @{name} may rely on unittest.TestCase")
    used = set()
    for attribute in m.findall(
        node, m.Attribute(value=m.Name("self") | m.Name("cls"), attr=m.Name())
    ):
        assert isinstance(attribute, cst.Attribute)
        name = attribute.attr.value
        if name in RUNNER_ATTRIBUTES and name not in used:
            used.add(name)
            found.append(f"it uses self.{name}, part of unittest's runner")
        elif name in RESERVED and name not in used:
            used.add(name)
            found.append(f"it uses self.{name}, which the SSot base uses for itself")
    return found


def _defined_names(node: cst.ClassDef) -> set[str]:
    """The names the class body binds: methods, and attributes assigned or annotated."""
    names: set[str] = set()
    for statement in node.body.body:
        if isinstance(statement, cst.FunctionDef | cst.ClassDef):
            names.add(statement.name.value)
        elif isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                targets: list[cst.BaseExpression] = []
                if isinstance(small, cst.Assign):
                    targets = [t.target for t in small.targets]
                elif isinstance(small, cst.AnnAssign):
                    targets = [small.target]
                for target in targets:
                    elements = (
                        [e.value for e in target.elements]
                        if isinstance(target, cst.Tuple | cst.List)
                        else [target]
                    )
                    names.update(e.value for e in elements if isinstance(e, cst.Name))
    return names


class _ClassCollector(cst.CSTVisitor):
    """Module-level classes: their bases (as written) and what stops their migration."""

    def __init__(self) -> None:
        self.classes: dict[str, _ClassFacts] = {}
        self.suite_uses: set[str] = set()
        self._depth = 0

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if self._depth == 0:
            bases = [dotted(arg.value) or "" for arg in node.bases]
            self.classes[node.name.value] = _ClassFacts(bases, _blockers(node))
        self._depth += 1

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._depth -= 1

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._depth += 1

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._depth -= 1

    def visit_Call(self, node: cst.Call) -> None:
        callee = code(node.func)
        if isinstance(node.func, cst.Name):  # TestA("test_x"): made by hand, run by hand
            self.suite_uses.add(node.func.value)
        if any(word in callee.lower() for word in SUITE_WORDS):
            for arg in node.args:
                for name in m.findall(arg.value, m.Name()):
                    assert isinstance(name, cst.Name)
                    self.suite_uses.add(name.value)


class UnittestToSSot(MigrationCodemod):
    """See the module docstring."""

    name = "bases"
    DESCRIPTION = "unittest.TestCase subclasses derive from SSotBaseTestCase"

    def __init__(
        self,
        context: CodemodContext,
        refusals: list[Refusal],
        python_classes: tuple[str, ...] = ("Test",),
    ) -> None:
        super().__init__(context, refusals)
        self.python_classes = python_classes  # pytest's, from the project's configuration
        self._facts = _ClassCollector()
        self._depth = 0
        self._migrated: dict[str, str] = {}  # class name -> the SSot base it now has

    def visit_Module(self, node: cst.Module) -> None:
        node.visit(self._facts)

    def _descendants(self, name: str) -> list[str]:
        """Classes of this module deriving from `name`, directly or not."""
        found: list[str] = []
        todo = [name]
        while todo:
            current = todo.pop()
            for other, facts in self._facts.classes.items():
                if other not in found and any(b.rpartition(".")[2] == current for b in facts.bases):
                    found.append(other)
                    todo.append(other)
        return found

    def _reasons(self, name: str) -> list[str]:
        reasons = list(self._facts.classes[name].blockers)
        for child in self._descendants(name):
            reasons += [f"{r} (in subclass {child})" for r in self._facts.classes[child].blockers]
        if name in self._facts.suite_uses:
            reasons.append("it is made or handed to a unittest loader, suite or runner by code")
        return reasons

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._depth += 1

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        self._depth -= 1
        return updated_node

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._depth += 1

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        self._depth -= 1
        replacements: dict[int, str] = {}
        for index, arg in enumerate(original_node.bases):
            names = self.qualified(arg.value)
            if names & SYNC_BASES:
                replacements[index] = SYNC_CANONICAL
            elif names & ASYNC_BASES:
                replacements[index] = ASYNC_CANONICAL
        if not replacements:
            return updated_node
        if self._depth > 0:
            self.refuse(
                original_node,
                f"{original_node.name.value} is defined inside a function or class, so the code "
                "around it runs it, not pytest",
            )
            return updated_node
        reasons = self._reasons(original_node.name.value)
        if reasons:
            self.refuse(original_node, f"{original_node.name.value}: " + "; ".join(reasons))
            return updated_node
        bases = list(updated_node.bases)
        for index, canonical in replacements.items():
            AddImportsVisitor.add_needed_import(self.context, CANONICAL_MODULE, canonical)
            RemoveImportsVisitor.remove_unused_import_by_node(
                self.context, original_node.bases[index].value
            )
            bases[index] = bases[index].with_changes(value=cst.Name(canonical))
        updated_node = updated_node.with_changes(bases=bases)
        self._migrated[original_node.name.value] = next(iter(replacements.values()))
        collected = matches_option(original_node.name.value, self.python_classes)
        if not collected and not _sets_test(original_node):
            updated_node = _with_test_flag(updated_node)
        return updated_node

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        """Test mixins (no base, test methods, not collected by name) whose subclasses here
        all derive from an SSot base now derive from it too, so that they are canonical."""
        body = list(updated_node.body)
        for index, statement in enumerate(body):
            if not isinstance(statement, cst.ClassDef) or statement.bases or statement.keywords:
                continue
            name = statement.name.value
            base = self._mixin_base(name)
            collected = matches_option(name, self.python_classes)
            if base is None or collected or not _has_tests(statement):
                continue
            if self._facts.classes[name].blockers:
                continue
            AddImportsVisitor.add_needed_import(self.context, CANONICAL_MODULE, base)
            body[index] = statement.with_changes(
                bases=[cst.Arg(cst.Name(base))],
                lpar=cst.LeftParen(),
                rpar=cst.RightParen(),
            )
        return updated_node.with_changes(body=body)

    def _mixin_base(self, name: str) -> str | None:
        """The SSot base every subclass of `name` in this module derives from, if one."""
        children = [
            (child, facts)
            for child, facts in self._facts.classes.items()
            if any(b.rpartition(".")[2] == name for b in facts.bases)
        ]
        found = set()
        for child, facts in children:
            direct = {b.rpartition(".")[2] for b in facts.bases} & {SYNC_CANONICAL, ASYNC_CANONICAL}
            if child in self._migrated:
                direct.add(self._migrated[child])
            if len(direct) != 1:
                return None
            # The mixin must come before the base in the subclass's bases, or the method
            # resolution order would put the SSot base before its own subclass.
            names = [b.rpartition(".")[2] for b in facts.bases]
            bases_at = [i for i, b in enumerate(names) if b in _TESTCASE_NAMES]
            if not bases_at or names.index(name) > min(bases_at):
                return None
            found |= direct
        return found.pop() if len(found) == 1 else None


def _has_tests(node: cst.ClassDef) -> bool:
    return any(
        isinstance(s, cst.FunctionDef) and s.name.value.startswith("test") for s in node.body.body
    )


def _sets_test(node: cst.ClassDef) -> bool:
    return bool(m.findall(node.body, m.Assign(targets=[m.AssignTarget(target=m.Name("__test__"))])))


def _with_test_flag(node: cst.ClassDef) -> cst.ClassDef:
    """The class with `__test__ = True` first in its body (after its docstring)."""
    flag = cst.parse_statement(
        "__test__ = True  # collected whatever its name, as unittest.TestCase was\n"
    )
    body = node.body
    if isinstance(body, cst.SimpleStatementSuite):  # `class A(TestCase): pass` on one line
        body = cst.IndentedBlock(body=[cst.SimpleStatementLine(body=body.body)])
    statements = list(body.body)
    at = (
        1
        if statements
        and m.matches(statements[0], m.SimpleStatementLine(body=[m.Expr(value=m.SimpleString())]))
        else 0
    )
    if at:  # a blank line between the docstring and the flag, as formatters keep it
        flag = flag.with_changes(leading_lines=[cst.EmptyLine(indent=False)])
    following = statements[at] if at < len(statements) else None
    if isinstance(following, cst.FunctionDef | cst.ClassDef) and not following.leading_lines:
        statements[at] = following.with_changes(leading_lines=[cst.EmptyLine(indent=False)])
    statements.insert(at, flag)
    return node.with_changes(body=body.with_changes(body=statements))
