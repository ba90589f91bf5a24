"""Classes across the project: bases, method resolution, and the classes pytest collects.

Built from every file's ClassFacts once per run (memoised on the Project). Counting
tests and following `self.helper()` both need the same two answers: which class a
base named in a file is, and which classes pytest collects (with their copies).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cached_property

from netra_check.context import module_names
from netra_check.model import ClassFact, FileResult

Located = tuple[str, ClassFact]  # (path of the defining file, the class)


class ClassIndex:
    """Every scanned class, found by name, by dotted name, and through its bases."""

    def __init__(
        self,
        results: dict[str, FileResult],
        wanted_bases: tuple[str, ...],
        need: Callable[[str], None] | None = None,
    ) -> None:
        """`need(dotted)` indexes the modules a dotted name may be defined in, adding them
        to `results` (see `Project.need`); it is asked before each lookup by module."""
        self._results = results
        self._need = need or (lambda dotted: None)
        self.by_name: dict[str, list[Located]] = {}
        self.by_key: dict[str, Located] = {}
        self.modules: dict[str, str] = {}
        self._key: dict[int, str] = {}
        for path in sorted(self._results):
            self.add(path)
        self.wanted_bases = frozenset(wanted_bases)
        self._mro: dict[int, list[Located]] = {}
        self._resolved: dict[str, Located | None] = {}
        self._guessed: set[int] = set()

    def add(self, path: str) -> None:
        """Index the classes of a file of `results` (also one added after the index was
        built). A file with a role of its own (not only imported) registers its classes by
        name, which the bases found so far may have been looked up by: those answers are
        dropped."""
        names = module_names(path)
        for module in names:
            self.modules.setdefault(module, path)
        result = self._results[path]
        for fact in result.classes:
            if not result.imported:  # a production class is found by its dotted name only
                self.by_name.setdefault(fact.name, []).append((path, fact))
            for module in names:
                self.by_key.setdefault(f"{module}.{fact.name}", (path, fact))
            if names:
                self._key[id(fact)] = f"{names[-1]}.{fact.name}"
        if result.classes and not result.imported and hasattr(self, "_mro"):
            self._mro.clear()
            self._resolved.clear()
            self._guessed.clear()
            self.__dict__.pop("_wanted_classes", None)
            self.__dict__.pop("_collected_below", None)

    def key(self, fact: ClassFact) -> str | None:
        """The dotted name methods of the class are registered under (`tests.test_x.TestA`)."""
        return self._key.get(id(fact))

    def base_of(self, base: str, path: str, fact: ClassFact) -> Located | None:
        """The class a base names: `tests.bases.Checks` is that module's class when it is
        scanned; otherwise the last part by name, in the same file first (never the class
        itself)."""
        exact = self.resolve(base)
        if exact is not None:
            return exact
        name = base.rpartition(".")[2]
        found = self.by_name.get(name, [])
        others = [(p, f) for p, f in found if f is not fact]
        here = next(((p, f) for p, f in others if p == path), None)
        if here is None and len(others) > 1:
            self._guessed.add(id(fact))  # one of several classes of that name elsewhere
        return here or (others[0] if others else None)

    def guessed(self, path: str, fact: ClassFact) -> bool:
        """Whether the class's method resolution order rests on a base picked by name among
        several scanned classes of that name (none in its own file or the module named)."""
        return any(id(current) in self._guessed for _, current in self.mro(path, fact))

    def resolve(self, dotted: str) -> Located | None:
        """The class a dotted name (`pkg.fixtures.TestBase`) names: defined in that scanned
        module, or re-exported by it (`from .base import TestBase` in `pkg/fixtures/__init__.py`),
        followed through the modules that re-export it."""
        if dotted in self._resolved:
            return self._resolved[dotted]
        self._need(dotted)
        module, _, name = dotted.rpartition(".")
        path = self.modules.get(module)
        found: Located | None = None
        seen: set[str] = set()
        while path is not None and path not in seen and found is None:
            seen.add(path)
            result = self._results[path]
            found = next(((path, f) for f in result.classes if f.name == name), None)
            path = next(
                (self._module(m, name) for m, imported in result.class_imports if imported == name),
                None,
            )
        self._resolved[dotted] = found
        return found

    def _module(self, module: str, name: str) -> str | None:
        """The path of a module `from module import name` names, indexed if need be."""
        self._need(f"{module}.{name}")
        return self.modules.get(module)

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
        classes = self._wanted_classes
        for _, current in self.mro(path, fact):
            if current is not fact and id(current) in classes:
                return True
            for base in current.bases:
                if base in wanted or base.rpartition(".")[2] in wanted:
                    return True
        return False

    @cached_property
    def _wanted_classes(self) -> frozenset[int]:
        """The scanned classes `extra_python_bases` name, through re-exports."""
        return frozenset(id(found[1]) for w in self.wanted_bases if (found := self.resolve(w)))

    def collected(self) -> Iterator[Located]:
        """Every class pytest collects, once per test module that collects it: those a test
        module defines, those derived from `extra_python_bases`, and the test classes a test
        module's imports put in its namespace (`from pkg.suite import *`)."""
        for path in sorted(self._results):
            result = self._results[path]
            if not result.test_file:
                continue
            own: set[str] = set()
            for fact in result.classes:
                if self._collectable(path, fact):
                    own.add(fact.name)
                    if fact.collected or not fact.collectable:
                        yield path, fact
            if result.class_imports:
                for name, located in self.imported(path).items():
                    if name not in own:
                        yield located

    def _collectable(self, path: str, fact: ClassFact) -> bool:
        """Whether pytest collects the class from a test module whose namespace holds it: by
        its name (`python_classes`), or as a subclass of one of `extra_python_bases`."""
        return fact.collectable or (
            bool(self.wanted_bases) and fact.candidate and self.derives(path, fact)
        )

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
                if (
                    fact.name == wanted or (wanted == "*" and not fact.name.startswith("_"))
                ) and self._collectable(module_path, fact):
                    found.setdefault(fact.name, (module_path, fact))
            for module, name in result.class_imports:
                target = self._module(module, name)
                if target is None or target in stack:
                    continue
                if name == "*":
                    visit(target, wanted, (*stack, target))
                elif wanted in ("*", name):
                    visit(target, name, (*stack, target))

        for module, name in self._results[path].class_imports:
            target = self._module(module, name)
            if target is not None and target != path:
                visit(target, name, (path, target))
        return found

    def runners(self, owner: str, test: str) -> frozenset[str]:
        """The collected classes that run the test `test` of the class `owner` (dotted names):
        the class itself when collected, and those that inherit it (the first class in their
        method resolution order defining the name is `owner`)."""
        located = self.by_key.get(owner)
        if located is None:
            return frozenset()
        collected, below = self._collected_below
        fact = located[1]
        found = {owner} if id(fact) in collected and test in fact.tests else set()
        for path, sub in below.get(id(fact), ()):
            for _, current in self.mro(path, sub):
                if test in current.tests:
                    if current is fact and (key := self.key(sub)) is not None:
                        found.add(key)
                    break
        return frozenset(found)

    @cached_property
    def _collected_below(self) -> tuple[set[int], dict[int, list[Located]]]:
        """The collected classes (by id), and for each class the collected classes that have
        it among their bases (transitively)."""
        collected: set[int] = set()
        below: dict[int, list[Located]] = {}
        for path, fact in self.collected():
            if id(fact) in collected:
                continue
            collected.add(id(fact))
            for _, base in self.mro(path, fact)[1:]:
                below.setdefault(id(base), []).append((path, fact))
        return collected, below

    def count(self, path: str, fact: ClassFact) -> int:
        """The tests a collected class runs: its own and those it inherits, times its copies."""
        names: set[str] = set()
        for _, current in self.mro(path, fact):
            names.update(current.tests)
        return len(names) * fact.copies


def run_by(runs: set[str] | frozenset[str], key: str) -> str:
    """` (run by TestSub and 2 more)` for a test that runs only in classes other than its own
    (`key`), for a finding reported at the test's definition."""
    if key in runs or not runs:
        return ""
    first = min(runs)
    others = f" and {len(runs) - 1} more" if len(runs) > 1 else ""
    return f" (run by {first.rpartition('.')[2]}{others})"
