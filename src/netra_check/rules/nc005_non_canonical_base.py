"""NC005 non-canonical-test-base: a test class that does not derive from the canonical base.

What it does:
    Reports test classes (classes in test modules named `Test*`, or holding
    `test*` methods, or deriving from a `*TestCase`) that do not derive, directly
    or through classes defined in the scanned code, from one of
    `canonical_bases` (default `SSotBaseTestCase`, `SSotAsyncTestCase`). It also
    reports the fragmentation metric: how many distinct root base classes the
    test classes use (`unittest.TestCase`, home-grown bases, none at all...),
    with a target of one. Plain test functions are always fine.

Why is this bad?
    Every home-grown base sets up the environment, the database and the event
    loop its own way. A dozen bases means a dozen subtly different fixtures,
    leaks between tests and fixes that have to be made a dozen times.

Example:
    ```python
    class TestThreads(unittest.IsolatedAsyncioTestCase):
        async def asyncSetUp(self):
            self.db = await connect(os.environ["DATABASE_URL"])
    ```

Use instead:
    ```python
    from netra.testing.base import SSotAsyncTestCase

    class TestThreads(SSotAsyncTestCase):
        async def test_thread_is_listed(self):
            ...
    ```
    or a plain `async def test_...(db)` function with fixtures.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterator
from typing import NamedTuple

from netra_check.astutil import dotted_name
from netra_check.context import Definition, FileContext
from netra_check.model import Finding, Metric, Rule
from netra_check.project import Project

NO_BASE = "(no base class)"


class ClassFact(NamedTuple):
    """A class and the names of its bases, as written."""

    qualname: str
    name: str
    line: int
    span: tuple[int, int]
    bases: tuple[str, ...]
    is_test: bool


def _is_test_class(ctx: FileContext, definition: Definition) -> bool:
    if not ctx.role.is_test_file:
        return False
    node = definition.node
    assert isinstance(node, ast.ClassDef)
    if node.name.startswith("Test"):
        return True
    has_tests = any(
        isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef) and s.name.startswith("test")
        for s in node.body
    )
    return has_tests


def _base_names(node: ast.ClassDef) -> tuple[str, ...]:
    names = []
    for base in node.bases:
        name = dotted_name(base)
        if name is not None and name not in {"object", "Generic", "Protocol"}:
            names.append(name.rsplit(".", 1)[-1])
    return tuple(names)


class NonCanonicalTestBase(Rule):
    """See the module docstring."""

    id = "NC005"
    name = "non-canonical-test-base"
    summary = "test classes not deriving from the canonical base"
    hint = "derive from the canonical base (or use plain test functions with fixtures)"

    def collect(self, ctx: FileContext) -> list[ClassFact] | None:
        """Every class in test code: test classes to judge, others to resolve bases through."""
        if not ctx.role.is_support:
            return None
        facts = []
        for definition in ctx.definitions:
            if definition.kind != "class":
                continue
            node = definition.node
            assert isinstance(node, ast.ClassDef)
            facts.append(
                ClassFact(
                    definition.qualname,
                    node.name,
                    node.lineno,
                    definition.span,
                    _base_names(node),
                    _is_test_class(ctx, definition),
                )
            )
        return facts or None

    def _roots(self, project: Project) -> dict[tuple[str, str], tuple[bool, str]]:
        """For each test class: (derives from a canonical base, its root base name)."""
        cached = project.memo.get(self.id)
        if cached is None:
            cached = project.memo[self.id] = self._resolve_roots(project)
        return cached

    def _resolve_roots(self, project: Project) -> dict[tuple[str, str], tuple[bool, str]]:
        canonical = set(project.config.canonical_bases)
        by_name: dict[str, list[ClassFact]] = {}
        for _, facts in project.facts(self.id):
            for fact in facts:
                by_name.setdefault(fact.name, []).append(fact)

        memo: dict[str, tuple[bool, str]] = {}

        def resolve(name: str, seen: frozenset[str]) -> tuple[bool, str]:
            if name in canonical:
                return True, name
            if name in memo:
                return memo[name]
            definitions = by_name.get(name)
            if not definitions or name in seen:
                return False, name
            results = []
            for definition in definitions:
                if not definition.bases:
                    results.append((False, name))
                for base in definition.bases:
                    results.append(resolve(base, seen | {name}))
            ok = [r for r in results if r[0]]
            answer = ok[0] if ok else (results[0] if results else (False, name))
            memo[name] = answer
            return answer

        roots: dict[tuple[str, str], tuple[bool, str]] = {}
        for path, facts in project.facts(self.id):
            for fact in facts:
                if not fact.is_test:
                    continue
                if not fact.bases:
                    roots[(path, fact.qualname)] = (False, NO_BASE)
                    continue
                resolved = [resolve(base, frozenset({fact.name})) for base in fact.bases]
                good = [r for r in resolved if r[0]]
                roots[(path, fact.qualname)] = good[0] if good else resolved[0]
        return roots

    def check_project(self, project: Project) -> Iterator[Finding]:
        """One finding per test class that never reaches a canonical base."""
        canonical = project.config.canonical_bases
        if not canonical:
            return
        roots = self._roots(project)
        wanted = " / ".join(canonical)
        for path, facts in project.facts(self.id):
            for fact in facts:
                key = (path, fact.qualname)
                if key not in roots or roots[key][0]:
                    continue
                root = roots[key][1]
                described = "has no base class" if root == NO_BASE else f"derives from {root}"
                yield Finding(
                    rule_id=self.id,
                    path=path,
                    line=fact.line,
                    message=f"test class {fact.qualname!r} {described}, not {wanted}",
                    anchor=f"{fact.qualname}|class",
                    span_start=fact.span[0],
                    span_end=fact.span[1],
                )

    def metrics(self, project: Project, findings: list[Finding]) -> list[Metric]:
        """Fragmentation: the number of distinct root bases the test classes use."""
        roots = self._roots(project)
        canonical = set(project.config.canonical_bases)
        counts = Counter(
            "canonical" if ok or root in canonical else root for ok, root in roots.values()
        )
        distinct = len(counts)
        top = ", ".join(f"{name} x{n}" for name, n in counts.most_common(6))
        return [
            Metric(
                key="test_base_classes",
                label="Distinct test base classes",
                value=distinct,
                target=1,
                display=str(distinct),
                target_display="1",
                ok=distinct <= 1,
                detail=top,
            )
        ]
