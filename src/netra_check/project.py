"""Project: every file's cached result, seen together by the cross-file rules."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from netra_check.astutil import BUILTIN_METHODS, is_assert_name, last_part
from netra_check.classes import ClassIndex
from netra_check.config import CheckConfig
from netra_check.context import name_matcher
from netra_check.model import PACKAGE_ONLY, BoundCall, FileResult

# Helper chains longer than this are not followed to the end: counted as asserting.
_MAX_DEPTH = 200


class ModuleLoader(Protocol):
    """Reads the project's own modules into `Project.results` on demand."""

    def load(self, module: str) -> list[str]:
        """Index the module of that dotted name if it is one of the project's and not
        indexed yet; the relative paths added to the results."""

    def is_module(self, name: str) -> bool:
        """Whether a dotted name is one of the project's modules (a file)."""


@dataclass
class Project:
    """The scanned project: root, configuration and one FileResult per Python file."""

    root: Path
    config: CheckConfig
    results: dict[str, FileResult]
    text_files: dict[str, str] = field(default_factory=dict)
    # Per-run scratch space for rules that compute something twice (findings and metrics).
    memo: dict[str, Any] = field(default_factory=dict)
    # Indexes the modules the test code imports as the analysis reaches them (see `need`);
    # None: every module there is to know is in `results` already.
    load: ModuleLoader | None = None

    def facts(self, rule_id: str) -> Iterator[tuple[str, Any]]:
        """(path, facts) for every file where the rule collected something, in path order."""
        for path in sorted(self.results):
            value = self.results[path].facts.get(rule_id)
            if value is not None:
                yield path, value

    @cached_property
    def classes(self) -> ClassIndex:
        """Every scanned class, its bases and the classes pytest collects."""
        return ClassIndex(self.results, self.config.extra_python_bases, self.need)

    def need(self, dotted: str) -> None:
        """Index the project's module that may define what a dotted name names: for
        `pkg.mod.Class`, `pkg.mod` when it is a module the code indexed so far imports
        (else each of `pkg`, `pkg.mod` that is); nothing when the name is a module itself.
        Every lookup of a dotted name among the helpers and classes asks this first, so a
        module is read only when the analysis reaches a name in it, and the lookup finds
        what it would find with every module the tests import indexed."""
        loader = self.load
        if loader is None or "." not in dotted or dotted in self._needed:
            return
        self._needed.add(dotted)
        parts = dotted.lstrip(PACKAGE_ONLY).split(".")
        importable = self._importable
        for end in range(len(parts), 0, -1):
            module = ".".join(parts[:end])
            if loader.is_module(module):
                if end == len(parts):
                    return  # a module is no class or function of another
                if module in importable:
                    self._read(loader, module)
                    return
                break
        module = ""
        for part in parts[:-1]:
            module = f"{module}.{part}" if module else part
            if module in importable:
                self._read(loader, module)

    def _read(self, loader: ModuleLoader, module: str) -> None:
        if module not in self._asked:
            self._asked.add(module)
            for rel in loader.load(module):
                self._add(rel)

    @cached_property
    def _needed(self) -> set[str]:
        return set()

    @cached_property
    def _asked(self) -> set[str]:
        return set()

    @cached_property
    def _importable(self) -> set[str]:
        """The modules the indexed code imports: only those are indexed on demand, as
        Python would have loaded them."""
        return {module for result in self.results.values() for module in result.imports}

    def _add(self, rel: str) -> None:
        """Index a file `load` just put in `results`."""
        result = self.results[rel]
        self._importable.update(result.imports)
        if "_helpers" in self.__dict__:
            for name, asserts, callees in result.helpers:
                self._helpers.setdefault(name, []).append((asserts, callees))
        if "classes" in self.__dict__:
            self.classes.add(rel)
        if not result.imported:
            # A file with a role of its own (support code outside the paths walked) adds
            # bare names too, which answers already given may have looked up.
            for memo in (self._by_name_memo, self._asserting, self._resolved, self._self_memo):
                memo.clear()
            self.__dict__.pop("defined_names", None)

    @cached_property
    def defined_names(self) -> frozenset[str]:
        """Names of every helper, fixture and method defined in the scanned support code."""
        return frozenset(self._helpers)

    @cached_property
    def _helper_matcher(self) -> Callable[[str], bool] | None:
        return name_matcher(self.config.assertion_helpers)

    def _asserts_by_name(self, name: str) -> bool:
        """A configured helper, or an `assert_*` name the repository does not define itself.

        A helper the repository defines is judged by its body, not its name: an
        `assert_ready()` that only logs does not assert. Memoised: a large suite asks
        about the same few names tens of thousands of times.
        """
        known = self._by_name_memo.get(name)
        if known is None:
            matcher = self._helper_matcher
            last = last_part(name)
            known = (matcher is not None and (matcher(name) or matcher(last))) or (
                is_assert_name(last) and not self._defines(name)
            )
            self._by_name_memo[name] = known
        return known

    def _defines(self, name: str) -> bool:
        """Whether some helper is known by `name`, once the modules that may define it
        are indexed: `pkg.mod.Class.method` may be a method of an imported module's class
        (`pkg.mod` or `pkg` defines `Class`), `~pkg.mod.function` a function of
        `pkg.mod`; a plain `pkg.mod.function` is a function of test or support code only
        (an imported module's have the PACKAGE_ONLY prefix), all read before the rules."""
        self.need(name if name[:1] == PACKAGE_ONLY else name.rpartition(".")[0])
        return name in self._helpers

    @cached_property
    def _by_name_memo(self) -> dict[str, bool]:
        return {}

    @cached_property
    def _helpers(self) -> dict[str, list[tuple[bool, tuple[str, ...]]]]:
        """(asserts, callees) of every helper (see HelperFact), by the name it is called by."""
        found: dict[str, list[tuple[bool, tuple[str, ...]]]] = {}
        for result in self.results.values():
            for name, asserts, callees in result.helpers:
                found.setdefault(name, []).append((asserts, callees))
        return found

    @cached_property
    def _asserting(self) -> dict[str, bool]:
        return {}

    def asserts(self, name: str) -> bool:
        """Whether calling the helper `name` (resolved) runs an assertion, directly or through
        the helpers it calls, transitively.

        Decided on demand, for the names tests reach, and memoised. When two helpers share
        a name and one of them asserts, the name counts as asserting (the scanner errs
        towards silence rather than false alarms); so does a chain too long to follow.
        """
        known = self._asserting.get(name)
        if known is not None:
            return known
        visited: list[str] = []
        answer, _ = self._visit(name, set(), visited, 0)
        if not answer:
            # Nothing reachable from `name` asserts, so nothing the search met does either,
            # including the names whose answer leaned on one still being decided.
            self._asserting.update(dict.fromkeys(visited, False))
        self._asserting[name] = answer
        return answer

    def _visit(
        self, name: str, active: set[str], visited: list[str], depth: int
    ) -> tuple[bool, bool]:
        """(asserts, settled): not settled when the answer leaned on a name still being
        decided higher up a cycle, so a False may not be memoised yet."""
        known = self._asserting.get(name)
        if known is not None:
            return known, True
        target, _, receiver = name.partition("@")
        if self._asserts_by_name(target):
            self._asserting[name] = True
            return True, True
        if name in active:
            return False, False
        if depth > _MAX_DEPTH:
            return True, False
        helpers = self._helpers.get(target) if self._defines(target) else None
        if not helpers:
            self._asserting[name] = False
            return False, True
        active.add(name)
        visited.append(name)
        settled = True
        answer = False
        resolve = self.resolve
        if not receiver and "." in target:
            receiver = target.rpartition(".")[0]  # `pkg.mod.Class.method`: its own class
        for asserts, callees in helpers:
            if asserts:
                answer = True
                break
            for callee in callees:
                if BoundCall.is_marker(callee):
                    continue  # this helper calls a parameter: its callers' functions run
                if (bound := BoundCall.parse(callee)) is not None:
                    function = self._bound_target(bound, receiver)
                    if function is None:
                        continue
                    callee = function
                elif callee.startswith("self."):
                    callee = self.resolve_self(callee[5:], receiver)
                else:
                    callee = resolve(callee)
                found, done = self._visit(callee, active, visited, depth + 1)
                if found:
                    answer = True
                    break
                settled = settled and done
            if answer:
                break
        active.discard(name)
        if answer or settled:
            self._asserting[name] = answer
        return answer, answer or settled

    def _follow(self, name: str, receiver: str | None) -> str:
        """A callee as followed from code running on an instance of `receiver` (None or
        "": no known class)."""
        if name.startswith("self."):
            return self.resolve_self(name[5:], receiver) if receiver else self.resolve(name[5:])
        return self.resolve(name)

    def _bound_target(self, call: BoundCall, receiver: str | None) -> str | None:
        """The function a bound call hands its helper, followed, when the helper calls the
        parameter it is passed to (its marker), else None. Among several helpers of one
        name, one that calls it is enough."""
        target = self._follow(call.helper, receiver).partition("@")[0]
        marker = BoundCall.marker(call.slot)
        if not self._defines(target) or not any(
            marker in callees for _, callees in self._helpers[target]
        ):
            return None
        return self._follow(call.function, receiver)

    def resolve(self, name: str) -> str:
        """Memoised `_resolve`."""
        memo = self._resolved
        found = memo.get(name)
        if found is None:
            found = memo[name] = self._resolve(name)
        return found

    @cached_property
    def _resolved(self) -> dict[str, str]:
        return {}

    def _resolve(self, name: str) -> str:
        """A qualified name (`tests.helpers.check`, `tests.helpers.Checker.verify`) as the
        helper it names if the repository defines it (a method also when a scanned base of
        the class defines it), else by its last part (a library's,
        or one not scanned), except a built-in container's method name (`os.path.join`,
        `fixture_session().pop`): that is left qualified, so it matches no helper."""
        if "." not in name or self._defines(name):
            return name
        if name[0] == PACKAGE_ONLY:  # a function of an imported module, else any other name
            name = name[1:]
            if name in self._helpers:
                return name
        owner, _, method = name.rpartition(".")
        if owner in self.classes.by_key:  # `Checker().verify` of a class that inherits it
            found = self.resolve_self(method, owner)
            if found.partition("@")[0] in self._helpers:
                return found
        last = last_part(name)
        return name if last in BUILTIN_METHODS else last

    def resolve_self(self, method: str, receiver: str) -> str:
        """`self.method()` in code running on an instance of the class `receiver` (a dotted
        name such as `tests.test_x.TestA`): the method its class or the first of its scanned
        bases defines (`tests.base.Checks.method@tests.test_x.TestA`: the callees of that
        method resolve `self` against TestA again). A class the scanner does not know (a
        nested class, a module-level function's `self`) falls back to the name alone; a
        method none of the known classes defines is unknown (`tests.test_x.TestA.method`,
        which asserts only if its name says so: `self.assertOutcome()` of a library base).
        A class whose bases include one picked by name among several of that name is not
        trusted either: its methods are followed by name. `attribute.method` is a method of
        an attribute of the instance (see `_resolve_attribute`).
        """
        memo = self._self_memo
        key = (method, receiver)
        found = memo.get(key)
        if found is not None:
            return found
        index = self.classes
        self.need(receiver)
        located = index.by_key.get(receiver)
        attribute, dot, name = method.partition(".")
        if dot:
            found = memo[key] = self._resolve_attribute(attribute, name, receiver)
            return found
        if located is None or index.guessed(*located):
            found = self.resolve(method)  # by name, as before classes were followed
        else:
            found = f"{receiver}.{method}"
            helpers = self._helpers
            for _, fact in index.mro(*located):
                owner = index.key(fact)
                if owner is not None and f"{owner}.{method}" in helpers:
                    found = f"{owner}.{method}"
                    if owner != receiver:
                        found += "@" + receiver
                    break
                if method in fact.tests:  # `self.test_other()`: tests are known by name only
                    found = method
                    break
        memo[key] = found
        return found

    def _resolve_attribute(self, attribute: str, method: str, receiver: str) -> str:
        """`self.attribute.method()` on an instance of `receiver`: the method of the
        attribute's class (see `ClassFact.attributes`), looked up as `self.method()` is on
        that class, when the receiver's class or the first of its bases that mentions the
        attribute knows it, and it is a scanned class; otherwise `method` by name (a
        built-in container's method name matches nothing)."""
        by_name = self.resolve(f"{attribute}.{method}")
        index = self.classes
        located = index.by_key.get(receiver)
        if located is None or index.guessed(*located):
            return by_name
        for _, fact in index.mro(*located):
            for name, dotted in fact.attributes:
                if name != attribute:
                    continue
                target = index.resolve(dotted) if dotted else None
                owner = index.key(target[1]) if target is not None else None
                return by_name if owner is None else self.resolve_self(method, owner)
        return by_name

    @cached_property
    def _self_memo(self) -> dict[tuple[str, str], str]:
        return {}

    def reaches_assertion(self, names: Iterable[str], receiver: str | None = None) -> bool:
        """Whether calling any of `names` runs an assertion; `self.x` names are looked up in
        the class `receiver` (a dotted name), or by their method name when it is None."""
        # The memo lookups inline: a large suite asks this for tens of thousands of names.
        resolved = self._resolved
        known = self._asserting
        for name in names:
            target = resolved.get(name)  # never a `self.` name: those depend on the receiver
            if target is None:
                if "#" in name:
                    bound = BoundCall.parse(name)
                    target = None if bound is None else self._bound_target(bound, receiver)
                    if target is None:
                        continue
                elif name.startswith("self."):
                    target = (
                        self.resolve_self(name[5:], receiver)
                        if receiver is not None
                        else self.resolve(name[5:])
                    )
                else:
                    target = self.resolve(name)
            answer = known.get(target)
            if answer is None:
                answer = self.asserts(target)
            if answer:
                return True
        return False
