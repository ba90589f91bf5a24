"""Classes across the project: bases, method resolution, and the classes pytest collects.

Built from every file's ClassFacts once per run (memoised on the Project). Counting
tests and following `self.helper()` both need the same two answers: which class a
base named in a file is, and which classes pytest collects (with their copies).
"""

from __future__ import annotations

from collections.abc import Iterator

from netra_check.context import module_names
from netra_check.model import ClassFact, FileResult

Located = tuple[str, ClassFact]  # (path of the defining file, the class)


class ClassIndex:
    """Every scanned class, found by name, by dotted name, and through its bases."""

    def __init__(self, results: dict[str, FileResult], wanted_bases: tuple[str, ...]) -> None:
        self._results = results
        self.by_name: dict[str, list[Located]] = {}
        self.by_key: dict[str, Located] = {}
        self.modules: dict[str, str] = {}
        self._key: dict[int, str] = {}
        for path in sorted(self._results):
            names = module_names(path)
            for module in names:
                self.modules.setdefault(module, path)
            for fact in self._results[path].classes:
                self.by_name.setdefault(fact.name, []).append((path, fact))
                for module in names:
                    self.by_key.setdefault(f"{module}.{fact.name}", (path, fact))
                if names:
                    self._key[id(fact)] = f"{names[-1]}.{fact.name}"
        self.wanted_bases = frozenset(wanted_bases)
        self._mro: dict[int, list[Located]] = {}

    def key(self, fact: ClassFact) -> str | None:
        """The dotted name methods of the class are registered under (`tests.test_x.TestA`)."""
        return self._key.get(id(fact))

    def base_of(self, base: str, path: str, fact: ClassFact) -> Located | None:
        """The class a base names: `tests.bases.Checks` is that module's class when it is
        scanned; otherwise the last part by name, in the same file first (never the class
        itself)."""
        module, _, name = base.rpartition(".")
        found = self.by_name.get(name, [])
        origin = self.modules.get(module)
        if origin is not None:
            exact = next(((p, f) for p, f in found if p == origin), None)
            if exact is not None:
                return exact
        others = [(p, f) for p, f in found if f is not fact]
        return next(((p, f) for p, f in others if p == path), others[0] if others else None)

    def mro(self, path: str, fact: ClassFact) -> list[Located]:
        """The class and its scanned bases in method resolution order (depth first, left to
        right, each class at its last occurrence: C3's order for the usual diamonds)."""
        known = self._mro.get(id(fact))
        if known is not None:
            return known
        self._mro[id(fact)] = [(path, fact)]  # while in progress: a cycle ends here
        order: list[Located] = [(path, fact)]
        for name in fact.bases:
            base = self.base_of(name, path, fact)
            if base is not None:
                order.extend(self.mro(*base))
        last = {id(f): i for i, (_, f) in enumerate(order)}
        result = [(p, f) for i, (p, f) in enumerate(order) if last[id(f)] == i]
        if result[0][1] is not fact:  # a cycle put the class itself after a base
            result = [(path, fact), *(item for item in result if item[1] is not fact)]
        self._mro[id(fact)] = result
        return result

    def derives(self, path: str, fact: ClassFact) -> bool:
        """Whether the class derives from one of `extra_python_bases` (through scanned bases)."""
        wanted = self.wanted_bases
        for _, current in self.mro(path, fact):
            for base in current.bases:
                if base in wanted or base.rpartition(".")[2] in wanted:
                    return True
        return False

    def collected(self) -> Iterator[Located]:
        """Every class pytest collects, once per test module that collects it: those a test
        module defines, those derived from `extra_python_bases`, and the test classes a test
        module's imports put in its namespace (`from pkg.suite import *`)."""
        wanted = bool(self.wanted_bases)
        for path in sorted(self._results):
            result = self._results[path]
            for fact in result.classes:
                if fact.collected or (
                    wanted and result.test_file and fact.candidate and self.derives(path, fact)
                ):
                    yield path, fact
            if result.test_file and result.class_imports:
                own = {fact.name for fact in result.classes if fact.collectable}
                for name, located in self.imported(path).items():
                    if name not in own:
                        yield located

    def imported(self, path: str) -> dict[str, Located]:
        """The test classes a module's imports put in its namespace: name -> (path, class)."""
        found: dict[str, Located] = {}

        def visit(module_path: str, wanted: str, stack: tuple[str, ...]) -> None:
            """Find `wanted` (a class name, or "*": every public one) in a module's namespace."""
            result = self._results[module_path]
            if wanted == "*" and result.exports is not None:
                for name in result.exports:  # `__all__` is what a star import takes
                    visit(module_path, name, stack)
                return
            for fact in result.classes:
                if fact.collectable and (
                    fact.name == wanted or (wanted == "*" and not fact.name.startswith("_"))
                ):
                    found.setdefault(fact.name, (module_path, fact))
            for module, name in result.class_imports:
                target = self.modules.get(module)
                if target is None or target in stack:
                    continue
                if name == "*":
                    visit(target, wanted, (*stack, target))
                elif wanted in ("*", name):
                    visit(target, name, (*stack, target))

        for module, name in self._results[path].class_imports:
            target = self.modules.get(module)
            if target is not None and target != path:
                visit(target, name, (path, target))
        return found

    def count(self, path: str, fact: ClassFact) -> int:
        """The tests a collected class runs: its own and those it inherits, times its copies."""
        names: set[str] = set()
        for _, current in self.mro(path, fact):
            names.update(current.tests)
        return len(names) * fact.copies
