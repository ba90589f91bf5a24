"""Project: every file's cached result, seen together by the cross-file rules."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from netra_check.astutil import BUILTIN_METHODS, is_assert_name, last_part
from netra_check.config import CheckConfig
from netra_check.context import name_matcher
from netra_check.model import FileResult


@dataclass
class Project:
    """The scanned project: root, configuration and one FileResult per Python file."""

    root: Path
    config: CheckConfig
    results: dict[str, FileResult]
    text_files: dict[str, str] = field(default_factory=dict)
    # Per-run scratch space for rules that compute something twice (findings and metrics).
    memo: dict[str, Any] = field(default_factory=dict)

    def facts(self, rule_id: str) -> Iterator[tuple[str, Any]]:
        """(path, facts) for every file where the rule collected something, in path order."""
        for path in sorted(self.results):
            value = self.results[path].facts.get(rule_id)
            if value is not None:
                yield path, value

    @cached_property
    def defined_names(self) -> frozenset[str]:
        """Names of every helper, fixture and method defined in the scanned support code."""
        return frozenset(h.name for r in self.results.values() for h in r.helpers)

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
            known = (matcher is not None and (matcher(name) or matcher(last_part(name)))) or (
                is_assert_name(name) and name not in self.defined_names
            )
            self._by_name_memo[name] = known
        return known

    @cached_property
    def _by_name_memo(self) -> dict[str, bool]:
        return {}

    @cached_property
    def asserting_names(self) -> frozenset[str]:
        """Names of helpers and fixtures that assert, directly or through other helpers.

        A name imported from a scanned module is that module's function; other names
        are matched by name, and when two helpers share a name and one of them
        asserts, the name counts as asserting (the scanner errs towards silence
        rather than false alarms).
        """
        callers: dict[str, set[str]] = defaultdict(set)
        asserting: set[str] = set()
        by_name = self._asserts_by_name
        resolve = self.resolve
        for result in self.results.values():
            for helper in result.helpers:
                callees = [resolve(c) for c in helper.callees]
                if helper.asserts or any(by_name(c) for c in callees):
                    asserting.add(helper.name)
                else:
                    for callee in callees:
                        callers[callee].add(helper.name)
        queue = list(asserting)
        while queue:
            name = queue.pop()
            for caller in callers.pop(name, ()):
                if caller not in asserting:
                    asserting.add(caller)
                    queue.append(caller)
        return frozenset(asserting)

    def resolve(self, name: str) -> str:
        """A qualified name (`tests.helpers.check`, `tests.helpers.Checker.verify`) as the
        helper it names if the repository defines it, else by its last part (a library's,
        or one not scanned), except a built-in container's method name (`os.path.join`,
        `fixture_session().pop`): that is left qualified, so it matches no helper."""
        if "." not in name or name in self.defined_names:
            return name
        last = last_part(name)
        return name if last in BUILTIN_METHODS else last

    def reaches_assertion(self, names: Iterable[str]) -> bool:
        """Whether calling any of `names` runs an assertion."""
        asserting = self.asserting_names
        resolve = self.resolve
        return any((n := resolve(name)) in asserting or self._asserts_by_name(n) for name in names)
